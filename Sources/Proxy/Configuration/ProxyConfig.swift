/// The whole daemon configuration, as read from one JSON file.
///
/// Contract: a value of this type has passed `ConfigLoader` validation, so every field is within its
/// documented range and every cross-field rule holds (see `docs/configuration.md`). Durations are in
/// milliseconds in the file and carried here as `Duration`.
import Routing

public struct ProxyConfig: Sendable, Equatable {
    public var listen: ListenConfig
    /// Worker threads, one event loop each. Default: the number of online CPUs.
    public var workers: Int
    /// Which event-loop implementation runs the workers.
    public var eventLoop: LoopBackendKind
    /// How long a loop that just did work waits in place for more events before sleeping (0 = never
    /// wait): parked in epoll on the dispatch loop, polling on the libev loop. Trades a little CPU for
    /// lower latency with few clients. File key `loopIdleWaitMicros`, default 100.
    public var loopIdleWaitMicros: Int
    public var clusters: [ClusterConfig]
    public var timeouts: TimeoutConfig
    public var limits: LimitConfig
    /// Which reply answers a write sent to every cluster. File key `writeAck`, default `first`.
    public var writeAck: AckPolicy
    public var health: HealthConfig
    public var backlog: BacklogConfig
    /// Whether clients may empty every cluster: memcached `flush_all`, redis FLUSHALL and FLUSHDB.
    /// Refused by default because one stray command would wipe every datacenter at once.
    /// File key `allowFlush`, default false.
    public var allowFlush: Bool
    /// Administrative redis commands clients may run, sent to every server of every cluster that
    /// is up (FLUSHALL and FLUSHDB: replicated writes). Each is a command table name as
    /// `AdminAllowList.entry` returns it (`flushall`, `config|set`, or a container such as `config`
    /// for all of its allowable subcommands), in file order. File key `allowCommands`, entries
    /// written as clients write them (`"CONFIG SET"`), default none.
    public var allowCommands: [String]
    /// Sampled read verification against another cluster.
    public var verify: VerifyConfig
    /// Who may use the redis listener: file keys `requirepass` and `users`. Default: anyone.
    public var clientAuth: ClientAuthConfig

    public init(
        listen: ListenConfig,
        workers: Int,
        eventLoop: LoopBackendKind = .libev,
        loopIdleWaitMicros: Int = 100,
        clusters: [ClusterConfig],
        timeouts: TimeoutConfig = TimeoutConfig(),
        limits: LimitConfig = LimitConfig(),
        writeAck: AckPolicy = .first,
        health: HealthConfig = HealthConfig(),
        backlog: BacklogConfig = BacklogConfig(),
        allowFlush: Bool = false,
        allowCommands: [String] = [],
        verify: VerifyConfig = VerifyConfig(),
        clientAuth: ClientAuthConfig = ClientAuthConfig()
    ) {
        self.listen = listen
        self.workers = workers
        self.eventLoop = eventLoop
        self.loopIdleWaitMicros = loopIdleWaitMicros
        self.clusters = clusters
        self.timeouts = timeouts
        self.limits = limits
        self.writeAck = writeAck
        self.health = health
        self.backlog = backlog
        self.allowFlush = allowFlush
        self.allowCommands = allowCommands
        self.verify = verify
        self.clientAuth = clientAuth
    }
}

/// Read verification: after a read is answered, with probability `sampleRate` the same read goes to
/// a random other healthy cluster and the two replies are compared (detection only).
public struct VerifyConfig: Sendable, Equatable {
    /// File key `sampleRate`, 0 to 1, default 0.01.
    public var sampleRate: Double
    /// Verification reads one loop may have outstanding; past it a sampled read is skipped and
    /// counted. File key `maxInFlight`, default 64.
    public var maxInFlight: Int

    public init(sampleRate: Double = 0.01, maxInFlight: Int = 64) {
        self.sampleRate = sampleRate
        self.maxInFlight = maxInFlight
    }
}

/// When a cluster counts as down, and how often idle clusters are probed.
public struct HealthConfig: Sendable, Equatable {
    /// Consecutive failed requests that mark a cluster down (a failed connect marks it down at once).
    /// File key `failureLimit`, default 3.
    public var failureLimit: Int
    /// A cluster with no request for this long gets a PING, so its latency stays measured.
    /// File key `probeIntervalMs`, default 1000.
    public var probeIntervalMs: Int

    public init(failureLimit: Int = 3, probeIntervalMs: Int = 1000) {
        self.failureLimit = failureLimit
        self.probeIntervalMs = probeIntervalMs
    }
}

/// Bounds and storage of the backlogs of writes servers could not take (one per server and worker
/// loop).
public struct BacklogConfig: Sendable, Equatable {
    /// File key `maxBytes`, default 64 MiB.
    public var maxBytes: Int
    /// File key `maxEntries`, default 1,000,000.
    public var maxEntries: Int
    /// Replayed writes per second per server and worker loop, so a returning server is not flooded
    /// (0: as fast as the server answers, 64 in flight). File key `replayRate`, default 0.
    public var replayRate: Int
    /// Where backlogs are kept on disk, surviving a restart; nil keeps them in memory. File key `dir`.
    public var directory: String?
    /// When appended records reach the disk. File key `fsync`: `always`, `everysec` (default), `no`.
    public var fsync: BacklogFsync
    /// Which writes go through the backlog. File key `durability`: `outage` (default) or `disk`.
    public var durability: BacklogDurability

