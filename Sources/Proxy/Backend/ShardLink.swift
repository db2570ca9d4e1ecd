import DequeModule
import EventLoop
import Routing

/// One server of a cluster (one shard) as one loop sees it for one protocol: its connections, its
/// health, and its backlog of writes it could not take. Loop-confined.
///
/// Health and backlog are per server, not per cluster: a down server makes only the keys it owns
/// fail over and wait, and each server still receives its own writes in their original order.
final class ShardLink<Wire: BackendWire> {
    /// The cluster's index in the configuration.
    let cluster: Int
    /// This server's index in the cluster's list.
    let index: Int
    let server: ServerConfig
    /// The cluster's counters, shared with its other servers.
    let stats: ClusterStats
    /// One connection per `Wire` variant.
    let backends: [BackendConnection<Wire>]
    var health: ClusterHealth
    /// Shared with the same server's link in the routers of later reloads.
    let backlog: BacklogStore
    /// `backlog.durability: disk` on a non-local cluster: every write goes through the backlog.
    let journaled: Bool
    /// Replaced by a reload: its backlog now belongs to the new router's link, which replays it.
    var retired = false
    /// Backlogged writes sent and not yet answered.
    var replayInFlight = 0
    /// Key repairs under way for this server and the writes that arrived after them, in order: they
    /// join the backlog once the repairs ahead of them are settled (see `KeyRepairer`).
    var repairQueue: Deque<RepairQueueItem> = []
    /// Appended to during the current loop batch (see `ClusterRouter.endBatch`).
    var touchedInBatch = false

    init(cluster: Int, index: Int, server: ServerConfig, stats: ClusterStats, backends: [BackendConnection<Wire>],
         health: ClusterHealth, backlog: BacklogStore, journaled: Bool) {
        self.cluster = cluster
        self.index = index
        self.server = server
        self.stats = stats
        self.backends = backends
        self.health = health
        self.backlog = backlog
        self.journaled = journaled
    }

    @inline(__always)
    func backend(variant: Int) -> BackendConnection<Wire> {
        backends[variant]
    }

    /// The connection the proxy uses for its own traffic: probes, replay.
    @inline(__always)
    var primary: BackendConnection<Wire> { backends[0] }

    /// Up, and every write so far has been applied here (nothing held, in flight from the backlog,
    /// or waiting for a repair): what a key repair may copy from.
    @inline(__always)
    var isCaughtUp: Bool {
        health.state == .up && backlog.isEmpty && replayInFlight == 0 && repairQueue.isEmpty
    }

    /// Writes go straight to the server only while nothing older is held back for it, so it receives
    /// every client's writes in their original order; a journaled server gets them all from its backlog.
    @inline(__always)
    var takesWritesDirectly: Bool { !journaled && isCaughtUp }

    /// Writes waiting for delivery to this server.
    var heldWrites: Int { backlog.writes + repairQueue.count }

    /// Reads prefer servers that are up and have every write so far (a backlog means stale data); a
    /// journaled server counts once everything held has been sent to it.
    @inline(__always)
    var isReadable: Bool {
        journaled ? health.state == .up && backlog.unsent == 0 && repairQueue.isEmpty : isCaughtUp
    }
}

/// An entry of `ShardLink.repairQueue`.
enum RepairQueueItem {
    /// A repair whose read has not been answered yet (its number in `KeyRepairer`).
    case waiting(UInt64)
    /// A repair's write (or nil when the repair failed), or a write that arrived after a repair.
    case ready([UInt8]?)
}
