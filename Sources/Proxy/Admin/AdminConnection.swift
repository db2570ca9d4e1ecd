import EventLoop
import Logging

/// One admin HTTP connection: parses requests as they arrive and answers each, in order, through
/// `AdminRouter`.
///
/// Contract:
/// - Loop-confined (the admin loop). Requests are answered synchronously as they are parsed, so
///   pipelined requests get their responses in request order.
/// - Keep-alive per `HTTPRequest.keepAlive`; after a response marked `Connection: close` nothing
///   more is parsed and the connection closes once the output is written. After an error response
///   (parse error, 408) it first lingers, reading and dropping input, until the client closes or
///   the server's `lingerTimeout` passes.
/// - While more than `outputHighWater` bytes of responses are unwritten, parsing waits for the
///   client to read (a client pipelining many requests without reading cannot grow memory).
/// - `lastActivity` (loop batch time) moves at accept and at each complete request; the server
///   closes connections idle past its timeout.
final class AdminConnection: ChannelDelegate {
    static let outputHighWater = 1 << 20

    private(set) var channel: SocketChannel!
    private unowned let server: AdminServer
    private let logger: Logger
    private var parser = HTTPRequestParser()
    /// Loop batch time of the last complete request (or of the accept).
    private(set) var lastActivity: UInt64
    /// No more requests are parsed; the connection closes when its output is written.
    private var closing = false
    /// Once the output is written, wait for the client to close (after an error response).
    private var lingerAfterOutput = false
    private var lingerTimer: LoopTimer?
    /// The client ended its input; close once what it sent is answered.
    private var inputEnded = false
    private var pausedForOutput = false
    /// Bytes of a request that has begun but not completed (for the 408 on an idle close).
    private var hasPartialRequest = false

    private init(server: AdminServer, logger: Logger) {
        self.server = server
        self.logger = logger
        self.lastActivity = server.loop.batchTime
    }

    /// Takes over an accepted socket; throws (the socket closed) when the loop refuses it.
    static func accept(fd: Int32, server: AdminServer, logger: Logger) throws -> AdminConnection {
        let connection = AdminConnection(server: server, logger: logger)
        connection.channel = try SocketChannel.adopt(fd: fd, loop: server.loop, delegate: connection)
        return connection
    }

    // MARK: input

    func channelRead(_ channel: SocketChannel) {
        if closing {
            // Reading on (and dropping) what still arrives keeps the kernel from answering our close
            // with a reset, which could destroy the response still in flight.
            channel.input.consume(channel.input.readableBytes)
            return
        }
        processInput()
    }

    private func processInput() {
        while !closing && channel.state == .open {
            if channel.pendingOutputBytes > Self.outputHighWater {
                pausedForOutput = true
                channel.pauseReading()
                channel.notifyWhenDrained()
                return
            }
            let input = channel.input
            switch parser.parse(input.readable) {
            case .incomplete:
                hasPartialRequest = !input.isEmpty
                if inputEnded { finish(linger: false) }
                return
            case .complete(let request, let consumed):
                input.consume(consumed)
                hasPartialRequest = false
                lastActivity = server.loop.batchTime
                answer(request)
            case .error(let status, let reason):
                logger.debug("bad admin request", metadata: ["status": "\(status)", "reason": "\(reason)"])
                send(.text(status, reason + "\n"), omitBody: false, connection: .close)
                finish(linger: true)
            }
        }
        if closing && channel.state == .open { channel.input.consume(channel.input.readableBytes) }
    }

    private func answer(_ request: HTTPRequest) {
        guard let handler = server.handler else {
            send(.text(503, "shutting down\n"), omitBody: request.method == "HEAD", connection: .close)
            finish(linger: false)
            return
        }
        let response = AdminRouter.response(to: request, handler: handler)
        logger.debug("admin request", metadata: [
            "method": "\(request.method)", "path": "\(request.path)", "status": "\(response.status)",
        ])
        let connection: HTTPResponse.ConnectionHeader
        if !request.keepAlive {
            connection = .close
        } else {
            connection = request.version.minor == 0 ? .keepAlive : .none
        }
        send(response, omitBody: request.method == "HEAD", connection: connection)
        if connection == .close { finish(linger: false) }
    }

    private func send(_ response: HTTPResponse, omitBody: Bool, connection: HTTPResponse.ConnectionHeader) {
        let date = UTCDate(unixSeconds: Posix.wallClockMilliseconds() / 1000).imfFixdate
        channel.output.append(response.encode(date: date, omitBody: omitBody, connection: connection))
    }

    /// Stops parsing; closes once the output is written (after lingering, if `linger`).
    private func finish(linger: Bool) {
        closing = true
        if linger { lingerAfterOutput = true }
        if channel.pendingOutputBytes == 0 {
            outputWritten()
        } else {
            channel.notifyWhenDrained()
        }
    }

    private func outputWritten() {
        guard lingerAfterOutput && !inputEnded else {
            channel.close()
            return
        }
        guard lingerTimer == nil else { return }
        lingerTimer = server.loop.schedule(after: server.lingerTimeout, repeating: nil) { [weak self] in
            self?.channel.close()
        }
        // Input must keep flowing (and be dropped) for the client to see our response intact.
        channel.resumeReading()
    }

    // MARK: channel events

    func channelInputClosed(_ channel: SocketChannel) {
        inputEnded = true
        if closing {
            // Still writing: the drain closes it; lingering: the client is gone, close now.
            if channel.pendingOutputBytes == 0 { channel.close() }
        } else if !pausedForOutput {
            processInput()
        }
    }

    func channelDrained(_ channel: SocketChannel) {
        if closing {
            outputWritten()
        } else if pausedForOutput {
            pausedForOutput = false
            channel.resumeReading()
            processInput()
        }
    }

    func channelClosed(_ channel: SocketChannel, error: Error?) {
        lingerTimer?.cancel()
        lingerTimer = nil
        if let error {
            logger.debug("admin connection failed", metadata: ["error": "\(error)"])
        }
        server.connectionClosed(self)
    }

    // MARK: server

    /// The idle timeout passed: a started request gets 408, an idle keep-alive connection just closes.
    func idleTimeoutExpired() {
        guard channel.state == .open else { return }
        if hasPartialRequest && !closing {
            send(.text(408, "request timeout\n"), omitBody: false, connection: .close)
            finish(linger: true)
        } else {
            channel.close()
        }
    }

    /// Server shutdown: closes at once.
    func close() {
        channel.close()
    }
}
