import EventLoop
import Logging
import RedisProtocol
import Routing

/// Everything one loop owns for the redis front end: its listener and client sessions, the request
/// parser and command table they share, and the router to every cluster's redis servers.
///
/// Contract: created on any thread, then used only on `loop` (every method but `init`).
final class RedisWorker: FrontEnd {
    /// unowned(unsafe): the server keeps every loop alive longer than its workers; a checked
    /// unowned reference costs an atomic increment on each of the many accesses per request.
    unowned(unsafe) let loop: EventLoop
    private(set) var limits: LimitConfig
    /// Who may use the listener (`requirepass`, `users`); replaced by a reload, so the next AUTH
    /// checks the new passwords.
    private(set) var clientAuth: ClientAuthenticator
    /// Failed AUTH log lines: a client guessing passwords must not flood the log (all are counted).
    var authFailureLog = RateLimit(perSecond: 10)
    /// The administrative commands the config lets through (`allowCommands`, plus FLUSHALL and
    /// FLUSHDB under `allowFlush`); see `RedisClientSession+Admin`.
    private(set) var allowedCommands: AdminAllowList
    /// The built-in table, merged with the server's own `COMMAND` metadata once a server answered it.
    private(set) var commands = CommandTable.builtin
    private var commandMetadata: CommandMetadataLoader.State = .notRequested
    /// Shared by all sessions on this loop: parsing is synchronous, so one reusable parser suffices.
    var parser: RequestParser
    /// The script bodies this loop's clients sent, for repairing a cluster that lost one
    /// (`RedisClientSession+Scripts`).
    var scripts = ScriptCache()
    let advertisedVersion: String
    /// The current router; sessions may still be on an older one for a moment after a reload.
    private(set) var router: ClusterRouter<RedisWire>
    /// This loop's backlog stores, kept across reloads.
    private let stores: BacklogStores
    private let handover: RouterHandover<RedisWire>
    private let verifySkipped: StatCounter
    /// The listener's shared client count and protocol-error counter.
    let clientCount: ClientCounter
    /// Unix seconds the server started, for INFO.
    let startedAt: Int64
    private let acceptor: ClientAcceptor<RedisClientSession>
    private var logger: Logger

    init(loop: EventLoop, config: ProxyConfig, stats: [ClusterStats], verifySkipped: StatCounter, listenAddress: SocketAddress,
         clientCount: ClientCounter, startedAt: Int64, logger: Logger) {
        self.loop = loop
        self.verifySkipped = verifySkipped
        self.handover = RouterHandover(loop: loop)
        self.stores = BacklogStores(protocolName: "redis", loopIndex: loop.index, loopCount: config.workers, logger: logger)
        self.clientCount = clientCount
        self.startedAt = startedAt
        self.limits = config.limits
        self.clientAuth = ClientAuthenticator(config.clientAuth)
        self.allowedCommands = Self.allowList(config)
        self.parser = RequestParser(limits: RESPLimits(
            maxBulkBytes: config.limits.maxBulkBytes,
            maxMultibulkLength: config.limits.maxMultibulkLength,
            maxInlineBytes: config.limits.maxInlineBytes))
        self.advertisedVersion = "7.0.0"
        var logger = logger
        logger[metadataKey: "loop"] = "\(loop.index)"
        self.logger = logger
        self.router = ClusterRouter(loop: loop, config: config, servers: { ($0.redis, $0.redisSharding) }, credentials: { $0.redisAuth }, stats: stats, verifySkipped: verifySkipped, stores: stores, logger: logger)
        self.acceptor = ClientAcceptor(
            loop: loop, address: listenAddress, clientCount: clientCount, maxClients: config.limits.maxClients,
            workerCount: config.workers, logger: logger)
        acceptor.makeSession = { [unowned self] id, channel, logger in
            RedisClientSession(id: id, channel: channel, worker: self, logger: logger)
        }
        router.onConnected = { [unowned self] cluster in self.loadCommandMetadata(from: cluster) }
        handover.watch(acceptor)
    }

    func apply(_ config: ProxyConfig, directory: ClusterStatsDirectory) {
        limits = config.limits
        clientAuth = ClientAuthenticator(config.clientAuth)
        allowedCommands = Self.allowList(config)
        parser = RequestParser(limits: RESPLimits(
            maxBulkBytes: config.limits.maxBulkBytes,
            maxMultibulkLength: config.limits.maxMultibulkLength,
            maxInlineBytes: config.limits.maxInlineBytes))
        let fresh = ClusterRouter<RedisWire>(
            loop: loop, config: config, servers: { ($0.redis, $0.redisSharding) }, credentials: { $0.redisAuth },
            stats: directory.stats(protocol: "redis", config: config), verifySkipped: verifySkipped, stores: stores, logger: logger)
        fresh.onConnected = { [unowned self] cluster in self.loadCommandMetadata(from: cluster) }
        handover.replace(router, with: fresh)
        router = fresh
        fresh.start()
    }

    /// `allowFlush` is an alias of listing FLUSHALL and FLUSHDB.
    private static func allowList(_ config: ProxyConfig) -> AdminAllowList {
        AdminAllowList(config.allowCommands + (config.allowFlush ? ["flushall", "flushdb"] : []))
    }

    /// Binds the listener and connects every cluster eagerly.
    func start() throws {
        try acceptor.start()
        router.start()
    }

    var boundAddress: SocketAddress? { acceptor.boundAddress }

    // MARK: command metadata

    private func loadCommandMetadata(from cluster: Int) {
        guard commandMetadata == .notRequested else { return }
        commandMetadata = .requested
        let loader = CommandMetadataLoader(worker: self)
        let sent = CommandMetadataLoader.request.withUnsafeBytes {
            router.clusters[cluster].primary.send($0, consumer: loader, tag: 0)
        }
        if !sent { commandMetadata = .notRequested }
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

    // MARK: clients

    func sessionClosed(_ session: RedisClientSession) {
        acceptor.sessionClosed(session)
    }

    func stopAccepting() { acceptor.stopAccepting() }
    func drainClients() { acceptor.drainClients() }
    var activeClients: Int { acceptor.activeClients }
    var requestsInFlight: Int { acceptor.requestsInFlight }

    func closeAll() {
        acceptor.closeAll()
        router.close()
        handover.closeAll()
        stores.closeAll()
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
