import EventLoop
import Logging

/// One client's own backend connections, shared with nobody: what a client needs while the server
/// holds state for it (WATCH until EXEC) or holds its connection (BLPOP until something arrives).
/// At most one per server and protocol variant, opened on first use, closed with the client.
///
/// Contract: loop-confined. The connections report to no health or latency tracking (a blocked
/// command's wait is not a slow server); the router checks their request deadlines on its tick, a
/// blocking command's own timeout added (`BackendConnection.deadlineAllowance`).
final class DedicatedConnections<Wire: BackendWire> {
    private struct Entry {
        let cluster: Int
        let shard: Int
        let variant: Int
        let connection: BackendConnection<Wire>
    }

    private var entries: [Entry] = []

    var isEmpty: Bool { entries.isEmpty }

    /// The connection to `router`'s cluster `cluster`, server `shard`, speaking `variant`.
    func connection(_ router: ClusterRouter<Wire>, cluster: Int, shard: Int, variant: Int) -> BackendConnection<Wire> {
        if let entry = entries.first(where: { $0.cluster == cluster && $0.shard == shard && $0.variant == variant }) {
            return entry.connection
        }
        let link = router.clusters[cluster]
        let connection = BackendConnection<Wire>(
            endpoint: link.shards[shard].server.endpoint, cluster: cluster, shard: shard, variant: variant,
            credentials: link.credentials, loop: router.loop, observer: UnobservedBackend.shared, timeouts: router.timeouts,
            maxInFlight: router.backendMaxInFlight, logger: router.logger)
        entries.append(Entry(cluster: cluster, shard: shard, variant: variant, connection: connection))
        router.adoptDedicated(connection)
        return connection
    }

    /// Closes every connection (what is in flight on them fails back to its consumer).
    func closeAll(_ router: ClusterRouter<Wire>) {
        let closing = entries
        entries.removeAll()
        for entry in closing {
            router.releaseDedicated(entry.connection)
            entry.connection.close()
        }
    }
}

/// The observer of dedicated connections: their replies and failures say nothing about a server's
/// health that the shared connections do not say better.
final class UnobservedBackend: BackendObserver, Sendable {
    static let shared = UnobservedBackend()
    func backendConnected(cluster: Int, shard: Int) {}
    func backendAnswered(cluster: Int, shard: Int, rtt: UInt64) {}
    func backendFailed(cluster: Int, shard: Int, connecting: Bool) {}
}
