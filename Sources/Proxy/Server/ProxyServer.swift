import Dispatch
import EventLoop
import Logging

/// The running daemon: one event loop per worker, each with its own listener and backend
/// connections, and the start/shutdown sequence around them.
///
/// Contract: `start()` binds every listener or throws (nothing is left running on failure);
/// `shutdown(timeout:)` stops accepting, lets in-flight requests finish until the timeout, then
/// closes everything. Both are called from outside the loops.
public final class ProxyServer: @unchecked Sendable {
    private let config: ProxyConfig
    private let logger: Logger
    private var loops: [DispatchEpollLoop] = []
    private var workers: [RedisWorker] = []
    private let clientCount = ClientCounter()
    private let clusterStats: [ClusterStats]

    public init(config: ProxyConfig, logger: Logger) {
        self.config = config
        self.logger = logger
        self.clusterStats = config.clusters.map { ClusterStats(name: $0.name, isLocal: $0.local) }
    }

    /// The redis listener's bound address (useful when the configured port is 0).
    public private(set) var redisAddress: SocketAddress?

    public func start() throws {
        Posix.ignoreSIGPIPE()
        guard let redis = config.listen.redis else { return }
        var address = try SocketAddress(host: redis.host, port: redis.port)
        do {
            for index in 0..<config.workers {
                let loop = try DispatchEpollLoop(index: index, idleWaitMicros: config.loopIdleWaitMicros)
                loops.append(loop)
                let worker = RedisWorker(
                    loop: loop, config: config, stats: clusterStats, listenAddress: address, clientCount: clientCount,
                    logger: logger)
                workers.append(worker)
                try onLoop(loop) { try worker.start() }
                // Port 0 picks a free port once; every other worker joins that same port.
                if let bound = onLoop(loop, { worker.boundAddress }) { address = bound }
            }
        } catch {
            for (loop, worker) in zip(loops, workers) {
                onLoop(loop) { worker.closeAll() }
                loop.shutdown()
            }
            loops = []
            workers = []
            throw error
        }
        redisAddress = address
        logger.info("listening", metadata: [
            "redis": "\(address)", "workers": "\(config.workers)",
            "clusters": "\(config.clusters.map { "\($0.name)\($0.local ? "(local)" : "")=\($0.redis[0])" }.joined(separator: " "))",
            "writeAck": "\(config.writeAck.rawValue)",
        ])
    }

    /// Graceful stop: no new connections, in-flight requests get their replies, then everything closes.
    public func shutdown(timeout: Duration) async {
        logger.info("shutting down", metadata: ["timeout": "\(timeout)"])
        for (loop, worker) in zip(loops, workers) {
            onLoop(loop) {
                worker.stopAccepting()
                worker.drainClients()
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
        for (loop, worker) in zip(loops, workers) {
            onLoop(loop) { worker.closeAll() }
            loop.shutdown()
        }
        logger.info("stopped")
    }

    private func snapshot() -> (clients: Int, inFlight: Int) {
        var clients = 0
        var inFlight = 0
        for (loop, worker) in zip(loops, workers) {
            onLoop(loop) {
                clients += worker.activeClients
                inFlight += worker.requestsInFlight
            }
        }
        return (clients, inFlight)
    }

    /// Runs `body` on `loop` and waits for it; for start-up and shutdown only, never from a loop.
    private func onLoop<T>(_ loop: DispatchEpollLoop, _ body: () throws -> T) rethrows -> T {
        try loop.runAndWait(body)
    }
}
