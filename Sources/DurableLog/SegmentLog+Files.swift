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
        aheadCursor.detach()
        aheadCursorSegment = nil
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
            if segment.number == aheadCursorSegment {
                aheadCursor.detach()
                aheadCursorSegment = nil
            }
            // A file left behind is below the head, so the next open deletes it: no need to fail the caller.
            try? Posix.unlinkat(directoryFD, SegmentName.name(segment.number))
        }
        segments.removeFirst(n)
        if segments.isEmpty { readOffset = 0 }
        // The head never passes the read-ahead position, so only segments before it go (and with
        // nothing read ahead, the next `readNext` starts from the head anyway).
        aheadIndex = max(0, aheadIndex - n)
    }

    /// Whether each `append` and `popFirst` flushes before returning: `always` without group commit.
    var flushesEachCall: Bool { fsyncPolicy == .always && !groupCommit }

    /// Starts segment `nextSegmentNumber` and appends to it from now on.
    func roll() throws {
        if writeFD >= 0 {
            // `sync` and `syncIfDue` flush only the active segment, so the one being left is flushed
            // now (under group commit too: the owner's next `sync` would miss it).
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
        if flushesEachCall { try Posix.fsync(directoryFD) } else { directoryDirty = true }
    }

    func writeHead(_ position: LogPosition) throws {
        try head.write(position)
        if flushesEachCall { try Posix.fdatasync(head.fd) } else { headDirty = true }
    }

    /// Points `cursor` (the head's or the read-ahead's, with `attached` the segment number it reads)
    /// at `segments[index]`, opening it if the cursor reads another file.
    func attach(_ cursor: ReadCursor, _ attached: inout UInt64?, to index: Int) throws {
        let number = segments[index].number
        guard attached != number else { return }
        cursor.attach(try Posix.openat(directoryFD, SegmentName.name(number), flags: O_RDONLY))
        attached = number
    }

    /// The head record: the first unconsumed one.
    func readRecord() throws -> [UInt8] {
        try readRecord(segment: 0, at: readOffset, cursor: cursor, attached: &cursorSegment)
    }

    /// The payload of the record at `offset` in `segments[index]`, read with `cursor`.
    func readRecord(segment index: Int, at offset: Int, cursor: ReadCursor, attached: inout UInt64?) throws -> [UInt8] {
        try attach(cursor, &attached, to: index)
        let end = segments[index].end
        guard let header = try cursor.bytes(at: offset, count: RecordFormat.headerSize, limit: end) else {
            throw shrunk(segment: index, at: offset)
        }
        let length = RecordFormat.length(header.baseAddress!)
        guard let whole = try cursor.bytes(at: offset, count: RecordFormat.headerSize + length, limit: end) else {
            throw shrunk(segment: index, at: offset)
        }
        return [UInt8](UnsafeRawBufferPointer(rebasing: whole[RecordFormat.headerSize...]))
    }

    func headerTimestamp() throws -> Int64 {
        RecordFormat.timestamp(try headHeader().baseAddress!)
    }

    /// The payload length of the head record.
    func headerLength() throws -> Int {
        RecordFormat.length(try headHeader().baseAddress!)
    }

    /// The head record's header, valid until the head cursor reads again.
    private func headHeader() throws -> UnsafeRawBufferPointer {
        try attach(cursor, &cursorSegment, to: 0)
        guard let header = try cursor.bytes(at: readOffset, count: RecordFormat.headerSize, limit: segments[0].end) else {
            throw shrunk(segment: 0, at: readOffset)
        }
        return header
    }

    func shrunk(segment index: Int, at offset: Int) -> DurableLogError {
        DurableLogError(
            file: SegmentName.name(segments[index].number), offset: offset,
            message: "segment ends before its last record known to this process"
        )
    }
}
