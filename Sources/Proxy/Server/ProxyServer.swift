import Dispatch
import EventLoop
import Logging
import Synchronization

/// The running daemon: one event loop per worker, each with its own listeners (redis, memcached),
/// client sessions and backend connections, and the start/shutdown sequence around them.
///
/// Contract: `start()` binds every listener or throws (nothing is left running on failure);
/// `shutdown(timeout:)` stops accepting, lets in-flight requests finish until the timeout, then
/// closes everything. Both are called from outside the loops.
public final class ProxyServer: @unchecked Sendable {
    /// The configuration in force (replaced by a reload).
    var config: ProxyConfig { state.withLock { $0.config } }
    let configPath: String?
    let logger: Logger
    let metrics = ProxyMetrics()
    /// Shared counters, per protocol and cluster name: a cluster keeps its counts across reloads.
    let clusterStats: ClusterStatsDirectory
    let redisVerifySkipped: StatCounter
    let memcachedVerifySkipped: StatCounter
    let state: Mutex<ServerState>
    /// One reload at a time (SIGHUP and `POST /reload` may race).
    let reloadLock = Mutex(())
    let reloadsApplied: StatCounter
    let reloadsRejected: StatCounter
    private(set) var loops: [any EventLoop] = []
    /// Per loop, its front ends (same index as `loops`).
    private(set) var frontEnds: [[FrontEnd]] = []
    /// The admin listener runs on a loop of its own, away from client traffic.
    private var adminLoop: (any EventLoop)?
    private(set) var adminServer: AdminServer?
    let redisClients: ClientCounter
    let memcachedClients: ClientCounter
    private let memcachedCounters: [MemcachedCounters]
    let startedAt = Posix.wallClockMilliseconds() / 1000

    public init(config: ProxyConfig, configPath: String? = nil, logger: Logger) {
        self.configPath = configPath
        self.logger = logger
        self.state = Mutex(ServerState(config: config))
        self.clusterStats = ClusterStatsDirectory(metrics: metrics)
        self.redisClients = ClientCounter(listener: "redis", metrics: metrics)
        self.memcachedClients = ClientCounter(listener: "memcached", metrics: metrics)
        self.redisVerifySkipped = StatCounter(metrics.counter("metacluster_verify_skipped_total", ["protocol": "redis"]))
        self.memcachedVerifySkipped = StatCounter(metrics.counter("metacluster_verify_skipped_total", ["protocol": "memcached"]))
        self.memcachedCounters = (0..<config.workers).map { _ in MemcachedCounters() }
        self.reloadsApplied = StatCounter(metrics.counter("metacluster_reloads_total", ["result": "applied"]))
        self.reloadsRejected = StatCounter(metrics.counter("metacluster_reloads_total", ["result": "rejected"]))
    }

    /// The redis listener's bound address (useful when the configured port is 0).
    public private(set) var redisAddress: SocketAddress?
    /// The memcached listener's bound address.
    public private(set) var memcachedAddress: SocketAddress?
    /// The admin listener's bound address.
    public private(set) var adminAddress: SocketAddress?

