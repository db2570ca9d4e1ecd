import Synchronization
import EventLoop
import Logging
import Routing

/// One loop's view of every cluster for one protocol: the links (connections, health, backlog), the
/// measured latencies, the read ranking built from them, and the periodic work that keeps them true
/// (deadlines, probes, backlog replay). The redis and memcached front ends each own one per loop and
/// route through it with the same code (`RoutedSession`).
///
/// Contract: created on any thread, then used only on `loop`. Cluster `i` here is cluster `i` of the
/// configuration.
final class ClusterRouter<Wire: BackendWire>: BackendObserver {
    /// unowned(unsafe): the server keeps every loop alive longer than its routers.
    unowned(unsafe) let loop: EventLoop
    let policy: AckPolicy
    let localMask: UInt64
    private(set) var clusters: [ClusterLink<Wire>] = []
    private(set) var replayers: [[BacklogReplayer<Wire>]] = []
    private(set) var latency: LatencyTracker
    private(set) var ranking: ReadRanking
    private(set) var logger: Logger
    private var tick: LoopTimer?
    private let tickInterval: Duration
    private let probeInterval: UInt64
    /// One limiter for the log lines of hot failure paths (divergence, full backlog).
    var failureLog = RateLimit(perSecond: 1)
    private var verifyLog = RateLimit(perSecond: 10)
    /// Hears the replies to writes nobody waits for (the touch that goes with a memcached gat).
    private lazy var sideWrites = SideWriteConsumer(router: self)
    /// Repairs keys whose write had an unknown outcome.
    private(set) lazy var repairer = KeyRepairer(router: self)
    /// Servers whose backlog was appended to in this loop batch, flushed and pumped at its end.
    var touched: [ShardLink<Wire>] = []
    /// `endBatch` as a closure made once: a fresh closure per batch was an allocation per batch while
    /// a cluster is behind.
    lazy var endBatchOnce: () -> Void = { [unowned self] in self.endBatch() }
    /// Writes the disk backlogs' markers once the batch's direct sends are in the kernel.
    lazy var markers = BacklogMarkers(router: self)
    /// Called when a cluster's primary connection comes up (redis loads command metadata then).
    var onConnected: ((Int) -> Void)?
    /// Which reads are checked against another cluster (see `RoutedSession+Verification`).
    var verifier: ReadVerifier
    let verifySkipped: StatCounter
    /// The loop's backlog stores for this protocol (shared with the routers of later reloads).
    let stores: BacklogStores
    /// The router a reload replaced this one with: writes this one fails to deliver go there.
    var successor: ClusterRouter<Wire>?
    /// Per cluster, this loop's requests and round trips since the last tick.
    private var tallies: [RequestTally]
    let timeouts: TimeoutConfig
    let backendMaxInFlight: Int
    /// Clients' own connections (`DedicatedConnections`): their deadlines are checked on the tick.
    private var dedicated: [BackendConnection<Wire>] = []

    /// Whether any cluster has more than one server: only then do requests carry a placement and
    /// multi-key commands get split.
    let isSharded: Bool

