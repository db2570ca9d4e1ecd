import DequeModule
import EventLoop
import Logging

/// One pipelined connection from one loop to one backend server, speaking one protocol variant
/// (redis: RESP2 or RESP3; memcached: text and meta).
///
/// Contract:
/// - Requests are written in the order `send` is called and their replies are matched FIFO, so each
///   client's commands reach the server in the order the client sent them.
/// - While connecting, requests wait in order (bounded by the connect timeout); while in back-off after
///   a failure, `send` refuses at once and the caller answers the client with `unavailableReply`.
/// - A failure (reset, garbage, request timeout) fails every request in flight on this connection and
///   only those, handing each consumer its request bytes back; the connection then reconnects with
///   exponential back-off and jitter.
/// - A variant with a handshake (redis RESP3: `HELLO 3`; `AUTH` with credentials) sends it first; a
///   refused handshake fails the connection with the server's error (never the frame: it holds the
///   password). Replies are relayed byte-exact.
final class BackendConnection<Wire: BackendWire>: ChannelDelegate {
    enum State: Equatable { case idle, connecting, ready, backoff }

    let endpoint: Endpoint
    /// Index of the cluster this server belongs to.
    let cluster: Int
    /// Index of this server in its cluster's list (its shard).
    let shard: Int
    /// Which of `Wire.variants` this connection speaks.
    let variant: Int
    /// What the handshake authenticates with (see `BackendWire.handshake`); never logged.
    private let credentials: BackendCredentials?
    /// unowned(unsafe): the worker owns this connection and outlives it.
    unowned(unsafe) let observer: BackendObserver
    /// unowned(unsafe): loops outlive their workers' connections (see `RedisWorker.loop`).
    unowned(unsafe) let loop: EventLoop
    private let timeouts: TimeoutConfig
    private let maxInFlight: Int
    private var logger: Logger
    private(set) var state: State = .idle
    private var channel: SocketChannel?
    private var pending: Deque<Pending> = []
    /// The frames of `pending`, in the same order: kept so a failure can hand every request back.
    /// One buffer reused for the connection's life, so keeping them costs a copy, not an allocation.
    private var sentLog = IOBuffer(capacity: BackendConnectionTuning.sentLogSize)
    private var framer = Wire.Framer()
    private var consecutiveFailures = 0
    private var connectStartedAt: UInt64 = 0
    private var reconnectTimer: LoopTimer?
    /// Requests sent and requests that failed (refused, failed in flight, or answered with an error)
    /// since the router last took them (`takeCounts`); plain integers, this connection's own.
    private var sentCount: UInt64 = 0
    private var failedCount: UInt64 = 0
    /// The error a client gets while this server cannot be reached; rebuilt when the reason changes.
    private(set) var unavailableReply: [UInt8]

    private struct Pending {
        /// nil for the proxy's own requests (the handshake, probes).
        let consumer: ReplyConsumer?
        let tag: UInt64
        let sentAt: UInt64
        let length: Int
        /// Replies still due for this request: more than one for a transaction block sent as one
        /// request (MULTI ... EXEC, see `BackendWire.requestCount`); only the last is handed on.
        var replies: Int
    }

    init(
        endpoint: Endpoint, cluster: Int, shard: Int, variant: Int, credentials: BackendCredentials?, loop: EventLoop,
        observer: BackendObserver, timeouts: TimeoutConfig, maxInFlight: Int, logger: Logger
    ) {
        self.credentials = credentials
        self.maxInFlight = maxInFlight
        self.endpoint = endpoint
        self.cluster = cluster
        self.shard = shard
        self.observer = observer
        self.variant = variant
        self.loop = loop
        self.timeouts = timeouts
        self.logger = logger
        self.logger[metadataKey: "backend"] = "\(endpoint)"
        self.logger[metadataKey: "protocol"] = "\(Wire.protocolName)"
        if Wire.variants > 1 { self.logger[metadataKey: "variant"] = "\(variant)" }
        self.unavailableReply = Wire.unavailableReply(endpoint: endpoint, reason: "not connected yet")
    }

    var inFlight: Int { pending.count }

    /// Extra time the oldest request may take before the request timeout fails the connection: set
    /// by the owner of a dedicated connection while a blocking command (BLPOP ...) waits there, which
    /// may rightly go unanswered for as long as the command's own timeout says.
    var deadlineAllowance: UInt64 = 0

    /// Failures so far. Server-side state of the connection (WATCH) is gone when this changed.
    private(set) var failures = 0

