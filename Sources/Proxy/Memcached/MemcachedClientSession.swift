import EventLoop
import Logging
import MemcachedProtocol

/// One memcached client connection (text and meta protocol): frames its requests, routes each one
/// (reads to the best cluster, writes to every cluster, conditional writes decided by one), answers
/// the proxy's own commands, and writes the replies back in request order.
///
/// Contract:
/// - Owned by one loop; every method runs there. Replies go out in request order.
/// - Backends always get requests that answer (`noreply` and the meta `q` flag removed); the session
///   drops what the client asked not to see, so quiet mode and `mn` hold across the fan-out.
/// - A request the proxy cannot accept gets memcached's own error line (`ERROR`, `CLIENT_ERROR ...`,
///   `SERVER_ERROR object too large for cache`) and the connection goes on, except for a line too
///   long to frame and a binary-protocol client, which are answered and closed.
/// - Backpressure as in redis: stops reading at `maxClientInFlight`, disconnects past
///   `clientOutputLimitBytes`.
final class MemcachedClientSession: ClientSession, RoutedSession, RouterSwitching {
    typealias Wire = MemcachedWire

    let id: Int
    let channel: SocketChannel
    unowned(unsafe) let worker: MemcachedWorker
    unowned(unsafe) var router: ClusterRouter<MemcachedWire>
    var logger: Logger
    let variant = 0
    var slots = RequestSlots()
    var order = ReplyOrder()
    private var needBytes = 0
    /// Bytes of a refused data block still to drop as they arrive.
    private var swallow = 0
    /// Set while a conditional write (cas, add) waits for the deciding cluster.
    private var waitingForDecision = false
    /// What the other clusters get when the decision succeeds, and the reply that means success.
    private var pendingEffect: (frame: [UInt8], success: StaticString)? = nil
    var pausedForInFlight = false
    var closeWhenDone = false
    var draining = false

    init(id: Int, channel: SocketChannel, worker: MemcachedWorker, logger: Logger) {
        self.id = id
        self.channel = channel
        self.worker = worker
        self.router = worker.router
        self.logger = logger
    }

    var limits: LimitConfig { worker.limits }

    // MARK: input

    func channelRead(_ channel: SocketChannel) {
        processInput()
    }

    func processInput() {
        guard moveToCurrentRouter() else { return }
        let input = channel.input
        while !closeWhenDone && !waitingForDecision && channel.state == .open {
            if swallow > 0 {
                let n = min(swallow, input.readable.count)
                input.consume(n)
                swallow -= n
                if swallow > 0 { return }
                continue
            }
            if pauseIfTooManyInFlight() { return }
            let bytes = input.readable
            if bytes.isEmpty || bytes.count < needBytes { return }
            switch worker.parser.parse(bytes) {
            case .request(let length):
                needBytes = 0
                handle(UnsafeRawBufferPointer(rebasing: bytes[0..<length]))
                guard channel.state == .open else { return }
                input.consume(length)
            case .incomplete(let atLeast):
                needBytes = atLeast
                channel.expectInput(atLeast: min(atLeast - bytes.count, 4 << 20))
                return
            case .error(let error):
                MemcachedCounters.bump(worker.counters.protocolErrors)
                worker.clientCount.protocolErrors.bump()
                // memcached answers nothing to a noreply command, errors included.
                if !error.silent { replyLine(error.reply) }
                if error.reply == MemcachedErrorText.tooLarge { deleteRefusedSet(bytes) }
                let now = min(error.consume, bytes.count)
                input.consume(now)
                swallow = error.consume - now
                needBytes = 0
                if error.close {
                    logger.info("client protocol error, closing", metadata: ["error": "\(error.reply)"])
                    finishAfterReplies()
                    return
                }
            case .binaryProtocol:
                MemcachedCounters.bump(worker.counters.protocolErrors)
                worker.clientCount.protocolErrors.bump()
                logger.info("binary protocol client refused")
                reply(MemcachedBinaryRefusal.packet(request: bytes))
                finishAfterReplies()
                return
            }
        }
    }

