#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import EventLoop

/// Opening a `SegmentLog`: what is found on disk and what is done about it.
///
/// 1. The head is read. No head file (a new directory): start at the oldest segment. A head file
///    with no valid slot: the same, reported as `unreadableHead` (consumed records come back).
/// 2. Segments numbered below the head's are leftovers of a deletion a crash interrupted: deleted.
/// 3. Every other segment is scanned record by record, the head's segment from the head's offset,
///    the rest from 0, checking each length against the file size and each CRC-32C. The first bad
///    record ends its segment: the file is truncated there (so appends never land behind garbage),
///    and the damage is reported with the file, the offset and what was cut:
///    - fewer than 16 bytes left: `truncatedHeader` (a write cut short);
///    - a length that runs past the end of the file: `truncatedPayload` (a write cut short, or a
///      damaged length field);
///    - a checksum that does not match: `checksumMismatch`; the records after it in that segment
///      are lost with it, since nothing marks where the next one starts.
///    Valid records before the damage stay, in order, and later segments are read as usual.
/// 4. A head offset beyond its segment's end (`headPastEnd`) or a gap in the numbering after the
///    head (`missingSegments`) is reported; reading goes on with the segments that exist.
/// 5. The head is moved to the first record that survived (or, with none, to the segment the next
///    append will create), then segments without unconsumed records are deleted, and appends
///    continue at the end of the newest segment.
extension SegmentLog {
    struct Recovered {
        var head: HeadFile
        var segments: [Segment]
        var readOffset: Int
        var nextSegmentNumber: UInt64
        var writeFD: Int32
        var oldestAppendedAtMillis: Int64?
        var report: RecoveryReport
    }

    static func recover(directoryFD: Int32, directory: String, policy: FsyncPolicy) throws -> Recovered {
        var head = try HeadFile(directoryFD: directoryFD)
        do {
            return try recover(head: &head, directoryFD: directoryFD, directory: directory, policy: policy)
        } catch {
            Posix.close(head.fd)
            throw error
        }
    }

    private static func recover(
        head: inout HeadFile, directoryFD: Int32, directory: String, policy: FsyncPolicy
    ) throws -> Recovered {
        var report = RecoveryReport()
        let stored: LogPosition?
        switch try head.load() {
        case .missing:
            stored = nil
        case .position(let position):
            stored = position
        case .unreadable:
            stored = nil
            report.corruptions.append(Corruption(file: HeadFile.name, offset: 0, reason: .unreadableHead))
        }

        let numbers = try Posix.listDirectory(directory).compactMap(SegmentName.number).sorted()
        var live: [Segment] = []
        var readOffset = 0
        var oldest: Int64?
        var doomed: [UInt64] = []  // deleted once the head no longer points into them
        var expected = stored?.segment ?? numbers.first ?? 1
        let cursor = ReadCursor()
        for number in numbers {
            if let stored, number < stored.segment {
                doomed.append(number)
                continue
            }
            if number > expected {
                report.corruptions.append(Corruption(file: SegmentName.name(expected), offset: 0, reason: .missingSegments))
            }
            expected = number + 1
            let start = number == stored?.segment ? stored!.offset : 0
            let scan = try scanSegment(number, from: start, directoryFD: directoryFD, policy: policy, cursor: cursor)
            report.segmentsScanned += 1
            if let corruption = scan.corruption { report.corruptions.append(corruption) }
            guard scan.records > 0 else {
                doomed.append(number)
                continue
            }
            if live.isEmpty {
                readOffset = start
                oldest = scan.firstTimestamp
            }
            live.append(Segment(number: number, end: scan.end))
            report.recordsRecovered += scan.records
            report.bytesRecovered += scan.bytes
        }

        let nextNumber = max(stored?.segment ?? 1, (numbers.last ?? 0) + 1)
        let position = live.first.map { LogPosition(segment: $0.number, offset: readOffset) }
            ?? LogPosition(segment: nextNumber, offset: 0)
        if position != stored {
            try head.write(position)
            if policy != .no {
                try Posix.fdatasync(head.fd)
                try Posix.fsync(directoryFD)  // the head file may be new
            }
        }
        for number in doomed {
            try Posix.unlinkat(directoryFD, SegmentName.name(number))
            report.segmentsRemoved += 1
        }
        let writeFD = try live.last.map { try Posix.openat(directoryFD, SegmentName.name($0.number), flags: O_WRONLY) } ?? -1
        return Recovered(
            head: head, segments: live, readOffset: readOffset, nextSegmentNumber: nextNumber,
            writeFD: writeFD, oldestAppendedAtMillis: oldest, report: report
        )
    }

    private struct SegmentScan {
        /// Where the valid records end (the file is cut here when damaged).
        var end: Int
        var records = 0
        var bytes = 0
        var firstTimestamp: Int64?
        var corruption: Corruption?
    }

    /// Checks segment `number` from `start` on and truncates it at the first bad record.
    private static func scanSegment(
        _ number: UInt64, from start: Int, directoryFD: Int32, policy: FsyncPolicy, cursor: ReadCursor
    ) throws -> SegmentScan {
        let name = SegmentName.name(number)
        cursor.attach(try Posix.openat(directoryFD, name, flags: O_RDWR))
        defer { cursor.detach() }
        let size = try Posix.fileSize(cursor.fd)
        var scan = SegmentScan(end: start)
        guard start <= size else {
            scan.corruption = Corruption(file: name, offset: start, reason: .headPastEnd)
            return scan
        }
        let headerSize = RecordFormat.headerSize
        var damage: Corruption.Reason?
        while scan.end < size {
            let at = scan.end
            guard size - at >= headerSize, let header = try cursor.bytes(at: at, count: headerSize, limit: size) else {
                damage = .truncatedHeader
                break
            }
            let length = RecordFormat.length(header.baseAddress!)
            guard size - at - headerSize >= length,
                  let record = try cursor.bytes(at: at, count: headerSize + length, limit: size) else {
                damage = .truncatedPayload
                break
            }
            guard RecordFormat.isIntact(record) else {
                damage = .checksumMismatch
                break
            }
            if scan.records == 0 { scan.firstTimestamp = RecordFormat.timestamp(record.baseAddress!) }
            scan.records += 1
            scan.bytes += length
            scan.end = at + headerSize + length
        }
        if let damage {
            try Posix.ftruncate(cursor.fd, scan.end)
            if policy != .no { try Posix.fdatasync(cursor.fd) }
            scan.corruption = Corruption(file: name, offset: scan.end, reason: damage, discardedBytes: size - scan.end)
        }
        return scan
    }
}
