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
    /// Replaced by a reload: its backlog now belongs to the new router's link, which replays it.
    var retired = false
    /// Backlogged writes sent and not yet answered.
    var replayInFlight = 0
    /// Replayed writes whose connection failed before they were answered: they go out again before
    /// anything still in the backlog, to keep the order.
    var replayRetry: Deque<[UInt8]> = []

    init(cluster: Int, index: Int, server: ServerConfig, stats: ClusterStats, backends: [BackendConnection<Wire>],
         health: ClusterHealth, backlog: BacklogStore) {
        self.cluster = cluster
        self.index = index
        self.server = server
        self.stats = stats
        self.backends = backends
        self.health = health
        self.backlog = backlog
    }

    @inline(__always)
    func backend(variant: Int) -> BackendConnection<Wire> {
        backends[variant]
    }

    /// The connection the proxy uses for its own traffic: probes, replay.
    @inline(__always)
    var primary: BackendConnection<Wire> { backends[0] }

    /// Writes go straight to the server only while nothing older is held back for it, so it receives
    /// every client's writes in their original order.
    @inline(__always)
    var takesWritesDirectly: Bool {
        health.state == .up && backlog.isEmpty && replayInFlight == 0 && replayRetry.isEmpty
    }

    /// Writes waiting for delivery to this server.
    var heldWrites: Int { backlog.count + replayRetry.count + replayInFlight }

    /// Reads prefer servers that are up and have every write so far (a backlog means stale data).
    @inline(__always)
    var isReadable: Bool { takesWritesDirectly }
}