    /// `servers` picks this protocol's list and sharding out of a cluster, `credentials` what its
    /// backend connections authenticate with (redis `redisAuth`; nil for memcached).
    init(loop: EventLoop, config: ProxyConfig, servers: (ClusterConfig) -> (list: [ServerConfig], sharding: ShardingConfig),
         credentials: (ClusterConfig) -> BackendCredentials? = { _ in nil },
         stats: [ClusterStats], verifySkipped: StatCounter, stores: BacklogStores, logger: Logger) {
        self.loop = loop
        // With one cluster there is nothing to verify against: sampling stays off.
        self.verifier = ReadVerifier(
            rate: config.clusters.count > 1 ? config.verify.sampleRate : 0, maxInFlight: config.verify.maxInFlight,
            seed: Posix.monotonicNanoseconds() | 1)
        self.verifySkipped = verifySkipped
        self.stores = stores
        self.tallies = Array(repeating: RequestTally(), count: config.clusters.count)
        self.policy = config.writeAck
        self.timeouts = config.timeouts
        self.backendMaxInFlight = config.limits.backendMaxInFlight
        var localMask: UInt64 = 0
        for (i, c) in config.clusters.enumerated() where c.local { localMask |= 1 << UInt64(i) }
        self.localMask = localMask
        self.latency = LatencyTracker(clusterCount: config.clusters.count)
        self.ranking = ReadRanking(clusterCount: config.clusters.count, localMask: localMask)
        var logger = logger
        logger[metadataKey: "protocol"] = "\(Wire.protocolName)"
        self.logger = logger
        let tickEvery = min(config.timeouts.request, config.timeouts.connect) / 4
        self.tickInterval = max(min(tickEvery, .milliseconds(100)), .milliseconds(5))
        self.probeInterval = UInt64(config.health.probeIntervalMs) * 1_000_000
        self.isSharded = config.clusters.contains { servers($0).list.count > 1 }
        for (i, cluster) in config.clusters.enumerated() {
            let (list, sharding) = servers(cluster)
            let clusterCredentials = credentials(cluster)
            let shards = list.enumerated().map { s, server in
                ShardLink<Wire>(
                    cluster: i, index: s, server: server, stats: stats[i],
                    backends: (0..<Wire.variants).map {
                        BackendConnection<Wire>(
                            endpoint: server.endpoint, cluster: i, shard: s, variant: $0, credentials: clusterCredentials,
                            loop: loop, observer: self,
                            timeouts: config.timeouts, maxInFlight: config.limits.backendMaxInFlight, logger: logger)
                    },
                    health: ClusterHealth(
                        failureLimit: config.health.failureLimit,
                        retryInitial: config.timeouts.reconnectMin.nanoseconds,
                        retryMax: config.timeouts.reconnectMax.nanoseconds),
                    backlog: stores.store(cluster: cluster.name, server: server, config: config.backlog),
                    journaled: config.backlog.durability == .disk && !cluster.local)
            }
            for shard in shards where !shard.backlog.counted {
                // Writes recovered from disk at start-up are held like any other.
                shard.backlog.counted = true
                stats[i].backlogEntries.add(shard.backlog.writes, ordering: .relaxed)
            }
            let shardMap = ShardMap(
                servers: list.map { ShardServer(host: $0.endpoint.host, port: $0.endpoint.port, weight: $0.weight, name: $0.name) },
                distribution: sharding.distribution, hash: sharding.hash, hashTag: sharding.hashTag)
            let link = ClusterLink<Wire>(
                index: i, name: cluster.name, isLocal: cluster.local, stats: stats[i], shards: shards, shardMap: shardMap,
                credentials: clusterCredentials)
            clusters.append(link)
            replayers.append(shards.map { BacklogReplayer(link: $0, rate: config.backlog.replayRate) })
        }
        _ = ranking.update(healthyMask: healthyMask, latency: latency)
        for replayer in replayers.joined() {
            // A journaled server drains after nearly every write and is readable once all is sent
            // (`ShardLink.isReadable`): the tick keeps its view, not a publish per write.
            if !replayer.link.journaled {
                replayer.drained = { [unowned self] in if !self.refreshRanking() { self.publishRanking() } }
            }
            // The replayer speaks on the primary connection (variant 0).
            replayer.repairUnknownOutcome = { [unowned self, unowned(unsafe) replayer] frame in
                self.repairer.repair(frame, target: replayer.link, variant: 0)
            }
        }
    }

    /// Connects every server's primary connection eagerly and starts the periodic tick.
    func start() {
        for link in clusters { for shard in link.shards { shard.primary.connect() } }
        publishRanking()
        tick = loop.schedule(after: tickInterval, repeating: tickInterval) { [unowned self] in self.onTick() }
    }

    /// Closes every connection; requests in flight are failed.
    func close() {
        tick?.cancel()
        tick = nil
        for link in clusters { for shard in link.shards { for backend in shard.backends { backend.close() } } }
        let clients = dedicated
        dedicated.removeAll()
        for backend in clients { backend.close() }
    }

    /// A client's own connection, opened by `DedicatedConnections`: its deadlines are checked here.
    func adoptDedicated(_ backend: BackendConnection<Wire>) {
        dedicated.append(backend)
    }

    /// The client closed `backend`.
    func releaseDedicated(_ backend: BackendConnection<Wire>) {
        if let i = dedicated.firstIndex(where: { $0 === backend }) { dedicated.swapAt(i, dedicated.count - 1); dedicated.removeLast() }
    }

    // MARK: health, latency, ranking

    private var healthyMask: UInt64 {
        var mask: UInt64 = 0
        for link in clusters where link.isReadable { mask |= 1 << UInt64(link.index) }
        return mask
    }

    /// Recomputes the read order; a change is published and logged at info level. Returns whether
    /// the order changed.
    @discardableResult
    func refreshRanking() -> Bool {
        guard ranking.update(healthyMask: healthyMask, latency: latency) else { return false }
        publishRanking()
        let order = ranking.order.prefix(ranking.healthyCount).map { clusters[$0].name }
        logger.info("read ranking changed", metadata: ["order": "\(order.joined(separator: ","))"])
        return true
    }

    func backendConnected(cluster: Int, shard: Int) {
        // The probe's reply marks the server up again and measures it.
        clusters[cluster].shards[shard].primary.probe()
        if shard == 0 { onConnected?(cluster) }
    }

    @_specialize(where Wire == RedisWire)
    @_specialize(where Wire == MemcachedWire)
    func backendAnswered(cluster: Int, shard: Int, rtt: UInt64) {
        latency.record(cluster: cluster, rttNanoseconds: rtt, at: loop.batchTime)
        tallies[cluster].recordReply(rttNanos: rtt)
        let server = clusters[cluster].shards[shard]
        if server.health.recordSuccess(at: loop.batchTime) == .cameUp {
            logger.info("server up", metadata: [
                "cluster": "\(clusters[cluster].name)", "server": "\(server.server)", "backlog": "\(server.heldWrites)",
            ])
            replayers[cluster][shard].pump()
            // The cluster's state is read from the published views: publish the change at once.
            if !refreshRanking() { publishRanking() }
        }
    }