    /// Queues one request frame. Returns false when the server is known to be unreachable right now, or
    /// when `maxInFlight` requests are already outstanding (a slow server must not hold clients back).
    @inline(__always)
    func send(_ frame: UnsafeRawBufferPointer, consumer: ReplyConsumer, tag: UInt64) -> Bool {
        guard pending.count < maxInFlight else {
            failedCount += 1
            return false
        }
        switch state {
        case .ready, .connecting:
            break
        case .idle:
            connect()
            guard state == .connecting || state == .ready else {
                failedCount += 1
                return false
            }
        case .backoff:
            failedCount += 1
            return false
        }
        sentCount += 1
        channel!.send(frame)
        sentLog.append(frame)
        pending.append(Pending(consumer: consumer, tag: tag, sentAt: loop.batchTime, length: frame.count,
                               replies: Wire.requestCount(frame)))
        return true
    }

    // MARK: connecting

    func connect() {
        guard state == .idle || state == .backoff else { return }
        reconnectTimer = nil
        let address: SocketAddress
        do {
            address = try SocketAddress(host: endpoint.host, port: endpoint.port)
            state = .connecting
            connectStartedAt = Posix.monotonicNanoseconds()
            channel = try SocketChannel.connect(to: address, loop: loop, delegate: self)
        } catch {
            channel = nil
            fail(reason: "\(error)")
            return
        }
        if let hello = Wire.handshake(variant: variant, credentials: credentials) {
            hello.withUnsafeBytes {
                channel!.send($0)
                sentLog.append($0)
            }
            pending.append(Pending(consumer: nil, tag: BackendConnectionTuning.handshakeTag, sentAt: loop.batchTime,
                                   length: hello.count, replies: 1))
        }
    }

    func channelConnected(_ channel: SocketChannel) {
        guard channel === self.channel else { return }
        state = .ready
        if consecutiveFailures > 0 {
            logger.info("backend connection restored", metadata: ["afterFailures": "\(consecutiveFailures)"])
        }
        consecutiveFailures = 0
        unavailableReply = Wire.unavailableReply(endpoint: endpoint, reason: "not connected")
        observer.backendConnected(cluster: cluster, shard: shard)
    }

    /// The requests sent and failed since the last call, for the router's tally.
    func takeCounts() -> (sent: UInt64, failed: UInt64) {
        defer { (sentCount, failedCount) = (0, 0) }
        return (sentCount, failedCount)
    }

    /// Sends a probe of the proxy's own (health and latency) when the connection can take it.
    func probe() {
        guard state == .ready, pending.isEmpty else { return }
        let ping = Wire.probeFrame
        ping.withUnsafeBytes {
            channel!.send($0)
            sentLog.append($0)
        }
        pending.append(Pending(consumer: nil, tag: 0, sentAt: loop.batchTime, length: ping.count, replies: 1))
    }

    var isReady: Bool { state == .ready }

    /// Bytes sent that are not in the kernel yet.
    var pendingOutput: Int { channel?.pendingOutputBytes ?? 0 }

    /// Ready, with room for another request: a `send` now succeeds.
    var canSend: Bool { hasRoom(1) }

    /// Ready, with room for `requests` more: that many `send`s in a row succeed.
    func hasRoom(_ requests: Int) -> Bool { state == .ready && pending.count + requests <= maxInFlight }

    // MARK: replies

