#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import EventLoop

/// An append-only, ordered, bounded FIFO of records kept in segment files under one directory: the
/// durable form of `MissedWriteBacklog` (same `append` / `first` / `popFirst` / `count` / `bytes` /
/// `isEmpty` / `appended` / `dropped` / `removed` meaning), surviving restarts and crashes.
///
/// On disk (see `RecordFormat`, `SegmentName`, `HeadFile`):
/// - records are appended to the newest segment, `<20-digit number>.seg`; a record that would take
///   the segment past `segmentBytes` starts the next number instead (a record larger than
///   `segmentBytes` gets a segment to itself);
/// - the `head` file holds the position of the first unconsumed record and is rewritten on every
///   `popFirst`, so a restart resumes exactly there;
/// - a segment is deleted once every record in it is consumed (the head is moved past it first), and
///   when the log empties all segments go: an empty log is a directory holding only `head`.
///
/// Bounds: `maxBytes` limits the payload bytes held (as `MissedWriteBacklog.maxBytes`); `append`
/// refuses, counts in `dropped`, and writes nothing when a record would exceed it. The disk holds
/// more: 16 header bytes per record, the consumed front of the oldest segment, and the 64-byte head.
///
/// Durability follows `FsyncPolicy`. Under every policy a crash of the process loses nothing that an
/// `append` or `popFirst` returned from; what a power loss keeps is the policy's business.
///
/// Group commit (`groupCommit: true`, meaningful under `always`): `append`, `popFirst` and rolling a
/// segment no longer flush each by itself; they only leave the log dirty (`needsSync`), as under
/// `everysec`, and the owner calls `sync()` once for many of them, before it acknowledges any. A
/// segment being left by a roll is still flushed at the roll, since `sync()` reaches only the active
/// one. What a power loss keeps is then what the last `sync()` covered.
///
/// Consume on acknowledgement: `readNext()` reads ahead of the head without consuming (`readAhead`
/// counts the records it handed out), so a replayer can send several records and `popFirst()` each
/// only once the receiver acknowledged it; a crash in between keeps the record, which is sent again
/// after reopening. `rewindReadAhead()` starts the read-ahead again from the head (after a failed
/// connection). Read-ahead is this process's state only: a reopened log has `readAhead == 0`.
///
/// Opening recovers (see `SegmentLog+Recovery`) and reports what it found in `recovery`.
///
/// Threading: loop-confined, no locks; one owner calls everything. Errors: system-call failures
/// throw `SystemError`; a failed `append` or `popFirst` leaves the log as it was before the call.
/// Use after `close` is a programming error (trap).
public final class SegmentLog {
    public let directory: String
    public let maxBytes: Int
    public let segmentBytes: Int
    public let fsyncPolicy: FsyncPolicy
    /// Under `always`: the owner flushes with `sync()` instead of every call flushing (see above).
    public let groupCommit: Bool
    /// What opening found: segments scanned, records recovered, damage.
    public let recovery: RecoveryReport

    /// Records held.
    public private(set) var count: Int
    /// Payload bytes held.
    public private(set) var bytes: Int
    /// Accepted, refused and popped records since this log was opened; unlike `count` they start at 0.
    public private(set) var appended: UInt64 = 0
    public private(set) var dropped: UInt64 = 0
    public private(set) var removed: UInt64 = 0
    /// Wall-clock milliseconds (`Posix.wallClockMilliseconds`) at which the oldest held record was
    /// appended, from the timestamp in its header; nil when empty.
    public private(set) var oldestAppendedAtMillis: Int64?

    public var isEmpty: Bool { count == 0 }

    /// Records handed out by `readNext()` and not yet consumed (always <= count).
    public private(set) var readAhead = 0

    /// Something written since the last flush: `sync()` would flush it. Stays false under `always`
    /// without group commit, where every call flushes before it returns.
    public var needsSync: Bool { segmentDirty || headDirty || directoryDirty }

    struct Segment {
        let number: UInt64
        /// Bytes of valid records; the segment is read up to here and appended at here.
        var end: Int
    }

    /// Oldest first; reading happens in the first, appending in the last.
    var segments: [Segment]
    /// Offset of the first unconsumed record in `segments[0]`.
    var readOffset: Int
    /// The number the next new segment gets.
    var nextSegmentNumber: UInt64
    /// Open for writing on `segments.last`, or -1 (no segments yet).
    var writeFD: Int32
    /// A failed append may have left bytes past `end`; the next append starts a new segment.
    var mustRoll = false
    let directoryFD: Int32
    var head: HeadFile
    let cursor = ReadCursor()
    var cursorSegment: UInt64?
    /// Reads for `readNext()`: its own cursor, so reading ahead does not throw away the buffer the
    /// head reads from (the two positions are up to a window of records, or segments, apart).
    let aheadCursor = ReadCursor()
    var aheadCursorSegment: UInt64?
    /// When `readAhead > 0`: where the record after the last one read ahead starts, as an index in
    /// `segments` (kept in step by `dropFront`) and an offset that may equal that segment's `end`.
    var aheadIndex = 0
    var aheadOffset = 0
    /// The record `first()` read, handed out again by `popFirst()` without a second read.
    var peeked: [UInt8]?
    var segmentDirty = false
    var headDirty = false
    var directoryDirty = false
    var lastSyncMillis: Int64?
    var closed = false

