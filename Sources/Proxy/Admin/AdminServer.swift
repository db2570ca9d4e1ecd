import EventLoop
import Logging

/// The admin HTTP/1.1 listener: `/metrics`, `/status`, the status page, `/health` and `/reload`
/// (see `AdminRouter`), served on a loop of its own so admin traffic never runs on a worker loop.
///
/// Contract:
/// - Loop-confined: create it anywhere, then call `start`, `close` and read `boundAddress` on `loop`
///   (a loop the caller dedicates to it). Every handler call happens there.
/// - At most `maxConnections` (64) connections: a connection beyond that gets a 503 and is closed.
/// - Each connection answers its requests in order and keeps alive as HTTP/1.x says. It is closed
///   after a response with `Connection: close`, and when no request completes on it for
///   `idleTimeout` (30 s; a request begun by then gets 408 first). After an error response it
///   lingers up to `lingerTimeout` (2 s), dropping input, until the client closes: closing on unread
///   input would make the kernel send a reset that can destroy the error response in flight.
/// - `close()` stops listening, closes every connection and releases the handler; a closed server
///   is not restarted.
final class AdminServer {
    static let defaultIdleTimeout: Duration = .seconds(30)
    static let defaultMaxConnections = 64
    static let defaultLingerTimeout: Duration = .seconds(2)

    /// The loop outlives the server: the caller closes the server before shutting the loop down.
    unowned let loop: EventLoop
    let address: SocketAddress
    let idleTimeout: Duration
    let maxConnections: Int
    let lingerTimeout: Duration
    /// Strong until `close()`, which breaks any cycle with an owner that is also the handler.
    private(set) var handler: AdminHandler?
    private let logger: Logger
    private var listener: Listener?
    private var sweepTimer: LoopTimer?
    private var connections: [ObjectIdentifier: AdminConnection] = [:]
    private var nextID = 0
    private var refusalLog = RateLimit(perSecond: 1)

    init(
        address: SocketAddress, loop: EventLoop, handler: AdminHandler, logger: Logger,
        idleTimeout: Duration = defaultIdleTimeout, maxConnections: Int = defaultMaxConnections,
        lingerTimeout: Duration = defaultLingerTimeout
    ) {
        self.address = address
        self.loop = loop
        self.handler = handler
        self.logger = logger
        self.idleTimeout = idleTimeout
        self.maxConnections = maxConnections
        self.lingerTimeout = lingerTimeout
    }

    /// Binds and listens; throws when the address cannot be bound. Call on the loop, once.
    func start() throws {
        precondition(listener == nil && handler != nil, "AdminServer.start called twice or after close")
        listener = try Listener(
            address: address, loop: loop, backlog: 64,
            onAccept: { [unowned self] fd in self.accept(fd) },
            onError: { [unowned self] error in self.logger.error("admin accept failed", metadata: ["error": "\(error)"]) })
        // Idle connections are found by one sweep, not a timer per connection; a few sweeps per
        // timeout keep the actual idle time close to the configured one.
        let interval = max(.milliseconds(10), min(.seconds(1), idleTimeout / 4))
        sweepTimer = loop.schedule(after: interval, repeating: interval) { [weak self] in self?.sweep() }
        logger.info("admin listening", metadata: ["address": "\(listener!.address)"])
    }

    /// The bound address once started (the actual port when the configured one is 0).
    var boundAddress: SocketAddress? { listener?.address }

    var connectionCount: Int { connections.count }

    /// Stops listening and closes every connection. Call on the loop; idempotent.
    func close() {
        listener?.close()
        listener = nil
        sweepTimer?.cancel()
        sweepTimer = nil
        for connection in Array(connections.values) { connection.close() }
        connections.removeAll()
        handler = nil
    }

    // MARK: connections

    private func accept(_ fd: Int32) {
        guard connections.count < maxConnections else {
            refuse(fd)
            return
        }
        nextID += 1
        var connectionLogger = logger
        connectionLogger[metadataKey: "adminClient"] = "\(nextID)"
        do {
            let connection = try AdminConnection.accept(fd: fd, server: self, logger: connectionLogger)
            connections[ObjectIdentifier(connection)] = connection
        } catch {
            logger.error("cannot register admin connection", metadata: ["error": "\(error)"])
        }
    }

    /// Over the limit: one best-effort 503 on the fresh socket (its send buffer is empty, so the
    /// short write does not block), then close.
    private func refuse(_ fd: Int32) {
        if refusalLog.allow(now: loop.batchTime) {
            logger.warning("admin connection limit reached, refusing", metadata: ["maxConnections": "\(maxConnections)"])
        }
        let date = UTCDate(unixSeconds: Posix.wallClockMilliseconds() / 1000).imfFixdate
        let reply = HTTPResponse.text(503, "too many admin connections\n").encode(date: date, omitBody: false, connection: .close)
        _ = reply.withUnsafeBytes { try? Posix.write(fd, $0.baseAddress!, $0.count) }
        Posix.close(fd)
    }

    func connectionClosed(_ connection: AdminConnection) {
        connections.removeValue(forKey: ObjectIdentifier(connection))
    }

    private func sweep() {
        let now = loop.batchTime
        let limit = idleTimeout.nanoseconds
        for connection in Array(connections.values) where now > connection.lastActivity && now - connection.lastActivity >= limit {
            connection.idleTimeoutExpired()
        }
    }
}