    public init(maxBytes: Int = 64 * 1024 * 1024, maxEntries: Int = 1_000_000, replayRate: Int = 0,
                directory: String? = nil, fsync: BacklogFsync = .everysec, durability: BacklogDurability = .outage) {
        self.maxBytes = maxBytes
        self.maxEntries = maxEntries
        self.replayRate = replayRate
        self.directory = directory
        self.fsync = fsync
        self.durability = durability
    }
}

/// `backlog.durability`.
public enum BacklogDurability: String, Sendable, Equatable, CaseIterable {
    /// Writes go straight to every server that can take them; only those a server could not take
    /// are kept (on disk with `dir`). A `kill -9` of the proxy loses the remote writes in flight.
    case outage
    /// Every write for a non-local cluster is appended to that server's disk backlog before the
    /// client is answered (one flush per loop batch under `fsync: always`) and delivered from there,
    /// consumed when the server acknowledges it: a `kill -9` of the proxy loses no remote write.
    /// Needs `dir`, a local cluster, and `writeAck` `first` or `local`.
    case disk
}

/// `backlog.fsync`.
public enum BacklogFsync: String, Sendable, Equatable, CaseIterable {
    case always, everysec, no
}

/// Listening addresses. A nil listener is not opened.
public struct ListenConfig: Sendable, Equatable {
    public var redis: Endpoint?
    public var memcached: Endpoint?
    public var admin: Endpoint?

    public init(redis: Endpoint? = nil, memcached: Endpoint? = nil, admin: Endpoint? = nil) {
        self.redis = redis
        self.memcached = memcached
        self.admin = admin
    }
}

/// One cluster, typically one datacenter's cache servers.
public struct ClusterConfig: Sendable, Equatable {
    public var name: String
    /// Local clusters are preferred for reads.
    public var local: Bool
    /// The cluster's redis servers; with more than one, keys are sharded by `redisSharding`.
    public var redis: [ServerConfig]
    /// The cluster's memcached servers; with more than one, keys are sharded by `memcachedSharding`.
    public var memcached: [ServerConfig]
    public var redisSharding: ShardingConfig
    public var memcachedSharding: ShardingConfig
    /// What the proxy authenticates with on its connections to this cluster's redis servers (file
    /// key `redisAuth`); nil sends no AUTH.
    public var redisAuth: BackendCredentials?

    public init(name: String, local: Bool = false, redis: [ServerConfig] = [], memcached: [ServerConfig] = [],
                redisSharding: ShardingConfig = .redisDefault, memcachedSharding: ShardingConfig = .memcachedDefault,
                redisAuth: BackendCredentials? = nil) {
        self.name = name
        self.local = local
        self.redis = redis
        self.memcached = memcached
        self.redisSharding = redisSharding
        self.memcachedSharding = memcachedSharding
        self.redisAuth = redisAuth
    }
}

/// One server of a cluster's redis or memcached list: `"host:port"`, `"host:port:weight"`,
/// `"host:port:weight name"` (twemproxy's form) or `{"address": "host:port", "weight": 2, "name": "s1"}`.
public struct ServerConfig: Sendable, Hashable, CustomStringConvertible {
    public var endpoint: Endpoint
    /// The server's share of the keys relative to the others (ketama and modula). Default 1.
    public var weight: Int
    /// Stands for the server on the hash ring instead of its address (twemproxy's server name), so
    /// a server can move to another address without moving its keys.
    public var name: String?

    public init(endpoint: Endpoint, weight: Int = 1, name: String? = nil) {
        self.endpoint = endpoint
        self.weight = weight
        self.name = name
    }

    public var description: String { endpoint.description }
}

/// How one cluster's server list for one protocol shares out the keys. File keys `distribution`,
/// `hash` and `hashTag`, at the cluster level (both protocols) or in a protocol's object form.
public struct ShardingConfig: Sendable, Equatable {
    /// Default `ketama`, as twemproxy's.
    public var distribution: ShardDistribution
    /// Default `fnv1a_64`, as twemproxy's.
    public var hash: KeyHashKind
    /// Two characters delimiting the part of a key that is hashed (`"{}"`); empty: the whole key.
    /// Default `"{}"` for redis, empty for memcached.
    public var hashTag: String

    public init(distribution: ShardDistribution = .ketama, hash: KeyHashKind = .fnv1a_64, hashTag: String) {
        self.distribution = distribution
        self.hash = hash
        self.hashTag = hashTag
    }

    public static let redisDefault = ShardingConfig(hashTag: "{}")
    public static let memcachedDefault = ShardingConfig(hashTag: "")
}

