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
    private var replayers: [BacklogReplayer<Wire>] = []
    private(set) var latency: LatencyTracker
    private(set) var ranking: ReadRanking
    private var logger: Logger
    private var tick: LoopTimer?
    private let tickInterval: Duration
    private let probeInterval: UInt64
    /// One limiter for the log lines of hot failure paths (divergence, full backlog).
    private var failureLog = RateLimit(perSecond: 1)
    /// Hears the replies to writes nobody waits for (the touch that goes with a memcached gat).
    private lazy var sideWrites = SideWriteConsumer(router: self)
    /// Called when a cluster's primary connection comes up (redis loads command metadata then).
    var onConnected: ((Int) -> Void)?

    init(loop: EventLoop, config: ProxyConfig, servers: (ClusterConfig) -> [Endpoint], stats: [ClusterStats],
         logger: Logger) {
        self.loop = loop
        self.policy = config.writeAck
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
        for (i, cluster) in config.clusters.enumerated() {
            // This issue: each cluster's first server (sharding comes with issue #5).
            let endpoint = servers(cluster)[0]
            let backends = (0..<Wire.variants).map {
                BackendConnection<Wire>(
                    endpoint: endpoint, cluster: i, variant: $0, loop: loop, observer: self,
                    timeouts: config.timeouts, maxInFlight: config.limits.backendMaxInFlight, logger: logger)
            }
            let link = ClusterLink<Wire>(
                index: i, name: cluster.name, isLocal: cluster.local, stats: stats[i], backends: backends,
                health: ClusterHealth(
                    failureLimit: config.health.failureLimit,
                    retryInitial: config.timeouts.reconnectMin.nanoseconds,
                    retryMax: config.timeouts.reconnectMax.nanoseconds),
                backlog: MissedWriteBacklog(maxBytes: config.backlog.maxBytes, maxEntries: config.backlog.maxEntries))
            clusters.append(link)
            replayers.append(BacklogReplayer(link: link))
        }
        _ = ranking.update(healthyMask: healthyMask, latency: latency)
    }

    /// Connects every cluster's primary connection eagerly and starts the periodic tick.
    func start() {
        for link in clusters { link.primary.connect() }
        tick = loop.schedule(after: tickInterval, repeating: tickInterval) { [unowned self] in self.onTick() }
    }

    /// Closes every connection; requests in flight are failed.
    func close() {
        tick?.cancel()
        tick = nil
        for link in clusters { for backend in link.backends { backend.close() } }
    }

    // MARK: health, latency, ranking

    private var healthyMask: UInt64 {
        var mask: UInt64 = 0
        for link in clusters where link.isReadable { mask |= 1 << UInt64(link.index) }
        return mask
    }

    /// Recomputes the read order; ranking changes are logged at info level.
    func refreshRanking() {
        if ranking.update(healthyMask: healthyMask, latency: latency) {
            let order = ranking.order.prefix(ranking.healthyCount).map { clusters[$0].name }
            logger.info("read ranking changed", metadata: ["order": "\(order.joined(separator: ","))"])
        }
    }

    func backendConnected(cluster: Int) {
        // The probe's reply marks the cluster up again and measures it.
        clusters[cluster].primary.probe()
        onConnected?(cluster)
    }

    func backendAnswered(cluster: Int, rtt: UInt64) {
        latency.record(cluster: cluster, rttNanoseconds: rtt, at: loop.batchTime)
        let link = clusters[cluster]
        if link.health.recordSuccess(at: loop.batchTime) == .cameUp {
            link.stats.loopsDown.subtract(1, ordering: .relaxed)
            logger.info("cluster up", metadata: ["cluster": "\(link.name)", "backlog": "\(link.heldWrites)"])
            replayers[cluster].pump()
            refreshRanking()
        }
    }

    func backendFailed(cluster: Int, connecting: Bool) {
        let link = clusters[cluster]
        let now = loop.batchTime
        let transition = connecting ? link.health.recordConnectFailure(at: now) : link.health.recordFailure(at: now)
        if transition == .wentDown {
            link.stats.loopsDown.add(1, ordering: .relaxed)
            logger.warning("cluster down", metadata: [
                "cluster": "\(link.name)", "consecutiveFailures": "\(link.health.consecutiveFailures)",
            ])
            refreshRanking()
        }
    }

    private func onTick() {
        let now = Posix.monotonicNanoseconds()
        for link in clusters {
            for backend in link.backends { backend.checkDeadlines(now: now) }
            if link.health.state == .up && latency.needsProbe(link.index, now: now, interval: probeInterval) {
                if link.primary.state == .idle { link.primary.connect() }
                link.primary.probe()
            }
            replayers[link.index].pump()
        }
        refreshRanking()
    }

    // MARK: writes

    /// Sends a write whose replies nobody waits for to every cluster but `except` (a cluster mask):
    /// directly where the cluster can take it, to its backlog otherwise.
    func replicate(_ frame: UnsafeRawBufferPointer, except: UInt64) {
        for link in clusters where except & (1 << UInt64(link.index)) == 0 {
            if link.takesWritesDirectly && link.primary.send(frame, consumer: sideWrites, tag: 0) { continue }
            keepForLater(frame, link: link)
        }
    }

    /// Keeps `frame` for `link`'s cluster; counted as missed, or as dropped when the backlog is full.
    func keepForLater(_ frame: UnsafeRawBufferPointer, link: ClusterLink<Wire>) {
        let kept = Wire.frameForLater(frame, nowSeconds: Posix.wallClockMilliseconds() / 1000) ?? Array(frame)
        if link.backlog.append(kept) {
            ClusterStats.bump(link.stats.missedWrites)
            link.stats.backlogEntries.add(1, ordering: .relaxed)
        } else {
            ClusterStats.bump(link.stats.droppedWrites)
            if failureLog.allow(now: loop.batchTime) {
                logger.error("backlog full, write dropped for cluster", metadata: [
                    "cluster": "\(link.name)", "entries": "\(link.backlog.count)", "bytes": "\(link.backlog.bytes)",
                ])
            }
        }
    }

    /// Records clusters whose reply to a write differed from the answered one's.
    func noteDivergence(answered: Int, divergent: UInt64, rejected: UInt64) {
        var mask = divergent | rejected
        while mask != 0 {
            let c = mask.trailingZeroBitCount
            mask &= mask - 1
            let stats = clusters[c].stats
            if rejected & (1 << UInt64(c)) != 0 {
                ClusterStats.bump(stats.rejectedWrites)
            } else {
                ClusterStats.bump(stats.divergentReplies)
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
/// failed is kept for later like any other.
private final class SideWriteConsumer<Wire: BackendWire>: ReplyConsumer {
    unowned(unsafe) let router: ClusterRouter<Wire>

    init(router: ClusterRouter<Wire>) {
        self.router = router
    }

    func backendReplied(tag: UInt64, cluster: Int, reply: UnsafeRawBufferPointer) {}

    func backendFailed(tag: UInt64, cluster: Int, request: UnsafeRawBufferPointer, reply: UnsafeRawBufferPointer) {
        router.keepForLater(request, link: router.clusters[cluster])
    }
}
