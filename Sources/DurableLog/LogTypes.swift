/// When a `SegmentLog` forces its writes to stable storage (the names and meanings of Redis's
/// `appendfsync`).
///
/// - `always`: every `append` and every `popFirst` returns only after fdatasync: nothing acknowledged
///   is lost even on power loss. One flush per call: the slow choice. With `groupCommit` (an option
///   of `SegmentLog.init`) the calls only leave the log dirty and the owner flushes many at once with
///   `sync()` before acknowledging them: the same guarantee for what it acknowledges, fewer flushes.
/// - `everysec`: writes reach the kernel at once (a crash of the process loses nothing); the owner
///   calls `syncIfDue` periodically, which flushes at most once a second, so power loss loses at most
///   about a second. A segment is also flushed when it is rolled, and on `close`.
/// - `no`: the log never flushes by itself (explicit `sync()` still does); the kernel writes back when
///   it likes. Survives a process crash, not a power loss.
///
/// No policy changes what the log holds or returns while the machine stays up.
public enum FsyncPolicy: String, Sendable, CaseIterable {
    case always, everysec, no
}

/// One piece of damage found when a `SegmentLog` was opened.
///
/// `file` is a name inside the log's directory, `offset` the byte where the damage starts (for a
/// record: where its header starts), `discardedBytes` how many bytes from there on were cut off the
/// file (0 when nothing was cut).
public struct Corruption: Sendable, Equatable, CustomStringConvertible {
    public enum Reason: String, Sendable {
        /// Fewer than a header's bytes left at the end of the segment: a write cut short.
        case truncatedHeader
        /// The header's length runs past the end of the segment: a write cut short, or a damaged length.
        case truncatedPayload
        /// The CRC-32C does not match the timestamp and payload: the bytes changed after they were written.
        case checksumMismatch
        /// The `head` file holds no valid position; the log starts again from its oldest segment.
        case unreadableHead
        /// The consumption position lies beyond the end of its segment (its tail was lost).
        case headPastEnd
        /// Segments are missing between the head and the newest one; `file` names the first missing.
        case missingSegments
    }

    public let file: String
    public let offset: Int
    public let reason: Reason
    public let discardedBytes: Int

    public init(file: String, offset: Int, reason: Reason, discardedBytes: Int = 0) {
        self.file = file
        self.offset = offset
        self.reason = reason
        self.discardedBytes = discardedBytes
    }

    public var description: String {
        "\(file) at byte \(offset): \(reason.rawValue)" + (discardedBytes > 0 ? ", \(discardedBytes) bytes discarded" : "")
    }
}

/// What opening a `SegmentLog` found. The log is usable whatever this says; a non-empty
/// `corruptions` means records may have been lost and deserves a log line.
public struct RecoveryReport: Sendable, Equatable {
    /// Segment files read and checked (those at or after the consumption position).
    public var segmentsScanned = 0
    /// Unconsumed records that passed their checksum: what the log holds after opening.
    public var recordsRecovered = 0
    /// Their payload bytes.
    public var bytesRecovered = 0
    /// Segment files deleted because nothing unconsumed was left in them: a deletion a crash
    /// interrupted, or a segment whose every unconsumed record was damaged.
    public var segmentsRemoved = 0
    /// The damage found, in the order of the segments.
    public var corruptions: [Corruption] = []

    public init() {}

    public var isClean: Bool { corruptions.isEmpty }
}

/// A log file that no longer matches what this process knows of it (someone truncated or replaced
/// it while the log was open).
public struct DurableLogError: Error, Sendable, Equatable, CustomStringConvertible {
    public let file: String
    public let offset: Int
    public let message: String

    public var description: String { "\(file) at byte \(offset): \(message)" }
}
