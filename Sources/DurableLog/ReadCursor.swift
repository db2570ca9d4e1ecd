import EventLoop

/// Buffered sequential reads of one open file: asks for bytes at increasing offsets and gets a view
/// of them, with a pread only when the buffer runs out.
///
/// Contract: owns the descriptor it is attached to (closes it on `detach`, on the next `attach` and
/// on deinit). A view returned by `bytes` is valid until the next call on the cursor. The buffer
/// grows to the largest record asked for and stays that size, so reading allocates nothing per
/// record. Not thread-safe: one owner.
final class ReadCursor {
    private(set) var fd: Int32 = -1
    private var storage: UnsafeMutableRawBufferPointer
    /// File offset of `storage[0]`, and how many bytes from there the buffer holds.
    private var bufferOffset = 0
    private var bufferCount = 0

    init(capacity: Int = 64 << 10) {
        storage = .allocate(byteCount: capacity, alignment: 8)
    }

    deinit {
        detach()
        storage.deallocate()
    }

    func attach(_ fd: Int32) {
        detach()
        self.fd = fd
    }

    func detach() {
        if fd >= 0 { Posix.close(fd) }
        fd = -1
        bufferOffset = 0
        bufferCount = 0
    }

    /// The `count` bytes at file offset `offset`, reading ahead up to `limit` (the end of the valid
    /// data); nil when the file ends before `offset + count`.
    func bytes(at offset: Int, count: Int, limit: Int) throws -> UnsafeRawBufferPointer? {
        precondition(fd >= 0, "ReadCursor: not attached")
        if offset >= bufferOffset && offset + count <= bufferOffset + bufferCount {
            return UnsafeRawBufferPointer(rebasing: storage[(offset - bufferOffset) ..< (offset - bufferOffset + count)])
        }
        guard offset + count <= limit else { return nil }
        // Keep what is already read from `offset` on, move it to the front, and read the rest behind it.
        let kept = offset >= bufferOffset && offset < bufferOffset + bufferCount ? bufferOffset + bufferCount - offset : 0
        if count > storage.count {
            let bigger = UnsafeMutableRawBufferPointer.allocate(byteCount: max(count, storage.count * 2), alignment: 8)
            if kept > 0 { bigger.baseAddress!.copyMemory(from: storage.baseAddress! + (offset - bufferOffset), byteCount: kept) }
            storage.deallocate()
            storage = bigger
        } else if kept > 0 && offset > bufferOffset {
            storage.baseAddress!.copyMemory(from: storage.baseAddress! + (offset - bufferOffset), byteCount: kept)
        }
        bufferOffset = offset
        bufferCount = kept
        while bufferCount < count {
            let room = min(storage.count - bufferCount, limit - (bufferOffset + bufferCount))
            let n = try Posix.pread(fd, storage.baseAddress! + bufferCount, room, at: bufferOffset + bufferCount)
            if n == 0 { return nil }
            bufferCount += n
        }
        return UnsafeRawBufferPointer(rebasing: storage[0 ..< count])
    }
}