    /// Opens the log in `directory`, creating the directory (and its parents) if missing, and recovers
    /// what it holds. Throws on I/O errors, and with EWOULDBLOCK when another open log holds the directory.
    /// `groupCommit`: see the type's description; it changes nothing but under `always`.
    public init(
        directory: String, maxBytes: Int, segmentBytes: Int = 8 << 20, fsync: FsyncPolicy, groupCommit: Bool = false
    ) throws {
        precondition(maxBytes >= 0 && segmentBytes > 0, "SegmentLog: bounds must be positive")
        self.directory = directory
        self.maxBytes = maxBytes
        self.segmentBytes = segmentBytes
        self.fsyncPolicy = fsync
        self.groupCommit = groupCommit
        var path = directory.hasPrefix("/") ? "" : "."
        for component in directory.split(separator: "/") {
            path += "/" + component
            try Posix.mkdir(path)
        }
        let directoryFD = try Posix.open(directory, flags: O_RDONLY | O_DIRECTORY)
        let state: Recovered
        do {
            state = try Self.recover(directoryFD: directoryFD, directory: directory, policy: fsync)
        } catch {
            Posix.close(directoryFD)
            throw error
        }
        self.directoryFD = directoryFD
        head = state.head
        segments = state.segments
        readOffset = state.readOffset
        nextSegmentNumber = state.nextSegmentNumber
        writeFD = state.writeFD
        count = state.report.recordsRecovered
        bytes = state.report.bytesRecovered
        oldestAppendedAtMillis = state.oldestAppendedAtMillis
        recovery = state.report
    }

    deinit {
        if !closed { closeDescriptors() }
    }

    /// Appends a copy of `record` at the back. Returns false (counted in `dropped`, nothing written)
    /// when it would take `bytes` past `maxBytes`. Under `always` without group commit, returns after
    /// the record is flushed. A later `readNext()` hands it out after those appended before it.
    public func append(_ record: UnsafeRawBufferPointer) throws -> Bool {
        precondition(!closed, "SegmentLog: used after close")
        guard record.count <= maxBytes - bytes, record.count <= Int(UInt32.max) else {
            dropped += 1
            return false
        }
        if count == 0 && mustRoll && !segments.isEmpty {
            // Only the remains of failed appends are left: start again from an empty directory, moving
            // the head first, so the first unconsumed record is always where the head says.
            try writeHead(LogPosition(segment: nextSegmentNumber, offset: 0))
            dropFront(segments.count)
        }
        let size = RecordFormat.headerSize + record.count
        let activeEnd = segments.last?.end ?? 0
        if writeFD < 0 || mustRoll || (activeEnd > 0 && activeEnd + size > segmentBytes) { try roll() }
        let at = segments[segments.count - 1].end
        let now = Posix.wallClockMilliseconds()
        do {
            try RecordFormat.write(record, appendedAt: now, to: writeFD, at: at)
            if flushesEachCall { try Posix.fdatasync(writeFD) }
        } catch {
            // Nothing half-written may stay in front of later records: cut it off, and since the cut
            // can fail too, write later records to a fresh segment.
            try? Posix.ftruncate(writeFD, at)
            mustRoll = true
            throw error
        }
        segments[segments.count - 1].end = at + size
        if !flushesEachCall { segmentDirty = true }
        if count == 0 { oldestAppendedAtMillis = now }
        count += 1
        bytes += record.count
        appended += 1
        return true
    }

    /// Appends a copy of `record`; see `append(_: UnsafeRawBufferPointer)`.
    public func append(_ record: [UInt8]) throws -> Bool {
        try record.withUnsafeBytes { try append($0) }
    }

    /// Flushes the active segment, the head and the directory, if anything changed since the last
    /// flush (`needsSync`); under any policy. Lets callers group-commit: append several, sync once.
    /// (Segments already rolled were flushed when rolled, except under `no`.)
    public func sync() throws {
        precondition(!closed, "SegmentLog: used after close")
        if directoryDirty {
            try Posix.fsync(directoryFD)
            directoryDirty = false
        }
        if segmentDirty {
            if writeFD >= 0 { try Posix.fdatasync(writeFD) }
            segmentDirty = false
        }
        if headDirty {
            try Posix.fdatasync(head.fd)
            headDirty = false
        }
    }

