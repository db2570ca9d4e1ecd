/// The SCAN cursor the proxy hands out when keys are sharded: one number that says which cluster
/// the scan runs on, which of that cluster's servers it is on, and that server's own cursor, so a
/// scan walks the servers one after the other and stays on the cluster it started on.
///
/// Contract: the client's cursor is `(serverCursor × servers + server) × clusters + cluster`, where
/// `servers` is the cluster's server count. 0 starts a scan (the caller picks the cluster, server 0,
/// server cursor 0) and 0 is handed back only when the last server has finished; every cursor in
/// between is non-zero. A server cursor too large to encode is reported, never wrapped.
public struct ShardedScanCursor: Equatable, Sendable {
    public var cluster: Int
    public var server: Int
    public var serverCursor: UInt64

    public init(cluster: Int, server: Int, serverCursor: UInt64) {
        self.cluster = cluster
        self.server = server
        self.serverCursor = serverCursor
    }

    /// Decodes a non-zero client cursor; `servers(c)` is cluster c's server count.
    public static func decode(_ cursor: UInt64, clusters: Int, servers: (Int) -> Int) -> ShardedScanCursor {
        let cluster = Int(cursor % UInt64(clusters))
        let rest = cursor / UInt64(clusters)
        let count = UInt64(servers(cluster))
        return ShardedScanCursor(cluster: cluster, server: Int(rest % count), serverCursor: rest / count)
    }

    /// The client's next cursor after `server` of `cluster` answered with its cursor `next`: the same
    /// server while it has more, the next server from 0 once it is done, 0 after the last one. Nil
    /// when the cursor does not fit in 64 bits.
    public static func advance(cluster: Int, clusters: Int, server: Int, servers: Int, next: UInt64) -> UInt64? {
        let (server, serverCursor) = next == 0 ? (server + 1, UInt64(0)) : (server, next)
        guard server < servers else { return 0 }
        let (a, o1) = serverCursor.multipliedReportingOverflow(by: UInt64(servers))
        let (b, o2) = a.addingReportingOverflow(UInt64(server))
        let (c, o3) = b.multipliedReportingOverflow(by: UInt64(clusters))
        let (d, o4) = c.addingReportingOverflow(UInt64(cluster))
        return o1 || o2 || o3 || o4 ? nil : d
    }
}