    public func start() throws {
        Posix.ignoreSIGPIPE()
        let config = self.config
        let redisStats = clusterStats.stats(protocol: "redis", config: config)
        let memcachedStats = clusterStats.stats(protocol: "memcached", config: config)
        var redis = try config.listen.redis.map { try SocketAddress(host: $0.host, port: $0.port) }
        var memcached = try config.listen.memcached.map { try SocketAddress(host: $0.host, port: $0.port) }
        do {
            for index in 0..<config.workers {
                let loop = try Self.makeLoop(config, index: index)
                loops.append(loop)
                var ends: [FrontEnd] = []
                frontEnds.append([])
                if let address = redis {
                    let worker = RedisWorker(
                        loop: loop, config: config, stats: redisStats, verifySkipped: redisVerifySkipped, listenAddress: address,
                        clientCount: redisClients, startedAt: startedAt, logger: logger)
                    ends.append(worker)
                    frontEnds[index] = ends
                    // Port 0 picks a free port once; every other worker joins that same port.
                    redis = try onLoop(loop) { try worker.start(); return worker.boundAddress } ?? address
                }
                if let address = memcached {
                    let worker = MemcachedWorker(
                        loop: loop, config: config, stats: memcachedStats, verifySkipped: memcachedVerifySkipped,
                        counters: memcachedCounters,
                        listenAddress: address, clientCount: memcachedClients, startedAt: startedAt, logger: logger)
                    ends.append(worker)
                    frontEnds[index] = ends
                    memcached = try onLoop(loop) { try worker.start(); return worker.boundAddress } ?? address
                }
            }
        } catch {
            stopWorkers()
            throw error
        }
        redisAddress = redis
        memcachedAddress = memcached
        if let admin = config.listen.admin {
            do {
                let address = try SocketAddress(host: admin.host, port: admin.port)
                let loop = try Self.makeLoop(config, index: config.workers, admin: true)
                let server = AdminServer(address: address, loop: loop, handler: self, logger: logger)
                adminLoop = loop
                adminServer = server
                adminAddress = try loop.runAndWait { try server.start(); return server.boundAddress }
            } catch {
                adminLoop?.shutdown()
                adminLoop = nil
                adminServer = nil
                stopWorkers()
                throw error
            }
        }
        logger.info("listening", metadata: [
            "redis": "\(redis.map { "\($0)" } ?? "-")", "memcached": "\(memcached.map { "\($0)" } ?? "-")",
            "admin": "\(adminAddress.map { "\($0)" } ?? "-")",
            "workers": "\(config.workers)",
            "eventLoop": "\(config.eventLoop.rawValue)",
            "clusters": "\(config.clusters.map { "\($0.name)\($0.local ? "(local)" : "")" }.joined(separator: " "))",
            "writeAck": "\(config.writeAck.rawValue)",
        ])
    }

    /// Graceful stop: no new connections, in-flight requests get their replies, then everything closes.
    public func shutdown(timeout: Duration) async {
        let loops = self.loops
        logger.info("shutting down", metadata: ["timeout": "\(timeout)"])
        for (loop, ends) in zip(loops, frontEnds) {
            onLoop(loop) {
                for end in ends {
                    end.stopAccepting()
                    end.drainClients()
                }
            }
        }
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            let (clients, inFlight) = snapshot()
            if clients == 0 { break }
            if ContinuousClock.now + .milliseconds(20) >= deadline {
                logger.warning("shutdown deadline reached", metadata: ["clients": "\(clients)", "requestsInFlight": "\(inFlight)"])
            }
            try? await Task.sleep(for: .milliseconds(20))
        }
        if let adminLoop, let adminServer {
            adminLoop.runAndWait { adminServer.close() }
            adminLoop.shutdown()
            self.adminServer = nil
            self.adminLoop = nil
        }
        stopWorkers()
        logger.info("stopped")
    }

    /// Closes every front end (clients, backend connections) and stops the worker loops.
    private func stopWorkers() {
        for (loop, ends) in zip(loops, frontEnds) {
            onLoop(loop) { for end in ends { end.closeAll() } }
            loop.shutdown()
        }
        loops = []
        frontEnds = []
    }

    private func snapshot() -> (clients: Int, inFlight: Int) {
        var clients = 0
        var inFlight = 0
        for (loop, ends) in zip(loops, frontEnds) {
            onLoop(loop) {
                for end in ends {
                    clients += end.activeClients
                    inFlight += end.requestsInFlight
                }
            }
        }
        return (clients, inFlight)
    }

    /// Runs `body` on `loop` and waits for it; for start-up and shutdown only, never from a loop.
    private func onLoop<T, E: Error>(_ loop: any EventLoop, _ body: () throws(E) -> T) throws(E) -> T {
        try loop.runAndWait(body)
    }

    /// A worker (or the admin) loop of the configured backend. `loopIdleWaitMicros` is how long a
    /// worker loop waits in place for more events after a busy wake-up: parked in `epoll_pwait2` on
    /// the dispatch loop (which saves libdispatch's hand-off), polling on the libev loop (which saves
    /// the scheduler's wake-ups). The admin loop never waits: its traffic is rare.
    private static func makeLoop(_ config: ProxyConfig, index: Int, admin: Bool = false) throws -> any EventLoop {
        switch config.eventLoop {
        case .dispatch: try DispatchEpollLoop(index: index, idleWaitMicros: admin ? 0 : config.loopIdleWaitMicros)
        case .libev: try LibevLoop(index: index, spinMicros: admin ? 0 : config.loopIdleWaitMicros)
        }
    }
}

extension ProxyServer: AdminHandler {}
