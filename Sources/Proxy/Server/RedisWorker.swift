import EventLoop
import Logging
import RedisProtocol
import Synchronization

/// Everything one loop owns for the redis front end: its listener, its client sessions, and its
/// backend connections (one per server and protocol version, shared by the loop's clients).
///
/// Contract: created on any thread, then used only on `loop` (every method but `init`).
final class RedisWorker {
    /// unowned(unsafe): the server keeps every loop alive longer than its workers; a checked
    /// unowned reference costs an atomic increment on each of the many accesses per request.
    unowned(unsafe) let loop: EventLoop
    let limits: LimitConfig
    let commands = CommandTable.builtin
    /// Shared by all sessions on this loop: parsing is synchronous, so one reusable parser suffices.
    var parser: RequestParser
    let advertisedVersion: String
    private let listenAddress: SocketAddress
    private let clientCount: ClientCounter
    private var logger: Logger
    private var listener: Listener?
    private var sessions: [ObjectIdentifier: RedisClientSession] = [:]
    private var backends: [BackendConnection]
    private var tick: LoopTimer?
    private var nextSessionSerial = 0
    private let workerCount: Int
    var protocolErrors = 0

    init(loop: EventLoop, config: ProxyConfig, listenAddress: SocketAddress, clientCount: ClientCounter, logger: Logger) {
        self.loop = loop
        self.limits = config.limits
        self.parser = RequestParser(limits: RESPLimits(
            maxBulkBytes: config.limits.maxBulkBytes,
            maxMultibulkLength: config.limits.maxMultibulkLength,
            maxInlineBytes: config.limits.maxInlineBytes))
        self.advertisedVersion = "7.0.0"
        self.listenAddress = listenAddress
        self.clientCount = clientCount
        self.workerCount = config.workers
        var logger = logger
        logger[metadataKey: "loop"] = "\(loop.index)"
        self.logger = logger
        // This routing: the first cluster's first redis server (replication comes next).
        let server = config.clusters[0].redis[0]
        self.backends = [2, 3].map {
            BackendConnection(endpoint: server, protocolVersion: $0, loop: loop, timeouts: config.timeouts, logger: logger)
        }
        let tickEvery = min(config.timeouts.request, config.timeouts.connect) / 4
        self.tickInterval = max(tickEvery, .milliseconds(5))
    }

    private let tickInterval: Duration

    /// Binds the listener and connects the RESP2 backend connection eagerly.
    func start() throws {
        listener = try Listener(
            address: listenAddress, loop: loop,
            onAccept: { [unowned self] fd in self.accept(fd) },
            onError: { [unowned self] error in self.logger.error("accept failed", metadata: ["error": "\(error)"]) })
        backends[0].connect()
        tick = loop.schedule(after: tickInterval, repeating: tickInterval) { [unowned self] in
            let now = Posix.monotonicNanoseconds()
            for backend in backends { backend.checkDeadlines(now: now) }
        }
    }

    var boundAddress: SocketAddress? { listener?.address }

    @inline(__always)
    func backend(protocolVersion: Int) -> BackendConnection {
        backends[protocolVersion == 3 ? 1 : 0]
    }

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
        for backend in backends { backend.close() }
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
