import EventLoop
import Logging
import RedisProtocol
import Routing

/// One redis client connection: frames its requests, sends each to the backend or answers it
/// locally, and writes the replies back in request order.
///
/// Contract:
/// - Owned by one loop; every method runs there.
/// - Replies go out in the order the requests came in, whatever answers them.
/// - Malformed input gets `-ERR Protocol error: ...` and the connection is closed once that reply
///   is written; other clients are unaffected.
/// - Backpressure: with `maxClientInFlight` requests outstanding the session stops reading; past
///   `clientOutputLimitBytes` of unwritten output it disconnects the client.
final class RedisClientSession: ClientSession, RoutedSession, RouterSwitching {
    typealias Wire = RedisWire

    let id: Int
    let channel: SocketChannel
    /// unowned(unsafe): a worker outlives its sessions (it closes them before it goes), and this is
    /// read several times per request.
    unowned(unsafe) let worker: RedisWorker
    /// The worker's router, cached: it is read for every forwarded request.
    unowned(unsafe) var router: ClusterRouter<RedisWire>
    var logger: Logger
    /// 2 or 3, as negotiated with HELLO.
    var protocolVersion = 2 {
        didSet { variant = RedisWire.variant(protocolVersion: protocolVersion) }
    }
    /// The backend connection variant matching `protocolVersion`.
    private(set) var variant = 0
    var name: [UInt8]? = nil
    /// The user AUTH or HELLO ... AUTH authenticated this connection as; nil until then (redis's
    /// `default` user, which needs no AUTH unless passwords are configured: see `ClientAuthenticator`).
    var authenticatedUser: String? = nil
    var order = ReplyOrder()
    var slots = RequestSlots()
    /// The buffered input cannot hold a whole request before it has at least this many bytes.
    private var needBytes = 0
    /// Set when a request must wait until every earlier reply is back (a protocol switch), or until
    /// every earlier request is settled on every cluster (`awaitSettled`).
    var waitingForBarrier = false
    /// Set while a write decided by one cluster (SPOP, XADD *, EXEC, BLPOP) waits for its answer.
    var waitingForDecision = false
    /// What that write was, from which its effect on the other clusters is derived.
    var pendingDecision: PendingDecision? = nil
    /// MULTI ... being queued (nil outside a transaction); see `RedisClientSession+Transactions`.
    var transaction: QueuedTransaction? = nil
    /// Sharded routers: a key of the transaction, which places it (every key must live with it).
    var transactionKey: [UInt8]? = nil
    /// Where the client's WATCH runs, while it watches.
    var watched: Watch? = nil
    /// The client's own backend connections (WATCH, blocking commands).
    let dedicated = DedicatedConnections<RedisWire>()
    /// The client's subscriptions, as the proxy answers for them.
    var subscriptions = Subscriptions()
    /// The connections carrying them, while subscribed.
    var pubsub: PubSubLink? = nil
    /// Messages waiting for outstanding replies to go out first.
    var heldMessages: [UInt8] = []
    var pausedForInFlight = false
    var closeWhenDone = false
    var draining = false

    init(id: Int, channel: SocketChannel, worker: RedisWorker, logger: Logger) {
        self.id = id
        self.channel = channel
        self.worker = worker
        self.router = worker.router
        self.logger = logger
    }

    var limits: LimitConfig { worker.limits }

    /// The client's address, for CLIENT INFO (a system call; not for the request path).
    var peer: String { (try? Posix.peerAddress(channel.fd)).map { "\($0)" } ?? "?" }
    var local: String { (try? Posix.localAddress(channel.fd)).map { "\($0)" } ?? "?" }

    // MARK: input

    func channelRead(_ channel: SocketChannel) {
        processInput()
    }

