import DequeModule
import DurableLog
import EventLoop
import Logging
import Routing

/// One server's backlog on one loop, in memory (`MissedWriteBacklog`) or on disk (`SegmentLog`,
/// with `backlog.dir`): the same ordered, bounded FIFO either way. A disk backlog outlives the
/// process: what it holds at start-up is replayed like any other missed write.
///
/// Delivery consumes on acknowledgement: `nextToSend` reads ahead of the head without consuming,
/// `acknowledge` consumes the oldest sent record once the server answered it, and `rewind` (after a
/// connection failure) makes the unacknowledged records go out again. Records are numbered from 0
/// at opening (`seq`); a record marked with `skip` is consumed in its turn without being sent (its
/// write is repaired instead, see `KeyRepairer`). So a disk backlog loses nothing a `kill -9`
/// interrupts: what was sent and not acknowledged is still there at the next start, where the first
/// `possiblySent` records count as maybe applied.
///
/// A disk backlog also knows which of its records the other clusters certainly got: the router
/// appends an empty marker record (`writeMarker`) once the batch's writes to the servers that took
/// them directly are in the kernel. Records after the last marker found at opening
/// (`unconfirmed`) may be writes that reached no server before the proxy died, so replaying them
/// could make this server hold what no other does: their keys are repaired from another cluster
/// instead. Markers are never sent and never counted as writes.
///
/// Contract: loop-confined. `isEmpty` is a stored property, read for every write. A disk error on
/// `append` refuses the write (the caller counts and logs it as dropped); on reading it is logged
/// and the backlog reads as drained until the next append, so replay never spins on a broken disk.
/// Shared by the routers of successive reloads (see `BacklogStores`); `sender` is the replayer whose
/// records are in flight, so two replayers never send from it at once.
final class BacklogStore {
    private var memory: MissedWriteBacklog?
    private let disk: SegmentLog?
    private let logger: Logger
    private(set) var isEmpty = true
    /// Set when a write did not fit: every later write is refused too until the backlog has drained,
    /// so the server never gets a later write without the earlier ones (it needs a resync anyway).
    private(set) var overflowed = false
    /// Arrival times of the writes held in memory (a disk log keeps its own).
    private var memoryTimes: Deque<Int64> = []
    /// The number of the first held record (records consumed since opening).
    private(set) var headSeq: UInt64 = 0
    /// Numbers of held records not to send (ascending).
    private var skipped: Deque<UInt64> = []
    /// Records held at opening that the previous run may have sent without hearing the answer.
    let possiblySent: UInt64
    /// The records, by number, held at opening and appended after the last marker.
    let unconfirmed: Range<UInt64>
    /// Marker records held.
    private var markers = 0
    /// Writes were appended since the last marker.
    private(set) var markerOwed = false
    /// The server's address, for logs.
    let label: String
    /// Whether the writes it held when opened are in the cluster's `backlogEntries` yet.
    var counted = false
    /// The replayer whose reads ahead are outstanding, if any.
    var sender: AnyObject?
    /// Whether a flush is owed before the batch's replies go out (`fsync: always`, see `commit`).
    var wantsCommit: Bool { disk?.needsSync == true && disk?.fsyncPolicy == .always }

    init(memoryBounds config: BacklogConfig, label: String, logger: Logger) {
        memory = MissedWriteBacklog(maxBytes: config.maxBytes, maxEntries: config.maxEntries)
        disk = nil
        possiblySent = 0
        unconfirmed = 0..<0
        self.label = label
        self.logger = logger
    }

    /// `window`: how many records a replayer keeps in flight (the most a crash can leave unanswered).
    init(disk log: SegmentLog, window: Int, label: String, logger: Logger) {
        memory = nil
        disk = log
        self.label = label
        self.logger = logger
        isEmpty = log.isEmpty
        // One pass over what the log holds (recovery has just read it all anyway) for the markers.
        var seq: UInt64 = 0
        var lastMarker: UInt64? = nil
        var writesSeen = 0
        var windowEnd: UInt64? = nil
        do {
            while let record = try log.readNext() {
                if record.isEmpty {
                    lastMarker = seq
                    markers += 1
                } else {
                    writesSeen += 1
                    if writesSeen == window { windowEnd = seq + 1 }
                }
                seq += 1
            }
        } catch {
            // Not `diskFailed`: the store is not whole yet.
            logger.error("backlog read from disk failed", metadata: ["server": "\(label)", "error": "\(error)"])
        }
        log.rewindReadAhead()
        unconfirmed = (lastMarker.map { $0 + 1 } ?? 0)..<seq
        possiblySent = windowEnd ?? seq
    }

