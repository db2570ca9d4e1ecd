/// A snapshot of what the proxy sees, for `GET /status` (JSON) and the status page. Built by
/// `ProxyServer` from counters every loop shares; plain values, no references into the loops.
struct ProxyStatus: Sendable, Equatable {
    var version: String
    var uptimeSeconds: Int64
    var writeAck: String
    var configPath: String?
    /// The last reload: when (Unix seconds), whether it was applied, and why not.
    var lastReload: ReloadOutcome?
    var listeners: [Listener]
    var protocols: [ProtocolView]

    struct ReloadOutcome: Sendable, Equatable {
        var atUnixSeconds: Int64
        var applied: Bool
        var message: String
    }

    struct Listener: Sendable, Equatable {
        /// `redis`, `memcached` or `admin`.
        var name: String
        var address: String
        var clients: Int
        var protocolErrors: UInt64
    }

    /// One protocol's clusters (redis and memcached servers of a cluster are separate processes).
    struct ProtocolView: Sendable, Equatable {
        var name: String
        /// Cluster names in read order, healthy ones only.
        var readOrder: [String]
        var clusters: [Cluster]
    }

    struct Cluster: Sendable, Equatable {
        var name: String
        var local: Bool
        /// `up`, `degraded` (some servers down) or `down`.
        var state: String
        var servers: Int
        var serversDown: Int
        /// Measured round trip (EWMA), nil before the first measurement.
        var latencyMicros: Int64?
        /// 1 = first choice for reads; 0 = not ranked (no server can serve).
        var readRank: Int
        var backlog: Int
        /// Seconds the oldest held write has waited, nil with nothing held.
        var backlogOldestSeconds: Int64?
        /// A write did not fit in a backlog: the cluster has lost writes and needs a resync.
        var needsResync: Bool
        var requests: UInt64
        var errors: UInt64
        var missedWrites: UInt64
        var droppedWrites: UInt64
        var replayedWrites: UInt64
        var divergentReplies: UInt64
        var rejectedWrites: UInt64
        /// Writes whose connection failed before the reply and which are not safe to send twice.
        var unknownOutcomes: UInt64
        /// Keys with an unknown outcome repaired from another cluster.
        var repairedKeys: UInt64
        /// Reads answered by this cluster and checked against another one.
        var verifiedReads: UInt64
        var verifyMismatches: UInt64
        var verifyErrors: UInt64
    }
}
