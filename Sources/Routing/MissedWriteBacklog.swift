/// One cluster's backlog of the writes it could not take (down, or its in-flight queue full): an
/// in-memory, bounded, counted FIFO of request frames, replayed in order when the cluster is back.
///
/// Contract:
/// - Ordering is the caller's to enforce: while `isEmpty` is false, every new write for this cluster
///   must be appended here, not sent, even if the cluster looks able to take it — otherwise it would
///   overtake the writes queued before it. Replay takes frames from the front (`first`, then
///   `popFirst` once the cluster has taken it), and new writes go to the cluster again only once the
///   backlog is empty.
/// - Consume on acknowledgement: `readNext` hands out frames ahead of the front without removing
///   them (`readAhead` counts those handed out), so replay can send several and `popFirst` each once
///   the cluster acknowledged it; `rewindReadAhead` makes the next `readNext` start from the front
///   again (the connection failed: what was not acknowledged goes out again). The same API as
///   `SegmentLog`'s, where a crash between sending and acknowledging keeps the record.
/// - Bounded by `maxEntries` frames and `maxBytes` bytes (the frames' byte counts). `append` refuses a
///   frame that would exceed either bound (so a frame larger than `maxBytes` is always refused): the
///   write is dropped and counted in `dropped`, never silently. A dropped write leaves the cluster
///   diverged; later writes still queue and replay in order.
/// - Counters: `appended` (accepted, ever), `dropped` (refused, ever), `removed` (popped, ever);
///   `count == appended - removed`.
/// - This is the failure path, so frames are plain `[UInt8]`; a durable backlog replaces it later.
public struct MissedWriteBacklog: Sendable {
    public let maxBytes: Int
    public let maxEntries: Int
    /// Bytes of the frames held.
    public private(set) var bytes = 0
    public private(set) var appended: UInt64 = 0
    public private(set) var dropped: UInt64 = 0
    public private(set) var removed: UInt64 = 0
    /// Frames handed out by `readNext()` and not yet removed (always <= count).
    public private(set) var readAhead = 0
    private var frames: [[UInt8]] = []
    /// Index in `frames` of the oldest frame still held; the slots before it are emptied.
    private var head = 0

    public init(maxBytes: Int, maxEntries: Int) {
        precondition(maxBytes >= 0 && maxEntries >= 0, "MissedWriteBacklog: bounds must not be negative")
        self.maxBytes = maxBytes
        self.maxEntries = maxEntries
    }

    /// Frames held.
    public var count: Int { frames.count - head }

    public var isEmpty: Bool { head == frames.count }

    /// The oldest frame, without removing it, whether or not it was read ahead.
    public var first: [UInt8]? { isEmpty ? nil : frames[head] }

    /// Queues `frame` at the back. Returns false, and counts it in `dropped`, when it would exceed
    /// `maxEntries` or `maxBytes`.
    public mutating func append(_ frame: [UInt8]) -> Bool {
        guard count < maxEntries, frame.count <= maxBytes - bytes else {
            dropped += 1
            return false
        }
        frames.append(frame)
        bytes += frame.count
        appended += 1
        return true
    }

    /// The oldest frame not yet read ahead — the frame after the first `readAhead` ones — without
    /// removing anything; nil when every held frame has been read ahead. Increments `readAhead`.
    public mutating func readNext() -> [UInt8]? {
        guard readAhead < count else { return nil }
        readAhead += 1
        return frames[head + readAhead - 1]
    }

    /// Forgets the read-ahead: the next `readNext()` returns the oldest frame again. Removes nothing.
    public mutating func rewindReadAhead() {
        readAhead = 0
    }

    /// Removes and returns the oldest frame, whether or not it was read ahead (one fewer is then read
    /// ahead); nil when empty.
    public mutating func popFirst() -> [UInt8]? {
        guard !isEmpty else { return nil }
        if readAhead > 0 { readAhead -= 1 }
        let frame = frames[head]
        frames[head] = []
        head += 1
        bytes -= frame.count
        removed += 1
        if head == frames.count {
            frames.removeAll(keepingCapacity: true)
            head = 0
        } else if head >= 64 && head * 2 >= frames.count {
            // Moves at most as many slots as were popped since the last compaction: amortised O(1).
            frames.removeFirst(head)
            head = 0
        }
        return frame
    }
}