    var currentRouter: ClusterRouter<Wire> { worker.router }
    var isDeciding: Bool { waitingForDecision }
    var loop: EventLoop { worker.loop }

    func channelClosed(_ channel: SocketChannel, error: Error?) {
        if let error = error as? SystemError, !error.isConnectionLoss {
            logger.debug("client connection failed", metadata: ["error": "\(error)"])
        }
        worker.sessionClosed(self)
    }

    // MARK: requests

    private func handle(_ frame: UnsafeRawBufferPointer) {
        let request = worker.parser.request
        let counters = worker.counters
        switch request.command {
        case .get, .gets:
            MemcachedCounters.bump(counters.getCommands)
            MemcachedCounters.bump(counters.getKeys, by: UInt64(request.keys.count))
            if !splitRetrieval(frame, request) {
                let first = UnsafeRawBufferPointer(rebasing: frame[request.keys[0]])
                withRoutingKey(frame, request) { read(frame, key: $0, verifyKey: router.verifier.isOn ? first : nil) }
            }
        case .gat, .gats:
            MemcachedCounters.bump(counters.touchCommands)
            MemcachedCounters.bump(counters.getKeys, by: UInt64(request.keys.count))
            readAndTouch(frame, request)
        case .set, .replace, .append, .prepend:
            MemcachedCounters.bump(counters.setCommands)
            forwardWrite(frame, request)
        case .add, .cas:
            // Conditional: one cluster decides, the others get the outcome as a plain set.
            MemcachedCounters.bump(counters.setCommands)
            var effect: [UInt8] = []
            MemcachedEncoder.set(
                key: UnsafeRawBufferPointer(rebasing: frame[request.keys[0]]), flags: request.clientFlags,
                exptime: request.exptime, value: UnsafeRawBufferPointer(rebasing: frame[request.value!]), into: &effect)
            decideWrite(frame, request, effect: effect, success: "STORED")
        case .delete:
            MemcachedCounters.bump(counters.deleteCommands)
            forwardWrite(frame, request)
        case .incr, .decr:
            MemcachedCounters.bump(counters.arithmeticCommands)
            forwardWrite(frame, request)
        case .touch:
            MemcachedCounters.bump(counters.touchCommands)
            forwardWrite(frame, request)
        case .flushAll:
            MemcachedCounters.bump(counters.flushCommands)
            if worker.allowFlush {
                // No key: every server of every cluster (see `RoutedSession.write`).
                forwardWrite(frame, request)
            } else {
                replyLine("CLIENT_ERROR flush_all is disabled: it would empty every cluster; set allowFlush in the config")
            }
        case .version:
            replyLine("VERSION \(MemcachedStats.version)")
        case .verbosity:
            // Server logging is each server's business; accepted so clients that set it keep working.
            replyQuietly(request, "OK")
        case .stats:
            if Self.hasNoArguments(frame, after: request.name) {
                reply(MemcachedStats.render(worker: worker))
            } else {
                // `stats slabs`, `stats items` ...: one server's own view, from the cluster serving reads.
                read(frame, key: nil)
            }
        case .quit:
            finishAfterReplies()
        case .metaNoop:
            replyLine("MN")
        case .metaDebug:
            MemcachedCounters.bump(counters.metaCommands)
            withRoutingKey(frame, request) { read(frame, key: $0) }
        case .metaGet:
            MemcachedCounters.bump(counters.metaCommands)
            MemcachedCounters.bump(counters.getKeys)
            if request.metaFlags.contains(where: { $0.letter == UInt8(ascii: "T") }) {
                readAndTouch(frame, request)
            } else {
                // A vivifying mg (N) creates the item where it runs: its reply is not about shared data.
                let verifiable = router.verifier.isOn && !request.metaFlags.contains { $0.letter == UInt8(ascii: "N") }
                forwardRead(frame, request, verifiable: verifiable)
            }
        case .metaSet:
            MemcachedCounters.bump(counters.metaCommands)
            if Self.isConditionalMetaSet(request, frame: frame) {
                var effect: [UInt8] = []
                MemcachedEncoder.metaSetEffect(request, frame: frame, into: &effect)
                decideWrite(frame, request, effect: effect, success: "HD")
            } else {
                forwardWrite(frame, request)
            }
        case .metaDelete, .metaArithmetic:
            MemcachedCounters.bump(counters.metaCommands)
            forwardWrite(frame, request)
        case .refused:
            MemcachedCounters.bump(counters.protocolErrors)
            worker.clientCount.protocolErrors.bump()
            let name = String(decoding: frame[request.name], as: UTF8.self)
            replyLine("CLIENT_ERROR \(name) is not supported through the proxy")
        }
    }

