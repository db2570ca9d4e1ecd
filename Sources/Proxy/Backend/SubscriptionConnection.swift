import EventLoop
import Logging
import RedisProtocol

/// What a `SubscriptionConnection` tells its owner (a client session). Called on the connection's loop.
protocol SubscriptionConnectionDelegate: AnyObject {
    /// One whole frame from the server (after the handshake's reply): messages, the server's own
    /// confirmations, replies to the keep-alive PINGs, errors. Valid only during the call. The
    /// delegate may `send` or `close` from inside it.
    func subscriptionFrame(_ connection: SubscriptionConnection, frame: UnsafeRawBufferPointer)
    /// The connection failed (connect error or timeout, handshake refused, reset, invalid frame, no
    /// reply within `timeouts.request` after a PING); it is closed and no callback follows. `reason`
    /// is for logs and never holds credentials (the handshake's bytes are never quoted).
    func subscriptionFailed(_ connection: SubscriptionConnection, reason: String)
}

/// A dedicated, non-shared connection to one redis server carrying one client's subscriptions.
///
/// Contract:
/// - Loop-confined: every method is called, and every callback made, on `loop`.
/// - `connect` is non-blocking (a host name is resolved there, as `BackendConnection` does). The
///   handshake (if any) goes first, then the frames `send` queued before or during the connect, in
///   order. The handshake's one reply is swallowed; an error reply fails the connection.
/// - Every later frame is handed to the delegate whole and unchanged; nothing is interpreted here
///   beyond framing, so the owner decides what to relay and what to swallow.
/// - Liveness: once the TCP connection is up, a timer ticks every `pingInterval`; a tick with nothing
///   received since the previous one (but the previous PING's reply) sends `PING` (answered in
///   either protocol, subscribed or not, and the reply reaches the delegate like any frame); when
///   nothing at all arrives within `timeouts.request` of that PING, it fails. The connect must
///   finish within `timeouts.connect`.
/// - No reconnect: a failure closes the connection for good and is reported once through
///   `subscriptionFailed`; the owner opens a new connection (here or on another cluster) and
///   replays its subscriptions.
/// - `close()` is idempotent and silent: no delegate callback runs after it.
/// - The delegate is held unowned(unsafe), as `BackendConnection` holds its observer: the owner
///   must `close()` this connection before it goes away (the timers and the channel keep this
///   object alive until then).
final class SubscriptionConnection: ChannelDelegate {
    private enum State { case idle, connecting, handshaking, connected, closed }

    let endpoint: Endpoint
    /// unowned(unsafe): loops outlive the connections on them (see `BackendConnection.loop`).
    unowned(unsafe) let loop: EventLoop
    private unowned(unsafe) let delegate: SubscriptionConnectionDelegate
    private let handshake: [UInt8]?
    private let timeouts: TimeoutConfig
    private let pingInterval: Duration
    private var logger: Logger
    private var state: State = .idle
    private var channel: SocketChannel?
    private var framer = RedisWire.Framer()
    /// Frames sent before `connect()` created the channel; the channel itself holds later ones.
    private var queued: [UInt8] = []
    private var connectTimer: LoopTimer?
    private var pingTimer: LoopTimer?
    /// Armed while a PING waits for any byte from the server.
    private var pingDeadline: LoopTimer?
    /// Counts reads from the server: the ping timers compare it with the count they last saw.
    private var reads: UInt64 = 0
    private var readsAtLastTick: UInt64 = 0
    /// Whether the last tick sent a PING: what arrived since then may be only its reply.
    private var pingedLastTick = false

    static let pingFrame: [UInt8] = Array("*1\r\n$4\r\nPING\r\n".utf8)

    init(
        endpoint: Endpoint, loop: EventLoop, handshake: [UInt8]?, timeouts: TimeoutConfig, pingInterval: Duration,
        delegate: SubscriptionConnectionDelegate, logger: Logger
    ) {
        self.endpoint = endpoint
        self.loop = loop
        self.handshake = handshake
        self.timeouts = timeouts
        self.pingInterval = pingInterval
        self.delegate = delegate
        self.logger = logger
        self.logger[metadataKey: "backend"] = "\(endpoint)"
        self.logger[metadataKey: "role"] = "subscriptions"
    }

    /// Connected, and the handshake (if any) was accepted.
    var isConnected: Bool { state == .connected }

    /// Starts connecting; does nothing unless the connection is new. A failure to even start (e.g.
    /// the host does not resolve) is reported at the end of the current callback, not from inside
    /// this call.
    func connect() {
        guard state == .idle else { return }
        state = .connecting
        let channel: SocketChannel
        do {
            let address = try SocketAddress(host: endpoint.host, port: endpoint.port)
            channel = try SocketChannel.connect(to: address, loop: loop, delegate: self)
        } catch {
            let reason = "connect failed: \(error)"
            loop.deferToEndOfBatch { [self] in self.fail(reason: reason) }
            return
        }
        self.channel = channel
        if let handshake {
            state = .handshaking
            handshake.withUnsafeBytes { channel.send($0) }
        }
        if !queued.isEmpty {
            queued.withUnsafeBytes { channel.send($0) }
            queued = []
        }
        // Strong captures (as in `BackendConnection`): close() cancels every timer.
        connectTimer = loop.schedule(after: timeouts.connect, repeating: nil) { [self] in
            self.connectTimer = nil
            guard let channel = self.channel, channel.state == .connecting else { return }
            self.fail(reason: "connect timed out after \(self.timeouts.connect)")
        }
    }

