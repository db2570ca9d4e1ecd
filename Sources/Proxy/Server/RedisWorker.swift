import EventLoop
import Logging
import RedisProtocol
import Routing
import Synchronization

/// Everything one loop owns for the redis front end: its listener, its client sessions, and a link
/// to every cluster (backend connections shared by the loop's clients, health, backlog), plus the
/// read ranking built from health and measured latency.
///
/// Contract: created on any thread, then used only on `loop` (every method but `init`).
final class RedisWorker: BackendObserver {
    /// unowned(unsafe): the server keeps every loop alive longer than its workers; a checked
    /// unowned reference costs an atomic increment on each of the many accesses per request.
    unowned(unsafe) let loop: EventLoop
    let limits: LimitConfig
    /// The built-in table, merged with the server's own `COMMAND` metadata once a server answered it.
    private(set) var commands = CommandTable.builtin
    private var commandMetadata: CommandMetadataLoader.State = .notRequested
    /// Shared by all sessions on this loop: parsing is synchronous, so one reusable parser suffices.
    var parser: RequestParser
    let advertisedVersion: String
    let policy: AckPolicy
    let localMask: UInt64
    private(set) var clusters: [RedisClusterLink] = []
    private var replayers: [BacklogReplayer] = []
    var latency: LatencyTracker
    private(set) var ranking: ReadRanking
    private let listenAddress: SocketAddress
    private let clientCount: ClientCounter
    private var logger: Logger
    private var listener: Listener?
    private var sessions: [ObjectIdentifier: RedisClientSession] = [:]
    private var tick: LoopTimer?
    private var nextSessionSerial = 0
    private let workerCount: Int
    private let tickInterval: Duration
    private let probeInterval: UInt64
    /// One limiter for the log lines of hot failure paths (divergence, full backlog).
    private var failureLog = RateLimit(perSecond: 1)

    init(loop: EventLoop, config: ProxyConfig, stats: [ClusterStats], listenAddress: SocketAddress,
         clientCount: ClientCounter, logger: Logger) {
        self.loop = loop
        self.limits = config.limits
        self.parser = RequestParser(limits: RESPLimits(
            maxBulkBytes: config.limits.maxBulkBytes,
            maxMultibulkLength: config.limits.maxMultibulkLength,
            maxInlineBytes: config.limits.maxInlineBytes))
        self.advertisedVersion = "7.0.0"
        self.policy = config.writeAck
        var localMask: UInt64 = 0
        for (i, c) in config.clusters.enumerated() where c.local { localMask |= 1 << UInt64(i) }
        self.localMask = localMask
        self.latency = LatencyTracker(clusterCount: config.clusters.count)
        self.ranking = ReadRanking(clusterCount: config.clusters.count, localMask: localMask)
        self.listenAddress = listenAddress
        self.clientCount = clientCount
        self.workerCount = config.workers
        var logger = logger
        logger[metadataKey: "loop"] = "\(loop.index)"
        self.logger = logger
        let tickEvery = min(config.timeouts.request, config.timeouts.connect) / 4
        self.tickInterval = max(min(tickEvery, .milliseconds(100)), .milliseconds(5))
        self.probeInterval = UInt64(config.health.probeIntervalMs) * 1_000_000
        for (i, cluster) in config.clusters.enumerated() {
            // This issue: each cluster's first redis server (sharding comes with issue #5).
            let backends = [2, 3].map {
                BackendConnection(
                    endpoint: cluster.redis[0], cluster: i, protocolVersion: $0, loop: loop, observer: self,
                    timeouts: config.timeouts, maxInFlight: config.limits.backendMaxInFlight, logger: logger)
            }
            let link = RedisClusterLink(
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

    /// Binds the listener and connects every cluster's RESP2 connection eagerly.
    func start() throws {
        listener = try Listener(
            address: listenAddress, loop: loop,
            onAccept: { [unowned self] fd in self.accept(fd) },
            onError: { [unowned self] error in self.logger.error("accept failed", metadata: ["error": "\(error)"]) })
        for link in clusters { link.backends[0].connect() }
        tick = loop.schedule(after: tickInterval, repeating: tickInterval) { [unowned self] in self.onTick() }
    }

    var boundAddress: SocketAddress? { listener?.address }

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
        clusters[cluster].backends[0].probe()
        if commandMetadata == .notRequested {
            commandMetadata = .requested
            let loader = CommandMetadataLoader(worker: self)
            let sent = CommandMetadataLoader.request.withUnsafeBytes {
                clusters[cluster].backends[0].send($0, consumer: loader, tag: 0)
            }
            if !sent { commandMetadata = .notRequested }
        }
    }

    /// The server's COMMAND reply arrived (nil: the request failed; it is asked again on a later connect).
    func commandMetadataArrived(_ reply: RESPValue?) {
        guard let reply else {
            commandMetadata = .notRequested
            return
        }
        commandMetadata = .loaded
        let (merged, added) = commands.merging(serverCommands: reply)
        commands = merged
        logger.debug("command metadata merged from server", metadata: ["addedCommands": "\(added)"])
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
                if link.backends[0].state == .idle { link.backends[0].connect() }
                link.backends[0].probe()
            }
            replayers[link.index].pump()
        }
        refreshRanking()
    }

