import DequeModule
import DurableLog
import EventLoop
import Logging
import Routing

/// One server's backlog on one loop, in memory (`MissedWriteBacklog`) or on disk (`SegmentLog`,
/// with `backlog.dir`): the same ordered, bounded FIFO either way. A disk backlog outlives the
/// process: what it holds at start-up is replayed like any other missed write.
///
/// Contract: loop-confined. `isEmpty` is a stored property, read for every write. A disk error on
/// `append` refuses the write (the caller counts and logs it as dropped); on `popFirst` it is logged
/// and the backlog reads as empty until the next append, so replay never spins on a broken disk.
/// Shared by the routers of successive reloads (see `BacklogStores`).
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
    /// The server's address, for logs.
    let label: String
    /// Whether the writes it held when opened are in the cluster's `backlogEntries` yet.
    var counted = false

    init(memoryBounds config: BacklogConfig, label: String, logger: Logger) {
        memory = MissedWriteBacklog(maxBytes: config.maxBytes, maxEntries: config.maxEntries)
        disk = nil
        self.label = label
        self.logger = logger
    }

    init(disk log: SegmentLog, label: String, logger: Logger) {
        memory = nil
        disk = log
        self.label = label
        self.logger = logger
        isEmpty = log.isEmpty
    }

    var count: Int { memory?.count ?? disk!.count }
    var bytes: Int { memory?.bytes ?? disk!.bytes }
    /// Wall-clock milliseconds of the oldest held write's arrival (disk backlogs only).
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
                logger.error("backlog write to disk failed", metadata: ["server": "\(label)", "error": "\(error)"])
                accepted = false
            }
        }
        if accepted { isEmpty = false } else { overflowed = true }
        return accepted
    }

    func popFirst() -> [UInt8]? {
        let frame: [UInt8]?
        if memory != nil {
            frame = memory!.popFirst()
            if frame != nil { _ = memoryTimes.popFirst() }
            isEmpty = memory!.isEmpty
        } else {
            do {
                frame = try disk!.popFirst()
                isEmpty = disk!.isEmpty
            } catch {
                logger.error("backlog read from disk failed", metadata: ["server": "\(label)", "error": "\(error)"])
                frame = nil
                isEmpty = true
            }
        }
        if isEmpty { overflowed = false }
        return frame
    }

    /// `everysec`: gives the disk what was appended in the last second.
    func syncIfDue(nowMillis: Int64) {
        do { try disk?.syncIfDue(nowMillis: nowMillis) } catch {
            logger.error("backlog fsync failed", metadata: ["server": "\(label)", "error": "\(error)"])
        }
    }

    func close() {
        disk?.close()
    }
}