    /// For `everysec`: call periodically (any clock in milliseconds); flushes when something changed
    /// since the last flush and at least 1000 ms passed since this last flushed. Does nothing under
    /// the other policies.
    public func syncIfDue(nowMillis: Int64) throws {
        guard fsyncPolicy == .everysec, segmentDirty || headDirty || directoryDirty else { return }
        if let last = lastSyncMillis, nowMillis - last < 1000 { return }
        try sync()
        lastSyncMillis = nowMillis
    }

    /// The oldest record, without consuming it, whether or not it was read ahead; nil when empty.
    public func first() throws -> [UInt8]? {
        precondition(!closed, "SegmentLog: used after close")
        guard count > 0 else { return nil }
        if let peeked { return peeked }
        let record = try readRecord()
        peeked = record
        return record
    }

    /// Removes and returns the oldest record, whether or not it was read ahead (one fewer is then read
    /// ahead); nil when empty. The new position is written to the head before anything changes
    /// (flushed under `always` without group commit), and segments it leaves behind are deleted.
    public func popFirst() throws -> [UInt8]? {
        precondition(!closed, "SegmentLog: used after close")
        guard count > 0 else { return nil }
        let record = try peeked ?? readRecord()
        try consumeFirst(length: record.count)
        return record
    }

    /// Removes the oldest record as `popFirst` does, reading only its header: for a caller that has
    /// the payload already (read ahead). Returns the payload's length; nil when empty.
    public func discardFirst() throws -> Int? {
        precondition(!closed, "SegmentLog: used after close")
        guard count > 0 else { return nil }
        let length = try peeked?.count ?? headerLength()
        try consumeFirst(length: length)
        return length
    }

    /// Moves past the head record, whose payload is `length` bytes.
    private func consumeFirst(length: Int) throws {
        var consumed = 0  // front segments this pop finishes
        var next = LogPosition(segment: segments[0].number, offset: readOffset + RecordFormat.headerSize + length)
        while next.offset == segments[consumed].end && consumed + 1 < segments.count {
            consumed += 1
            next = LogPosition(segment: segments[consumed].number, offset: 0)
        }
        let emptied = count == 1
        if emptied { next = LogPosition(segment: nextSegmentNumber, offset: 0) }
        try writeHead(next)

        peeked = nil
        if readAhead > 0 { readAhead -= 1 }
        count -= 1
        bytes -= length
        removed += 1
        dropFront(emptied ? segments.count : consumed)
        readOffset = next.offset
        if emptied {
            oldestAppendedAtMillis = nil
        } else {
            // Keeps the popped record's time if the read fails: older, so the age is overstated rather
            // than hidden, and the next first() or popFirst() reports the error.
            oldestAppendedAtMillis = (try? headerTimestamp()) ?? oldestAppendedAtMillis
        }
    }

    /// The oldest record not yet read ahead — the record after the first `readAhead` ones — without
    /// consuming anything; nil when every held record has been read ahead. Increments `readAhead`.
    /// Throws like `popFirst` when a segment no longer holds what this process wrote (and then
    /// `readAhead` stays as it was).
    public func readNext() throws -> [UInt8]? {
        precondition(!closed, "SegmentLog: used after close")
        guard readAhead < count else { return nil }
        var index = aheadIndex
        var offset = aheadOffset
        if readAhead == 0 {
            index = 0
            offset = readOffset
            if let peeked {
                aheadIndex = index
                aheadOffset = offset + RecordFormat.headerSize + peeked.count
                readAhead = 1
                return peeked
            }
        }
        // The previous record may have ended its segment; empty segments (left by failed appends) are
        // passed over too. A record is known to follow (`readAhead < count`), so a later segment exists.
        while offset == segments[index].end && index + 1 < segments.count {
            index += 1
            offset = 0
        }
        let record = try readRecord(segment: index, at: offset, cursor: aheadCursor, attached: &aheadCursorSegment)
        aheadIndex = index
        aheadOffset = offset + RecordFormat.headerSize + record.count
        readAhead += 1
        return record
    }

    /// Forgets the read-ahead: the next `readNext()` returns the first held record again (after a
    /// connection failure, records sent but not acknowledged are sent again). Consumes nothing.
    public func rewindReadAhead() {
        precondition(!closed, "SegmentLog: used after close")
        readAhead = 0
    }

    /// Flushes (except under `no`, where the kernel is left to it) and closes the files; errors of
    /// that last flush are not reported, so call `sync()` first to see them. Idempotent.
    public func close() {
        guard !closed else { return }
        if fsyncPolicy != .no { try? sync() }
        closeDescriptors()
        closed = true
    }
}