    /// Records held, markers included.
    var count: Int { memory?.count ?? disk!.count }
    /// Writes held.
    var writes: Int { count - markers }
    var bytes: Int { memory?.bytes ?? disk!.bytes }
    /// Records read ahead (sent or skipped) and not yet consumed.
    var readAhead: Int { memory?.readAhead ?? disk!.readAhead }
    /// Records not yet handed to `nextToSend`.
    var unsent: Int { count - readAhead }
    /// Wall-clock milliseconds of the oldest held write's arrival.
    var oldestMillis: Int64? { memory != nil ? memoryTimes.first : disk!.oldestAppendedAtMillis }

    func append(_ frame: [UInt8]) -> Bool {
        guard !overflowed else { return false }
        let accepted: Bool
        if memory != nil {
            accepted = memory!.append(frame)
            if accepted { memoryTimes.append(Posix.wallClockMilliseconds()) }
        } else {
            do {
                accepted = try disk!.append(frame)
            } catch {
                diskFailed("backlog write to disk failed", error)
                accepted = false
            }
        }
        if accepted {
            isEmpty = false
            markerOwed = disk != nil
        } else {
            overflowed = true
        }
        return accepted
    }

    /// Records that every write appended so far has reached the servers that took it directly.
    func writeMarker() {
        guard markerOwed, let disk else { return }
        do {
            if try disk.append([]) { markers += 1 }
            markerOwed = false
        } catch {
            diskFailed("backlog write to disk failed", error)
        }
    }

    /// The next record to send and its number, reading ahead past markers and records marked `skip`;
    /// nil when everything held has been handed out. Writes consumed here (skipped ones at the head)
    /// are added to `consumed`.
    func nextToSend(consumed: inout Int) -> (frame: [UInt8], seq: UInt64)? {
        consumed += consumeSkippedAtHead()
        while true {
            let seq = headSeq + UInt64(readAhead)
            let frame: [UInt8]?
            if memory != nil {
                frame = memory!.readNext()
            } else {
                do { frame = try disk!.readNext() } catch {
                    diskFailed("backlog read from disk failed", error)
                    return nil
                }
            }
            guard let frame else { return nil }
            if frame.isEmpty {
                skip(seq)
                consumed += consumeSkippedAtHead()
                continue
            }
            if skipped.contains(seq) { continue }
            return (frame, seq)
        }
    }

    /// The oldest record sent was answered: consumes it, and the skipped ones around it. Returns
    /// how many writes were consumed.
    @discardableResult
    func acknowledge() -> Int {
        var n = consumeSkippedAtHead()
        guard readAhead > 0, let wasWrite = consumeFirst() else { return n }
        n += (wasWrite ? 1 : 0) + consumeSkippedAtHead()
        return n
    }

    /// Record `seq` (read ahead, not yet consumed) will not be sent again.
    func skip(_ seq: UInt64) {
        guard seq >= headSeq, !skipped.contains(seq) else { return }
        let at = skipped.firstIndex { $0 > seq } ?? skipped.endIndex
        skipped.insert(seq, at: at)
    }

    /// The records read ahead go out again, from the head (skipped ones stay skipped).
    func rewind() {
        if memory != nil { memory!.rewindReadAhead() } else { disk!.rewindReadAhead() }
        sender = nil
    }

    /// Consumes the skipped records at the head; returns how many were writes.
    func consumeSkippedAtHead() -> Int {
        var n = 0
        while let first = skipped.first, first == headSeq {
            skipped.removeFirst()
            guard let wasWrite = consumeFirst() else { break }
            if wasWrite { n += 1 }
        }
        return n
    }

    /// Consumes the first record; returns whether it was a write (not a marker), nil when nothing
    /// could be consumed.
    private func consumeFirst() -> Bool? {
        let wasWrite: Bool
        if memory != nil {
            guard memory!.popFirst() != nil else { return nil }
            _ = memoryTimes.popFirst()
            isEmpty = memory!.isEmpty
            wasWrite = true
        } else {
            do {
                // The payload went out when it was read ahead: only its length (0: a marker) matters.
                guard let length = try disk!.discardFirst() else { return nil }
                isEmpty = disk!.isEmpty
                wasWrite = length > 0
                if !wasWrite { markers -= 1 }
            } catch {
                diskFailed("backlog read from disk failed", error)
                return nil
            }
        }
        headSeq += 1
        if isEmpty {
            overflowed = false
            sender = nil
        } else if readAhead == 0 {
            sender = nil
        }
        return wasWrite
    }

    /// Flushes what this batch appended (`fsync: always`: one flush for the batch's writes, before
    /// any of their clients is answered).
    func commit() {
        guard wantsCommit else { return }
        do { try disk!.sync() } catch { diskFailed("backlog fsync failed", error) }
    }

    /// `everysec`: gives the disk what was appended in the last second.
    func syncIfDue(nowMillis: Int64) {
        do { try disk?.syncIfDue(nowMillis: nowMillis) } catch { diskFailed("backlog fsync failed", error) }
    }

    func close() {
        disk?.close()
    }

    private func diskFailed(_ message: Logger.Message, _ error: Error) {
        logger.error(message, metadata: ["server": "\(label)", "error": "\(error)"])
    }
}