/// Event-loop implementations selectable with `"eventLoop"`.
public enum LoopBackendKind: String, Sendable, Equatable, CaseIterable {
    /// epoll drained in batches from one Dispatch read source per loop.
    case dispatch
    /// libev with its epoll backend, one thread per loop (default: lower latency with few clients
    /// and as fast under load; docs/performance.md).
    case libev
}

/// Timeouts and back-off for backend connections and shutdown.
public struct TimeoutConfig: Sendable, Equatable {
    /// How long a backend connect may take before it counts as failed. File key `connectMs`, default 1000.
    public var connect: Duration
    /// How long the oldest request on a backend connection may wait for its reply before the connection
    /// is declared broken. File key `requestMs`, default 5000.
    public var request: Duration
    /// First reconnect delay after a failure; doubles per failure up to `reconnectMax`, with jitter.
    /// File key `reconnectMinMs`, default 50.
    public var reconnectMin: Duration
    /// File key `reconnectMaxMs`, default 5000.
    public var reconnectMax: Duration
    /// How long SIGTERM/SIGINT waits for in-flight requests before closing. File key `shutdownMs`, default 10000.
    public var shutdown: Duration

    public init(
        connect: Duration = .milliseconds(1000),
        request: Duration = .milliseconds(5000),
        reconnectMin: Duration = .milliseconds(50),
        reconnectMax: Duration = .milliseconds(5000),
        shutdown: Duration = .milliseconds(10000)
    ) {
        self.connect = connect
        self.request = request
        self.reconnectMin = reconnectMin
        self.reconnectMax = reconnectMax
        self.shutdown = shutdown
    }
}

/// Per-connection limits protecting the daemon from one bad client.
public struct LimitConfig: Sendable, Equatable {
    /// Largest bulk string a client may send. File key `maxBulkBytes`, default 512 MiB (Redis's proto-max-bulk-len).
    public var maxBulkBytes: Int
    /// Most elements in one multibulk request. File key `maxMultibulkLength`, default 1,048,576.
    public var maxMultibulkLength: Int
    /// Longest inline command line. File key `maxInlineBytes`, default 65,536 (Redis's PROTO_INLINE_MAX_SIZE).
    public var maxInlineBytes: Int
    /// Output bytes queued for one client beyond which it is disconnected. File key `clientOutputLimitBytes`,
    /// default 256 MiB.
    public var clientOutputLimitBytes: Int
    /// Requests one client may have outstanding before the proxy stops reading from it. File key
    /// `maxClientInFlight`, default 4096.
    public var maxClientInFlight: Int
    /// Most client connections per listener across all workers; further accepts are closed at once.
    /// File key `maxClients`, default 100,000.
    public var maxClients: Int
    /// Requests one backend connection may have outstanding. Past it, a write for that cluster goes
    /// to its backlog and a read to the next cluster, so a slow cluster never holds clients back.
    /// File key `backendMaxInFlight`, default 16,384.
    public var backendMaxInFlight: Int
    /// Largest memcached value a client may store; a larger one gets `SERVER_ERROR object too large
    /// for cache` and is never sent. File key `maxValueBytes`, default 1 MiB (memcached's default -I).
    public var maxValueBytes: Int

    public init(
        maxBulkBytes: Int = 512 * 1024 * 1024,
        maxMultibulkLength: Int = 1024 * 1024,
        maxInlineBytes: Int = 64 * 1024,
        clientOutputLimitBytes: Int = 256 * 1024 * 1024,
        maxClientInFlight: Int = 4096,
        maxClients: Int = 100_000,
        backendMaxInFlight: Int = 16_384,
        maxValueBytes: Int = 1024 * 1024
    ) {
        self.maxBulkBytes = maxBulkBytes
        self.maxMultibulkLength = maxMultibulkLength
        self.maxInlineBytes = maxInlineBytes
        self.clientOutputLimitBytes = clientOutputLimitBytes
        self.maxClientInFlight = maxClientInFlight
        self.maxClients = maxClients
        self.backendMaxInFlight = backendMaxInFlight
        self.maxValueBytes = maxValueBytes
    }
}

/// A `host:port` pair as written in the file: `127.0.0.1:6379`, `localhost:6379`, `[::1]:6379`.
public struct Endpoint: Sendable, Hashable, CustomStringConvertible {
    public var host: String
    public var port: Int

    public init(host: String, port: Int) {
        self.host = host
        self.port = port
    }

    /// Parses `host:port` or `[v6]:port`; nil when the text is not of that form or the port is not 0...65535.
    public init?(parsing text: String) {
        let host: Substring
        let portText: Substring
        if text.hasPrefix("[") {
            guard let close = text.firstIndex(of: "]") else { return nil }
            host = text[text.index(after: text.startIndex)..<close]
            let rest = text[text.index(after: close)...]
            guard rest.hasPrefix(":") else { return nil }
            portText = rest.dropFirst()
        } else {
            guard let colon = text.lastIndex(of: ":") else { return nil }
            host = text[..<colon]
            portText = text[text.index(after: colon)...]
            if host.contains(":") { return nil }
        }
        guard !host.isEmpty, let port = Int(portText), (0...65535).contains(port) else { return nil }
        self.host = String(host)
        self.port = port
    }

    public var description: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }
}
