import EventLoop
import Logging

/// One loop's listener for one protocol and the sessions it accepted: the client limit, session ids,
/// and the shutdown steps (stop accepting, drain, close) every front end shares.
///
/// Contract: created on any thread, then used only on `loop`. A session must call `sessionClosed`
/// when its channel closes.
final class ClientAcceptor<Session: ClientSession> {
    unowned(unsafe) let loop: EventLoop
    private let address: SocketAddress
    private let clientCount: ClientCounter
    private let maxClients: Int
    private let workerCount: Int
    private var logger: Logger
    private var listener: Listener?
    private var sessions: [ObjectIdentifier: Session] = [:]
    private var nextSerial = 0
    /// Builds the session for an accepted channel; given its id and a logger carrying that id.
    var makeSession: ((Int, SocketChannel, Logger) -> Session)?

    init(loop: EventLoop, address: SocketAddress, clientCount: ClientCounter, maxClients: Int, workerCount: Int,
         logger: Logger) {
        self.loop = loop
        self.address = address
        self.clientCount = clientCount
        self.maxClients = maxClients
        self.workerCount = workerCount
        self.logger = logger
    }

    func start() throws {
        listener = try Listener(
            address: address, loop: loop,
            onAccept: { [unowned self] fd in self.accept(fd) },
            onError: { [unowned self] error in self.logger.error("accept failed", metadata: ["error": "\(error)"]) })
    }

    var boundAddress: SocketAddress? { listener?.address }

    private func accept(_ fd: Int32) {
        guard clientCount.tryAdd(limit: maxClients) else {
            logger.warning("client limit reached, refusing connection", metadata: ["maxClients": "\(maxClients)"])
            Posix.close(fd)
            return
        }
        nextSerial += 1
        let id = nextSerial * workerCount + loop.index
        var sessionLogger = logger
        sessionLogger[metadataKey: "client"] = "\(id)"
        let placeholder = PendingDelegate()
        do {
            let channel = try SocketChannel.adopt(fd: fd, loop: loop, delegate: placeholder)
            let session = makeSession!(id, channel, sessionLogger)
            channel.delegate = session
            sessions[ObjectIdentifier(session)] = session
        } catch {
            clientCount.remove()
            logger.error("cannot register client", metadata: ["error": "\(error)"])
        }
    }

    func sessionClosed(_ session: Session) {
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

    func forEachSession(_ body: (Session) -> Void) {
        for session in Array(sessions.values) { body(session) }
    }
    var requestsInFlight: Int { sessions.values.reduce(0) { $0 + $1.outstanding } }

    /// Closes the listener and every client.
    func closeAll() {
        stopAccepting()
        for session in Array(sessions.values) { session.channel.close() }
    }
}

/// One protocol's front end on one loop (its listener, sessions and cluster router), as the server
/// drives it through start-up and shutdown. Every method runs on the front end's loop.
protocol FrontEnd: AnyObject {
    func start() throws
    var boundAddress: SocketAddress? { get }
    func stopAccepting()
    func drainClients()
    var activeClients: Int { get }
    var requestsInFlight: Int { get }
    /// Closes clients and backend connections.
    func closeAll()
    /// Takes a reloaded configuration: a new router for the new clusters and servers, the old one's
    /// held writes, its sessions moved over as they go idle (see `RouterHandover`).
    func apply(_ config: ProxyConfig, directory: ClusterStatsDirectory)
}

/// Stands in for a session during the instant between adopting a socket and creating the session.
private final class PendingDelegate: ChannelDelegate {
    func channelConnected(_ channel: SocketChannel) {}
    func channelRead(_ channel: SocketChannel) {}
    func channelInputClosed(_ channel: SocketChannel) {}
    func channelDrained(_ channel: SocketChannel) {}
    func channelClosed(_ channel: SocketChannel, error: Error?) {}
}