    private static func hasNoArguments(_ frame: UnsafeRawBufferPointer, after name: Range<Int>) -> Bool {
        frame[name.upperBound...].allSatisfy { $0 == UInt8(ascii: " ") || $0 == UInt8(ascii: "\r") || $0 == UInt8(ascii: "\n") }
    }

    /// memcached deletes the key of a set it refuses as too large, so that readers miss instead of
    /// reading the value the client meant to replace; every cluster does the same here.
    private func deleteRefusedSet(_ frame: UnsafeRawBufferPointer) {
        let request = worker.parser.request
        guard request.command == .set || request.command == .metaSet, let key = request.keys.first else { return }
        var delete: [UInt8] = request.command == .set ? Array("delete ".utf8) : Array("md ".utf8)
        delete.append(contentsOf: frame[key])
        if request.command == .metaSet && request.base64Key { delete.append(contentsOf: " b".utf8) }
        delete.append(contentsOf: "\r\n".utf8)
        let placement = placement(frame, request)
        delete.withUnsafeBytes { router.replicate($0, placement: placement, except: 0) }
    }

    /// A meta set with a compare-and-swap token (C) or in add mode (ME) must be decided by one cluster.
    private static func isConditionalMetaSet(_ request: MemcachedRequest, frame: UnsafeRawBufferPointer) -> Bool {
        for flag in request.metaFlags {
            if flag.letter == UInt8(ascii: "C") { return true }
            if flag.letter == UInt8(ascii: "M"), let mode = frame[flag.token].first,
               mode == UInt8(ascii: "E") || mode == UInt8(ascii: "e") {
                return true
            }
        }
        return false
    }

    /// The reply filter for `request` (see `respond`).
    @inline(__always)
    private static func quietCode(_ request: MemcachedRequest) -> UInt8 {
        if request.noreply { return 1 }
        if request.quiet { return 0x80 | request.command.rawValue }
        return 0
    }

    /// `frame` as the backends must get it: the client's bytes, or a copy without noreply / q.
    @inline(__always)
    private func withLoudFrame(_ frame: UnsafeRawBufferPointer, _ request: MemcachedRequest,
                               _ body: (UnsafeRawBufferPointer) -> Void) {
        worker.scratch.removeAll(keepingCapacity: true)
        if MemcachedEncoder.loudFrame(request, frame: frame, into: &worker.scratch) {
            // Copied out of the worker's scratch: `body` may run a send that reenters this worker.
            let loud = worker.scratch
            loud.withUnsafeBytes(body)
        } else {
            body(frame)
        }
    }

    private func forwardRead(_ frame: UnsafeRawBufferPointer, _ request: MemcachedRequest, verifiable: Bool = false) {
        let quiet = Self.quietCode(request)
        let verifyKey = verifiable ? request.keys.first.map { UnsafeRawBufferPointer(rebasing: frame[$0]) } : nil
        withRoutingKey(frame, request) { key in
            withLoudFrame(frame, request) { read($0, quiet: quiet, key: key, verifyKey: verifyKey) }
        }
    }

    private func forwardWrite(_ frame: UnsafeRawBufferPointer, _ request: MemcachedRequest) {
        let quiet = Self.quietCode(request)
        withRoutingKey(frame, request) { key in
            withLoudFrame(frame, request) { write($0, quiet: quiet, key: key) }
        }
    }