    // MARK: writes a cluster cannot take

    /// Keeps `frame` for `link`'s cluster; counted as missed, or as dropped when the backlog is full.
    func keepForLater(_ frame: UnsafeRawBufferPointer, link: RedisClusterLink) {
        if link.backlog.append(Array(frame)) {
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

    // MARK: clients

    private func accept(_ fd: Int32) {
        guard clientCount.tryAdd(limit: limits.maxClients) else {
            logger.warning("client limit reached, refusing connection", metadata: ["maxClients": "\(limits.maxClients)"])
            Posix.close(fd)
            return
        }
        nextSessionSerial += 1
        let id = nextSessionSerial * workerCount + loop.index
        var sessionLogger = logger
        sessionLogger[metadataKey: "client"] = "\(id)"
        let placeholder = PendingDelegate()
        do {
            let channel = try SocketChannel.adopt(fd: fd, loop: loop, delegate: placeholder)
            let session = RedisClientSession(id: id, channel: channel, worker: self, logger: sessionLogger)
            channel.delegate = session
            sessions[ObjectIdentifier(session)] = session
        } catch {
            clientCount.remove()
            logger.error("cannot register client", metadata: ["error": "\(error)"])
        }
    }

    func sessionClosed(_ session: RedisClientSession) {
        if sessions.removeValue(forKey: ObjectIdentifier(session)) != nil {
            clientCount.remove()
        }
    }

    /// Closes the listener; connected clients keep being served.
    func stopAccepting() {
        listener?.close()
        listener = nil
    }

    /// Asks every client to finish what it has in flight and then disconnect.
    func drainClients() {
        for session in Array(sessions.values) { session.drain() }
    }

    var activeClients: Int { sessions.count }
    var requestsInFlight: Int { sessions.values.reduce(0) { $0 + $1.outstanding } }

    /// Closes everything that is left.
    func closeAll() {
        tick?.cancel()
        stopAccepting()
        for session in Array(sessions.values) { session.channel.close() }
        for link in clusters { for backend in link.backends { backend.close() } }
    }
}

/// Asks one server for `COMMAND` and hands the parsed reply to the worker.
final class CommandMetadataLoader: ReplyConsumer {
    enum State { case notRequested, requested, loaded }
    static let request: [UInt8] = Array("*1\r\n$7\r\nCOMMAND\r\n".utf8)
    /// Strong: the loader lives only until its one reply, and the worker outlives it.
    let worker: RedisWorker

    init(worker: RedisWorker) {
        self.worker = worker
    }

    func backendReplied(tag: UInt64, cluster: Int, reply: UnsafeRawBufferPointer) {
        worker.commandMetadataArrived(try? RESPValue.parse(Array(reply)).0)
    }

    func backendFailed(tag: UInt64, cluster: Int, request: UnsafeRawBufferPointer, reply: UnsafeRawBufferPointer) {
        worker.commandMetadataArrived(nil)
    }
}

/// Lets through at most `perSecond` events per second (for log lines on hot failure paths).
struct RateLimit {
    let perSecond: Int
    private var windowStart: UInt64 = 0
    private var count = 0

    init(perSecond: Int) {
        self.perSecond = perSecond
    }

    mutating func allow(now: UInt64) -> Bool {
        if now &- windowStart >= 1_000_000_000 {
            windowStart = now
            count = 0
        }
        count += 1
        return count <= perSecond
    }
}

/// Counts clients across all loops, for `maxClients`.
final class ClientCounter: Sendable {
    private let count = Atomic<Int>(0)

    func tryAdd(limit: Int) -> Bool {
        let now = count.add(1, ordering: .relaxed).newValue
        if now > limit {
            count.subtract(1, ordering: .relaxed)
            return false
        }
        return true
    }

    func remove() {
        count.subtract(1, ordering: .relaxed)
    }

    var value: Int { count.load(ordering: .relaxed) }
}

/// Stands in for a session during the instant between adopting a socket and creating the session.
private final class PendingDelegate: ChannelDelegate {
    func channelConnected(_ channel: SocketChannel) {}
    func channelRead(_ channel: SocketChannel) {}
    func channelInputClosed(_ channel: SocketChannel) {}
    func channelDrained(_ channel: SocketChannel) {}
    func channelClosed(_ channel: SocketChannel, error: Error?) {}
}