    func processInput() {
        guard moveToCurrentRouter() else { return }
        let input = channel.input
        if isBlocked && input.readableBytes > RedisSessionTuning.inputWhileBlocked {
            // Reading continues while blocked only to notice the client leaving; not without bound.
            channel.pauseReading()
        }
        while !closeWhenDone && !waitingForBarrier && !waitingForDecision && channel.state == .open {
            if pauseIfTooManyInFlight() { return }
            let bytes = input.readable
            if bytes.isEmpty || bytes.count < needBytes { return }
            switch worker.parser.parse(bytes) {
            case .request(let length):
                needBytes = 0
                if !handleRequest(UnsafeRawBufferPointer(rebasing: bytes[0..<length])) {
                    // Not consumed: it waits for the barrier and is parsed again then.
                    return
                }
                // Handling can close the client (output limit); its input is then gone.
                guard channel.state == .open else { return }
                input.consume(length)
            case .empty(let length):
                input.consume(length)
            case .incomplete(let atLeast):
                needBytes = atLeast
                channel.expectInput(atLeast: min(atLeast - bytes.count, 4 << 20))
                return
            case .invalid(let error):
                protocolError(error.message)
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
        dropStatefulState()
        worker.sessionClosed(self)
    }

    func channelInputClosed(_ channel: SocketChannel) {
        // Gone while blocked: like Redis, drop the client now, so that the server stops waiting for
        // it before it takes an element nobody would receive. Otherwise the last replies still go out.
        if isBlocked { return channel.close() }
        finishAfterReplies()
    }

    /// A reload moved the session to a new router: its own connections belonged to the old one
    /// (a WATCH is lost with them: the next EXEC answers as for a touched key), and its
    /// subscriptions move to the new one.
    func routerChanged(from old: ClusterRouter<RedisWire>) {
        dedicated.closeAll(old)
        if !subscriptions.isEmpty {
            pubsub?.close()
            pubsub = PubSubLink(session: self)
            pubsub!.resubscribe(excluding: 0)
        }
    }

    // MARK: requests

    /// Handles the request the parser just framed (`frame` is its bytes in the input); false when it
    /// must wait for the barrier.
    private func handleRequest(_ frame: UnsafeRawBufferPointer) -> Bool {
        let parser = worker.parser
        if parser.isInline {
            return parser.inlineEncoding.withUnsafeBytes { encoding in
                dispatch(frame: encoding, base: encoding, arguments: parser.arguments)
            }
        }
        return dispatch(frame: frame, base: frame, arguments: parser.arguments)
    }

    private func dispatch(frame: UnsafeRawBufferPointer, base: UnsafeRawBufferPointer, arguments: [Range<Int>]) -> Bool {
        let name = UnsafeRawBufferPointer(rebasing: base[arguments[0]])
        if authenticatedUser == nil && worker.clientAuth.isRequired && !ClientAuthenticator.mayRunUnauthenticated(name) {
            replyError(ClientAuthenticator.noAuth)
            return true
        }
        let info: CommandInfo?
        if arguments.count > 1, let container = worker.commands.lookup(name), worker.commands.isContainer(container) {
            info = worker.commands.lookup(name, subcommand: UnsafeRawBufferPointer(rebasing: base[arguments[1]]))
        } else {
            info = worker.commands.lookup(name)
        }
        if restrictedToPubSub && !Self.allowedWhileSubscribed(info?.name ?? "") {
            replyError(Subscriptions.notAllowedError(command: String(decoding: name, as: UTF8.self).lowercased()))
            return true
        }
        if transaction != nil && !(info.map { $0.flags.contains(.transaction) && $0.access == .stateful } ?? false)
            && info?.name != "quit" && info?.name != "reset" {
            queueInTransaction(info, base: base, arguments: arguments)
            return true
        }
        guard let info else {
            // Unknown commands are replicated like writes: a missed write diverges clusters silently,
            // a read sent everywhere only costs work (docs/redis-commands.md). Where keys are sharded
            // the proxy cannot tell which server owns an unknown command's keys.
            if router.isSharded {
                replyError("ERR unknown command '\(String(decoding: name, as: UTF8.self))': a sharded cluster needs to know a command's keys to route it")
            } else {
                write(frame, key: nil)
            }
            return true
        }
        switch info.access {
        case .read, .write:
            if info.blockingOption != nil || info.flags.contains(.blocking),
               worker.commands.isBlocking(info, argumentCount: arguments.count, argument: { UnsafeRawBufferPointer(rebasing: base[arguments[$0]]) }) {
                return blockingCommand(info, frame: frame, base: base, arguments: arguments)
            }
            if info.access == .read && info.name == "info" && answerInfo(base: base, arguments: arguments) { return true }
            if info.flags.contains(.admin) && info.name == "config|get" {
                configGet(frame: frame)
                return true
            }
            if info.access == .write && info.flags.contains(.keyspaceWide)
                && runIfAllowed(info, frame: frame, base: base, arguments: arguments) { return true }
            var key: UnsafeRawBufferPointer? = nil
            if router.isSharded {
                switch shardRoute(info, base: base, arguments: arguments) {
                case .handled: return true
                case .keyless: break
                case .key(let k): key = k
                }
            }
            if info.flags.contains(.scripting) && forwardScript(info, frame: frame, base: base, arguments: arguments, key: key) { return true }
            if info.access == .read {
                // Reads whose reply depends on the data alone can be verified against another cluster.
                let verifiable = arguments.count > 1 && router.verifier.isOn
                    && info.flags.isDisjoint(with: [.nondeterministic, .unorderedOutput, .keyspaceWide])
                read(frame, key: key, verifyKey: verifiable ? key ?? UnsafeRawBufferPointer(rebasing: base[arguments[1]]) : nil)
            } else if info.flags.contains(.relativeExpiry) || info.flags.contains(.nondeterministic) {
                return replicateDeterministically(info, frame: frame, base: base, arguments: arguments, key: key)
            } else {
                write(frame, key: key, repliesDiffer: info.flags.contains(.pubsub))
            }
        case .stateful:
            if info.flags.contains(.pubsub) {
                pubsubCommand(info, base: base, arguments: arguments)
                return true
            }
            return transactionCommand(info, frame: frame, base: base, arguments: arguments)
        case .proxyAnswered where info.name == "ping" && !subscriptions.isEmpty:
            guard arguments.count <= 2 else {
                replyError("ERR wrong number of arguments for 'ping' command")
                return true
            }
            reply(Subscriptions.pingReply(argument: arguments.count == 2 ? Array(base[arguments[1]]) : nil, protocolVersion: protocolVersion))
        case .proxyAnswered, .connectionState:
            let command = LocalCommand(session: self, info: info, base: base, arguments: arguments)
            if command.needsBarrier && order.outstanding > 0 {
                waitingForBarrier = true
                return false
            }
            command.run()
        case .unsupported(let reason):
            if runIfAllowed(info, frame: frame, base: base, arguments: arguments) { return true }
            replyError("ERR \(reason)")
        }
        return true
    }

    /// INFO with the proxy's section: alone for `INFO proxy`, before the serving cluster's own INFO
    /// for `INFO`, `all`, `default` and `everything`. False for other sections (the server's alone).
    private func answerInfo(base: UnsafeRawBufferPointer, arguments: [Range<Int>]) -> Bool {
        let sections = arguments.dropFirst().map { String(decoding: base[$0], as: UTF8.self).lowercased() }
        let wantsProxy = sections.isEmpty || sections.contains { ["proxy", "all", "default", "everything"].contains($0) }
        guard wantsProxy else { return false }
        let text = ProxyInfo.text(
            router: router, uptimeSeconds: Posix.wallClockMilliseconds() / 1000 - worker.startedAt,
            clients: worker.clientCount.value)
        let rest = arguments.enumerated().filter { $0.offset == 0 || sections[$0.offset - 1] != "proxy" }.map(\.element)
        if rest.count == 1 && !sections.isEmpty {
            reply(ProxyInfo.reply(text, protocolVersion: protocolVersion))
            return true
        }
        guard let cluster = router.readTarget(Placement()) else { return false }
        var command: [UInt8] = []
        Self.encodeCommand(rest, base: base, into: &command)
        let version = protocolVersion
        gather(cluster: cluster, servers: [0], frame: { _ in command }) { ProxyInfo.prepend(text, to: $0[0], protocolVersion: version) }
        return true
    }

    // MARK: replies

    /// Answers the next request with bytes the proxy composed.
    func reply(_ bytes: [UInt8]) {
        let tag = order.next()
        bytes.withUnsafeBytes { complete(tag: tag, reply: $0) }
    }

    func replyError(_ message: String) {
        var out: [UInt8] = []
        RESPEncoder.error(message, into: &out)
        reply(out)
    }

    @inline(__always)
    func respond(tag: UInt64, quiet: UInt8, reply: UnsafeRawBufferPointer) {
        complete(tag: tag, reply: reply)
    }

    func allRepliesWritten() {
        releaseHeldMessages()
        if waitingForBarrier {
            waitingForBarrier = false
            worker.loop.deferToEndOfBatch { [self] in processInput() }
        }
    }

    private func protocolError(_ message: String) {
        worker.clientCount.protocolErrors.bump()
        logger.info("client protocol error", metadata: ["error": "\(message)"])
        replyError("ERR Protocol error: \(message)")
        finishAfterReplies()
    }
}

/// Constants of `RedisClientSession`.
enum RedisSessionTuning {
    /// Input a blocked client may send ahead before the session stops reading it.
    static let inputWhileBlocked = 1 << 20
}