    /// gat/gats and mg with T read from one cluster and change the item's expiry there: the other
    /// clusters get the same expiry as a touch, so the copies expire together.
    private func readAndTouch(_ frame: UnsafeRawBufferPointer, _ request: MemcachedRequest) {
        var touch: [UInt8] = []
        if request.command == .metaGet {
            // The serving cluster is chosen before the read goes out, as the read will choose it.
            let placement = placement(frame, request)
            let except: UInt64 = router.readTarget(placement).map { 1 << UInt64($0) } ?? 0
            forwardRead(frame, request)
            MemcachedEncoder.metaTouchEffect(request, frame: frame, into: &touch)
            touch.withUnsafeBytes { router.replicate($0, placement: placement, except: except) }
            return
        }
        if !splitRetrieval(frame, request) {
            withRoutingKey(frame, request) { read(frame, key: $0) }
        }
        var placement = Placement()
        for key in request.keys {
            let keyBytes = UnsafeRawBufferPointer(rebasing: frame[key])
            router.place(key: keyBytes, into: &placement)
            let except: UInt64 = router.readTarget(placement).map { 1 << UInt64($0) } ?? 0
            touch.removeAll(keepingCapacity: true)
            MemcachedEncoder.touch(key: keyBytes, exptime: request.exptime, into: &touch)
            touch.withUnsafeBytes { router.replicate($0, placement: placement, except: except) }
        }
    }

    private func decideWrite(_ frame: UnsafeRawBufferPointer, _ request: MemcachedRequest, effect: [UInt8],
                             success: StaticString) {
        pendingEffect = (effect, success)
        waitingForDecision = true
        channel.pauseReading()
        let quiet = Self.quietCode(request)
        withRoutingKey(frame, request) { key in
            withLoudFrame(frame, request) { decide($0, quiet: quiet, key: key) }
        }
    }

    func decisionEffect(reply: UnsafeRawBufferPointer) -> [UInt8]? {
        guard let (effect, success) = pendingEffect else { return nil }
        pendingEffect = nil
        return MemcachedWire.hasPrefix(reply, success) ? effect : nil
    }

    /// Memcached sessions never wait for other clusters to settle.
    func allSettled() {}

    /// Memcached sessions hold nothing on a router of their own.
    func routerChanged(from old: ClusterRouter<MemcachedWire>) {}

    func decisionEnded() {
        pendingEffect = nil
        waitingForDecision = false
        resumeReadingUnlessClosing()
        worker.loop.deferToEndOfBatch { [self] in processInput() }
    }

    // MARK: replies

    private func replyLine(_ text: String) {
        var out: [UInt8] = []
        MemcachedEncoder.line(text, into: &out)
        reply(out)
    }

    /// A proxy-answered command that takes `noreply`.
    private func replyQuietly(_ request: MemcachedRequest, _ text: String) {
        if request.noreply { reply([]) } else { replyLine(text) }
    }

    func reply(_ bytes: [UInt8]) {
        let tag = order.next()
        bytes.withUnsafeBytes { complete(tag: tag, reply: $0) }
    }

    /// quiet: 0 shows everything, 1 is text `noreply`, 0x80 | command is meta quiet mode for that command.
    @inline(__always)
    func respond(tag: UInt64, quiet: UInt8, reply: UnsafeRawBufferPointer) {
        if quiet != 0 {
            let suppressed = quiet == 1
                ? MemcachedQuiet.suppresses(.set, quiet: false, noreply: true, reply: reply)
                : MemcachedQuiet.suppresses(MemcachedCommand(rawValue: quiet & 0x7f)!, quiet: true, noreply: false, reply: reply)
            if suppressed {
                complete(tag: tag, reply: UnsafeRawBufferPointer(start: nil, count: 0))
                return
            }
        }
        complete(tag: tag, reply: reply)
    }

    /// Nothing waits for the replies to drain: decisions resume input themselves.
    func allRepliesWritten() {}
}