    func backendFailed(cluster: Int, shard: Int, connecting: Bool) {
        let server = clusters[cluster].shards[shard]
        let now = loop.batchTime
        let transition = connecting ? server.health.recordConnectFailure(at: now) : server.health.recordFailure(at: now)
        if transition == .wentDown {
            logger.warning("server down", metadata: [
                "cluster": "\(clusters[cluster].name)", "server": "\(server.server)",
                "consecutiveFailures": "\(server.health.consecutiveFailures)",
            ])
            if !refreshRanking() { publishRanking() }
        }
    }

    private func onTick() {
        let now = Posix.monotonicNanoseconds()
        writeMarkers()
        stores.syncIfDue(nowMillis: Posix.wallClockMilliseconds())
        for link in clusters {
            let probe = latency.needsProbe(link.index, now: now, interval: probeInterval)
            for shard in link.shards {
                for backend in shard.backends { backend.checkDeadlines(now: now) }
                if probe && shard.health.state == .up {
                    if shard.primary.state == .idle { shard.primary.connect() }
                    shard.primary.probe()
                }
                replayers[link.index][shard.index].pump()
                for backend in shard.backends {
                    let (sent, failed) = backend.takeCounts()
                    tallies[link.index].requests += sent
                    tallies[link.index].errors += failed
                }
            }
            tallies[link.index].flush(into: link.stats)
        }
        for backend in dedicated { backend.checkDeadlines(now: now) }
        // Published every tick (servers down, latency, backlog age move without a ranking change).
        if !refreshRanking() { publishRanking() }
    }

    /// Puts this loop's view where /metrics and /status read it (see `ClusterStats.LoopView`).
    func publishRanking() {
        let healthy = ranking.order.prefix(ranking.healthyCount)
        for link in clusters {
            let rank = healthy.firstIndex(of: link.index).map { $0 - healthy.startIndex + 1 } ?? 0
            let oldest = link.shards.compactMap { $0.backlog.isEmpty ? nil : $0.backlog.oldestMillis }.min()
            let view = ClusterStats.LoopView(
                readRank: rank, serversDown: link.shardsDown, latencyNanos: latency.estimate(link.index),
                oldestBacklogMillis: oldest)
            link.stats.loopViews.withLock { $0[loop.index] = view }
        }
    }

    // MARK: writes

    /// Sends a write whose replies nobody waits for to every cluster but `except` (a cluster mask),
    /// to the server `placement` names: directly where that server can take it, to its backlog otherwise.
    func replicate(_ frame: UnsafeRawBufferPointer, placement: Placement, except: UInt64) {
        for link in clusters where except & (1 << UInt64(link.index)) == 0 {
            let shard = link.shards[placement.shard(link.index)]
            if shard.takesWritesDirectly && shard.primary.send(frame, consumer: sideWrites, tag: UInt64(shard.index)) { continue }
            keepForLater(frame, shard: shard)
        }
    }

    /// Logs a verification mismatch (rate-limited: a drifted cluster would otherwise flood the log).
    func reportMismatch(key: [UInt8], answered: Int, against: Int) {
        guard verifyLog.allow(now: loop.batchTime) else { return }
        logger.warning("read verification mismatch", metadata: [
            "key": "\(String(decoding: key.prefix(200), as: UTF8.self))",
            "cluster": "\(clusters[answered].name)", "against": "\(clusters[against].name)",
        ])
    }

    /// Records clusters whose reply to a write differed from the answered one's.
    func noteDivergence(answered: Int, divergent: UInt64, rejected: UInt64) {
        var mask = divergent | rejected
        while mask != 0 {
            let c = mask.trailingZeroBitCount
            mask &= mask - 1
            let stats = clusters[c].stats
            if rejected & (1 << UInt64(c)) != 0 {
                stats.rejectedWrites.bump()
            } else {
                stats.divergentReplies.bump()
            }
            if failureLog.allow(now: loop.batchTime) {
                logger.warning("clusters replied differently to a write", metadata: [
                    "answeredBy": "\(clusters[answered].name)", "differs": "\(clusters[c].name)",
                    "kind": "\(rejected & (1 << UInt64(c)) != 0 ? "error reply" : "different reply")",
                ])
            }
        }
    }
}

/// Takes the replies of `ClusterRouter.replicate`: nothing to answer, but a write whose connection
/// failed is kept for later like any other. The tag is the server's index in its cluster.
private final class SideWriteConsumer<Wire: BackendWire>: ReplyConsumer {
    unowned(unsafe) let router: ClusterRouter<Wire>

    init(router: ClusterRouter<Wire>) {
        self.router = router
    }

    func backendReplied(tag: UInt64, cluster: Int, reply: UnsafeRawBufferPointer) {}

    func backendFailed(tag: UInt64, cluster: Int, request: UnsafeRawBufferPointer, reply: UnsafeRawBufferPointer) {
        router.keepAfterFailure(request, shard: router.clusters[cluster].shards[Int(tag)], variant: 0)
    }
}
