import DequeModule
import EventLoop
import Logging
import Routing

/// One cluster as one loop sees it: connections to its server, its health, and its backlog of writes
/// it could not take. Loop-confined.
final class RedisClusterLink {
    let index: Int
    let name: String
    let isLocal: Bool
    let stats: ClusterStats
    /// [RESP2, RESP3] connections to the cluster's first redis server (sharding comes with issue #5).
    let backends: [BackendConnection]
    var health: ClusterHealth
    var backlog: MissedWriteBacklog
    /// Backlogged writes sent and not yet answered.
    var replayInFlight = 0
    /// Replayed writes whose connection failed before they were answered: they go out again before
    /// anything still in the backlog, to keep the order.
    var replayRetry: Deque<[UInt8]> = []

    init(index: Int, name: String, isLocal: Bool, stats: ClusterStats, backends: [BackendConnection],
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
    func backend(protocolVersion: Int) -> BackendConnection {
        backends[protocolVersion == 3 ? 1 : 0]
    }

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
