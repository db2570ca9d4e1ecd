import DequeModule
import EventLoop
import Logging
import Routing

/// One cluster as one loop sees it for one protocol: connections to its server, its health, and its
/// backlog of writes it could not take. Loop-confined.
final class ClusterLink<Wire: BackendWire> {
    let index: Int
    let name: String
    let isLocal: Bool
    let stats: ClusterStats
    /// One connection per `Wire` variant to the cluster's first server (sharding comes with issue #5).
    let backends: [BackendConnection<Wire>]
    var health: ClusterHealth
    var backlog: MissedWriteBacklog
    /// Backlogged writes sent and not yet answered.
    var replayInFlight = 0
    /// Replayed writes whose connection failed before they were answered: they go out again before
    /// anything still in the backlog, to keep the order.
    var replayRetry: Deque<[UInt8]> = []

    init(index: Int, name: String, isLocal: Bool, stats: ClusterStats, backends: [BackendConnection<Wire>],
         health: ClusterHealth, backlog: MissedWriteBacklog) {
        self.index = index
        self.name = name
        self.isLocal = isLocal
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

    /// Writes go straight to the server only while nothing older is held back for it, so the cluster
    /// receives every client's writes in their original order.
    @inline(__always)
    var takesWritesDirectly: Bool {
        health.state == .up && backlog.isEmpty && replayInFlight == 0 && replayRetry.isEmpty
    }

    /// Writes waiting for delivery to this cluster.
    var heldWrites: Int { backlog.count + replayRetry.count + replayInFlight }

    /// Reads prefer clusters that are up and have every write so far (a backlog means stale data).
    var isReadable: Bool { takesWritesDirectly }
}
