import EventLoop
import Routing

/// One cluster as one loop sees it for one protocol: its servers (shards) and how keys map onto
/// them. Loop-confined.
final class ClusterLink<Wire: BackendWire> {
    let index: Int
    let name: String
    let isLocal: Bool
    let stats: ClusterStats
    /// The cluster's servers, in configuration order; a key lives on `shards[shardMap.shard(forKey:)]`.
    let shards: [ShardLink<Wire>]
    let shardMap: ShardMap
    /// What this cluster's backend connections authenticate with (redis `redisAuth`; nil for
    /// memcached or without a password): a connection opened outside the shards' own uses it too.
    let credentials: BackendCredentials?

    init(index: Int, name: String, isLocal: Bool, stats: ClusterStats, shards: [ShardLink<Wire>], shardMap: ShardMap,
         credentials: BackendCredentials? = nil) {
        self.index = index
        self.name = name
        self.isLocal = isLocal
        self.stats = stats
        self.shards = shards
        self.shardMap = shardMap
        self.credentials = credentials
    }

    /// The first server's connection for the proxy's own traffic that needs no particular server
    /// (redis command metadata).
    var primary: BackendConnection<Wire> { shards[0].primary }

    /// Ranked for reads while at least one server can serve; each read then checks its own shard.
    var isReadable: Bool { shards.contains { $0.isReadable } }

    /// Every server can serve: whole-keyspace commands (DBSIZE, SCAN ...) need them all.
    var isWhollyReadable: Bool { shards.allSatisfy { $0.isReadable } }

    /// Servers this loop sees as down.
    var shardsDown: Int { shards.reduce(0) { $0 + ($1.health.state == .up ? 0 : 1) } }

    /// For INFO and stats: the state every loop's published view adds up to (see `ClusterStats.view`),
    /// as /status and /metrics show it.
    var stateName: String { stats.view.state(servers: shards.count) }
}