    @_specialize(where Wire == RedisWire)
    @_specialize(where Wire == MemcachedWire)
    func channelRead(_ channel: SocketChannel) {
        let input = channel.input
        while !input.isEmpty {
            let bytes = input.readable
            switch framer.nextReply(bytes) {
            case .reply(let length, let isError, let outOfBand):
                let reply = UnsafeRawBufferPointer(rebasing: bytes[0..<length])
                if outOfBand {
                    // Out-of-band (client tracking, keyspace events): it answers no request.
                    input.consume(length)
                    continue
                }
                guard !pending.isEmpty else {
                    fail(reason: "reply with no request outstanding")
                    return
                }
                if pending[0].replies > 1 {
                    // A reply inside a transaction block (+OK to MULTI, +QUEUED): EXEC's answers it.
                    pending[0].replies -= 1
                    input.consume(length)
                    continue
                }
                let head = pending.removeFirst()
                sentLog.consume(head.length)
                observer.backendAnswered(cluster: cluster, shard: shard, rtt: loop.batchTime &- head.sentAt)
                if sentLog.isEmpty && sentLog.capacity > 64 * BackendConnectionTuning.sentLogSize {
                    // A large value went through: do not keep its memory for the connection's life.
                    sentLog = IOBuffer(capacity: BackendConnectionTuning.sentLogSize)
                }
                if let consumer = head.consumer {
                    if isError { failedCount += 1 }
                    consumer.backendReplied(tag: head.tag, cluster: cluster, reply: reply)
                } else if isError && head.tag == BackendConnectionTuning.handshakeTag {
                    // The server's error only (WRONGPASS, NOAUTH ...): it never repeats the password.
                    var error = String(decoding: reply.prefix(200), as: UTF8.self)
                    while error.last?.isWhitespace == true { error.removeLast() }
                    fail(reason: "server refused the handshake: \(error)")
                    return
                }
                // The consumer may have closed us (it cannot today, but a failure path might).
                guard self.channel === channel else { return }
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
        fail(reason: "server closed the connection")
    }

    func channelDrained(_ channel: SocketChannel) {}

    func channelClosed(_ channel: SocketChannel, error: Error?) {
        guard channel === self.channel else { return }
        self.channel = nil
        fail(reason: error.map { "\($0)" } ?? "connection closed")
    }

    // MARK: failure

    /// Checks the connect and request deadlines; called by the worker's periodic tick.
    func checkDeadlines(now: UInt64) {
        switch state {
        case .connecting:
            if now &- connectStartedAt > timeouts.connect.nanoseconds {
                fail(reason: "connect timed out after \(timeouts.connect)")
            }
        case .ready:
            if let head = pending.first, now &- head.sentAt > timeouts.request.nanoseconds &+ deadlineAllowance {
                fail(reason: "no reply within \(timeouts.request)")
            }
        case .idle, .backoff:
            break
        }
    }

    /// Fails everything in flight and schedules a reconnect.
    private func fail(reason: String) {
        let wasConnecting = state == .connecting
        failures += 1
        detachChannel()
        framer = Wire.Framer()
        consecutiveFailures += 1
        unavailableReply = Wire.unavailableReply(endpoint: endpoint, reason: reason)
        let delay = backoffDelay()
        state = .backoff
        if consecutiveFailures == 1 || consecutiveFailures.isMultiple(of: 20) {
            logger.warning("backend connection failed", metadata: [
                "reason": "\(reason)", "failedRequests": "\(pending.count)",
                "consecutiveFailures": "\(consecutiveFailures)", "retryIn": "\(delay)",
            ])
        }
        failPending(reply: unavailableReply)
        observer.backendFailed(cluster: cluster, shard: shard, connecting: wasConnecting)
        reconnectTimer?.cancel()
        // Strong (not weak, which would slow every retain of this object): close() cancels the timer.
        reconnectTimer = loop.schedule(after: delay, repeating: nil) { [self] in
            guard self.state == .backoff else { return }
            self.connect()
        }
    }

    /// Exponential from `reconnectMin`, capped at `reconnectMax`, with jitter in [d/2, d] so that
    /// many loops reconnecting to one server do not arrive in lockstep.
    private func backoffDelay() -> Duration {
        let minNs = timeouts.reconnectMin.nanoseconds
        let maxNs = timeouts.reconnectMax.nanoseconds
        let shift = UInt64(min(consecutiveFailures - 1, 30))
        let (scaled, overflow) = minNs.multipliedReportingOverflow(by: 1 << shift)
        let capped = overflow ? maxNs : min(scaled, maxNs)
        let jittered = capped / 2 + UInt64.random(in: 0...max(capped / 2, 1))
        return .nanoseconds(Int64(jittered))
    }

    /// Closes for good (shutdown); requests in flight are failed.
    func close() {
        reconnectTimer?.cancel()
        reconnectTimer = nil
        detachChannel()
        state = .idle
        failPending(reply: Wire.unavailableReply(endpoint: endpoint, reason: "proxy shutting down"))
    }

    /// Hands every request in flight back to its consumer with `reply`, oldest first.
    private func failPending(reply: [UInt8]) {
        let failed = pending
        pending.removeAll()
        // Consumers may send again (elsewhere) while we iterate: work on a detached copy of the log.
        let log = Array(sentLog.readable)
        sentLog.clear()
        var offset = 0
        log.withUnsafeBytes { bytes in
            reply.withUnsafeBytes { r in
                for p in failed {
                    let request = UnsafeRawBufferPointer(rebasing: bytes[offset..<(offset + p.length)])
                    offset += p.length
                    if p.consumer != nil { failedCount += 1 }
                    p.consumer?.backendFailed(tag: p.tag, cluster: cluster, request: request, reply: r)
                }
            }
        }
    }

    /// Closes the current channel without hearing its close callback (the caller handles the fallout).
    private func detachChannel() {
        guard let channel else { return }
        self.channel = nil
        channel.delegate = nil
        channel.close()
    }
}

/// Constants of `BackendConnection` (a generic class cannot hold static stored properties).
enum BackendConnectionTuning {
    /// Tags of the proxy's own requests (no consumer): the handshake; probes use 0.
    static let handshakeTag: UInt64 = 1
    /// The sent log's usual capacity; it is given back after a large request went through.
    static let sentLogSize = 16 * 1024
}
