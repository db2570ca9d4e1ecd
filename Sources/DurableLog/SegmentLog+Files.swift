#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import EventLoop

/// The file handling under `SegmentLog`'s public calls: rolling, deleting, the head, reading.
extension SegmentLog {
    func closeDescriptors() {
        if writeFD >= 0 { Posix.close(writeFD) }
        writeFD = -1
        cursor.detach()
        cursorSegment = nil
        Posix.close(head.fd)
        Posix.close(directoryFD)
    }

    /// Deletes the oldest `n` segments, which the head already points past.
    func dropFront(_ n: Int) {
        for segment in segments.prefix(n) {
            if segment.number == segments[segments.count - 1].number, writeFD >= 0 {
                Posix.close(writeFD)
                writeFD = -1
                segmentDirty = false
            }
            if segment.number == cursorSegment {
                cursor.detach()
                cursorSegment = nil
            }
            // A file left behind is below the head, so the next open deletes it: no need to fail the caller.
            try? Posix.unlinkat(directoryFD, SegmentName.name(segment.number))
        }
        segments.removeFirst(n)
        if segments.isEmpty { readOffset = 0 }
    }

    /// Starts segment `nextSegmentNumber` and appends to it from now on.
    func roll() throws {
        if writeFD >= 0 {
            // `syncIfDue` flushes only the active segment, so the one being left is flushed now.
            if segmentDirty && fsyncPolicy != .no { try Posix.fdatasync(writeFD) }
            Posix.close(writeFD)
            writeFD = -1
            segmentDirty = false
        }
        let number = nextSegmentNumber
        writeFD = try Posix.openat(directoryFD, SegmentName.name(number), flags: O_WRONLY | O_CREAT | O_EXCL)
        nextSegmentNumber += 1
        segments.append(Segment(number: number, end: 0))
        mustRoll = false
        if fsyncPolicy == .always { try Posix.fsync(directoryFD) } else { directoryDirty = true }
    }

    func writeHead(_ position: LogPosition) throws {
        try head.write(position)
        if fsyncPolicy == .always { try Posix.fdatasync(head.fd) } else { headDirty = true }
    }

    /// Points the cursor at `segments[0]`, opening it if the cursor reads another file.
    func attachCursor() throws {
        let number = segments[0].number
        guard cursorSegment != number else { return }
        cursor.attach(try Posix.openat(directoryFD, SegmentName.name(number), flags: O_RDONLY))
        cursorSegment = number
    }

    func readRecord() throws -> [UInt8] {
        try attachCursor()
        let end = segments[0].end
        guard let header = try cursor.bytes(at: readOffset, count: RecordFormat.headerSize, limit: end) else {
            throw shrunk()
        }
        let length = RecordFormat.length(header.baseAddress!)
        guard let whole = try cursor.bytes(at: readOffset, count: RecordFormat.headerSize + length, limit: end) else {
            throw shrunk()
        }
        return [UInt8](UnsafeRawBufferPointer(rebasing: whole[RecordFormat.headerSize...]))
    }

    func headerTimestamp() throws -> Int64 {
        try attachCursor()
        guard let header = try cursor.bytes(at: readOffset, count: RecordFormat.headerSize, limit: segments[0].end) else {
            throw shrunk()
        }
        return RecordFormat.timestamp(header.baseAddress!)
    }

    func shrunk() -> DurableLogError {
        DurableLogError(
            file: SegmentName.name(segments[0].number), offset: readOffset,
            message: "segment ends before its last record known to this process"
        )
    }
}
