import EventLoop
import Logging
import MemcachedProtocol
import Routing

/// Everything one loop owns for the memcached front end: its listener and client sessions, the
/// request parser they share, and the router to every cluster's memcached servers.
///
/// Contract: created on any thread, then used only on `loop` (every method but `init`).
final class MemcachedWorker: FrontEnd {
    unowned(unsafe) let loop: EventLoop
    private(set) var limits: LimitConfig
    private(set) var allowFlush: Bool
    /// Shared by all sessions on this loop: parsing is synchronous, so one reusable parser suffices.
    var parser: MemcachedRequestParser
    /// The current router; sessions may still be on an older one for a moment after a reload.
    private(set) var router: ClusterRouter<MemcachedWire>
    /// This loop's backlog stores, kept across reloads.
    private let stores: BacklogStores
    private let handover: RouterHandover<MemcachedWire>
    private let verifySkipped: StatCounter
    private let logger: Logger
    let counters: MemcachedCounters
    /// Every loop's counters, for `stats`.
    let allCounters: [MemcachedCounters]
    let clientCount: ClientCounter
    let startedAt: Int64
    /// Reused to build backend frames that differ from the client's (noreply or quiet removed).
    var scratch: [UInt8] = []
    private let acceptor: ClientAcceptor<MemcachedClientSession>

    init(loop: EventLoop, config: ProxyConfig, stats: [ClusterStats], verifySkipped: StatCounter, counters: [MemcachedCounters],
         listenAddress: SocketAddress, clientCount: ClientCounter, startedAt: Int64, logger: Logger) {
        self.loop = loop
        self.verifySkipped = verifySkipped
        self.handover = RouterHandover(loop: loop)
        self.stores = BacklogStores(protocolName: "memcached", loopIndex: loop.index, loopCount: config.workers, logger: logger)
        self.limits = config.limits
        self.allowFlush = config.allowFlush
        self.parser = MemcachedRequestParser(limits: MemcachedLimits(
            maxValueBytes: config.limits.maxValueBytes, maxLineBytes: config.limits.maxInlineBytes))
        self.counters = counters[loop.index]
        self.allCounters = counters
        self.clientCount = clientCount
        self.startedAt = startedAt
        var logger = logger
        logger[metadataKey: "loop"] = "\(loop.index)"
        self.logger = logger
        self.router = ClusterRouter(loop: loop, config: config, servers: { ($0.memcached, $0.memcachedSharding) }, stats: stats, verifySkipped: verifySkipped, stores: stores, logger: logger)
        self.acceptor = ClientAcceptor(
            loop: loop, address: listenAddress, clientCount: clientCount, maxClients: config.limits.maxClients,
            workerCount: config.workers, logger: logger)
        acceptor.makeSession = { [unowned self] id, channel, logger in
            MemcachedCounters.bump(self.counters.totalConnections)
            return MemcachedClientSession(id: id, channel: channel, worker: self, logger: logger)
        }
        handover.watch(acceptor)
    }

    func apply(_ config: ProxyConfig, directory: ClusterStatsDirectory) {
        limits = config.limits
        allowFlush = config.allowFlush
        parser = MemcachedRequestParser(limits: MemcachedLimits(
            maxValueBytes: config.limits.maxValueBytes, maxLineBytes: config.limits.maxInlineBytes))
        let fresh = ClusterRouter<MemcachedWire>(
            loop: loop, config: config, servers: { ($0.memcached, $0.memcachedSharding) },
            stats: directory.stats(protocol: "memcached", config: config), verifySkipped: verifySkipped, stores: stores, logger: logger)
        handover.replace(router, with: fresh)
        router = fresh
        fresh.start()
    }

    /// Binds the listener and connects every cluster eagerly.
    func start() throws {
        try acceptor.start()
        router.start()
    }

    var boundAddress: SocketAddress? { acceptor.boundAddress }

    func sessionClosed(_ session: MemcachedClientSession) {
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