    /// Queues one request frame (a RESP2 multibulk) for the server; kept in order while connecting.
    /// Ignored once the connection is closed or failed.
    func send(_ frame: UnsafeRawBufferPointer) {
        switch state {
        case .idle:
            queued.append(contentsOf: frame)
        case .connecting, .handshaking, .connected:
            channel?.send(frame)
        case .closed:
            break
        }
    }

    /// Closes for good without telling the delegate; idempotent.
    func close() {
        guard state != .closed else { return }
        state = .closed
        connectTimer?.cancel()
        connectTimer = nil
        pingTimer?.cancel()
        pingTimer = nil
        pingDeadline?.cancel()
        pingDeadline = nil
        queued = []
        if let channel {
            self.channel = nil
            channel.delegate = nil
            channel.close()
        }
    }

    // MARK: channel events

    func channelConnected(_ channel: SocketChannel) {
        guard channel === self.channel else { return }
        connectTimer?.cancel()
        connectTimer = nil
        if state == .connecting { state = .connected }
        readsAtLastTick = reads
        pingTimer = loop.schedule(after: pingInterval, repeating: pingInterval) { [self] in self.pingTick() }
    }

    func channelRead(_ channel: SocketChannel) {
        guard channel === self.channel else { return }
        reads &+= 1
        let input = channel.input
        while !input.isEmpty {
            let bytes = input.readable
            switch framer.nextReply(bytes) {
            case .reply(let length, let isError, _):
                let frame = UnsafeRawBufferPointer(rebasing: bytes[0 ..< length])
                if state == .handshaking {
                    if isError {
                        fail(reason: "server refused the handshake: \(Self.errorText(frame))")
                        return
                    }
                    state = .connected
                } else {
                    delegate.subscriptionFrame(self, frame: frame)
                    // The delegate may have closed us.
                    guard self.channel === channel else { return }
                }
                input.consume(length)
            case .incomplete(let atLeast):
                channel.expectInput(atLeast: min(atLeast - bytes.count, 4 << 20))
                return
            case .invalid(let what):
                fail(reason: "invalid reply from server: \(what)")
                return
            }
        }
    }

    func channelInputClosed(_ channel: SocketChannel) {
        guard channel === self.channel else { return }
        fail(reason: "server closed the connection")
    }

    func channelClosed(_ channel: SocketChannel, error: Error?) {
        guard channel === self.channel else { return }
        self.channel = nil
        fail(reason: error.map { "\($0)" } ?? "connection closed")
    }

    // MARK: liveness

    /// Every `pingInterval`: a PING when none is waiting and nothing arrived since the last tick
    /// (other than, perhaps, the reply to the PING that tick sent).
    private func pingTick() {
        guard state == .connected || state == .handshaking, let channel else { return }
        let heard = reads != readsAtLastTick
        readsAtLastTick = reads
        let pinged = pingedLastTick
        pingedLastTick = false
        if heard && !pinged { return }
        guard pingDeadline == nil else { return }
        pingedLastTick = true
        Self.pingFrame.withUnsafeBytes { channel.send($0) }
        let readsAtPing = reads
        pingDeadline = loop.schedule(after: timeouts.request, repeating: nil) { [self] in
            self.pingDeadline = nil
            guard self.state != .closed, self.reads == readsAtPing else { return }
            self.fail(reason: "no reply to PING within \(self.timeouts.request)")
        }
    }

    // MARK: failure

    /// Closes and tells the delegate, once.
    private func fail(reason: String) {
        guard state != .closed else { return }
        close()
        logger.debug("subscription connection failed", metadata: ["reason": "\(reason)"])
        delegate.subscriptionFailed(self, reason: reason)
    }

    /// The server's error line for logs, cut at its first quote: Redis quotes every argument it
    /// echoes (e.g. "unknown command 'HELLO', with args beginning with: ..."), and the handshake's
    /// arguments may hold a password.
    static func errorText(_ reply: UnsafeRawBufferPointer) -> String {
        var line = reply.dropFirst()
        if reply.first == RESPType.blobError, let cr = line.firstIndex(of: 13) {
            line = line[min(cr + 2, line.endIndex)...]   // past "!<length>\r\n"; the framer checked the CRLF
        }
        var text = line.prefix { $0 != 13 && $0 != 10 && $0 != UInt8(ascii: "'") }
        if text.count > 200 { text = text.prefix(200) }
        return String(decoding: text, as: UTF8.self).trimmingSuffixSpaces()
    }
}

private extension String {
    func trimmingSuffixSpaces() -> String {
        var s = Substring(self)
        while s.last == " " || s.last == "," { s = s.dropLast() }
        return String(s)
    }
}
