import Synchronization

/// Counters of one cluster, shared by every worker loop (relaxed atomics: each is a tally, not a
/// synchronisation point). Touched only on failure, divergence and replay paths, never per request,
/// so loops do not contend on them.
final class ClusterStats: Sendable {
    let name: String
    let isLocal: Bool
    /// Writes this cluster did not get directly: kept in its backlog (down, backlog not drained yet,
    /// or its connection failed with the write in flight).
    let missedWrites = Atomic<UInt64>(0)
    /// Missed writes that did not fit in the backlog: lost for this cluster, and counted here.
    let droppedWrites = Atomic<UInt64>(0)
    /// Backlogged writes later delivered.
    let replayedWrites = Atomic<UInt64>(0)
    /// Writes whose successful reply here differed from the reply the client got.
    let divergentReplies = Atomic<UInt64>(0)
    /// Writes this cluster answered with an error while the client got a success.
    let rejectedWrites = Atomic<UInt64>(0)
    /// Writes now held in this cluster's backlogs, across loops.
    let backlogEntries = Atomic<Int>(0)
    /// Servers of this cluster currently seen as down, summed over the loops (each loop judges its own).
    let shardsDown = Atomic<Int>(0)

    init(name: String, isLocal: Bool) {
        self.name = name
        self.isLocal = isLocal
    }

    @inline(__always)
    static func bump(_ counter: borrowing Atomic<UInt64>) {
        counter.add(1, ordering: .relaxed)
    }
}
