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
    var order = ReplyOrder()
    var slots = RequestSlots()
    /// The buffered input cannot hold a whole request before it has at least this many bytes.
    private var needBytes = 0
    /// Set when a request must wait until every earlier reply is back (a protocol switch).
    private var waitingForBarrier = false
    /// Set while a write decided by one cluster (SPOP, XADD *) waits for that cluster's answer.
    var waitingForDecision = false
    /// That write's kind and arguments, from which its effect on the other clusters is derived.
    var pendingDecision: (kind: DeterministicRewrite.Kind, args: [[UInt8]])? = nil
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
        worker.sessionClosed(self)
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
        let info: CommandInfo?
        if arguments.count > 1, let container = worker.commands.lookup(name), worker.commands.isContainer(container) {
            info = worker.commands.lookup(name, subcommand: UnsafeRawBufferPointer(rebasing: base[arguments[1]]))
        } else {
            info = worker.commands.lookup(name)
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
                replyError("ERR \(CommandTable.blockingRefusal)")
                return true
            }
            if info.access == .read && info.name == "info" && answerInfo(base: base, arguments: arguments) { return true }
            if info.access == .write && !worker.allowFlush && (info.name == "flushall" || info.name == "flushdb") {
                replyError("ERR \(info.name.uppercased()) is disabled: it would empty every cluster; set allowFlush in the config")
                return true
            }
            var key: UnsafeRawBufferPointer? = nil
            if router.isSharded {
                switch shardRoute(info, base: base, arguments: arguments) {
                case .handled: return true
                case .keyless: break
                case .key(let k): key = k
                }
            }
            if info.access == .read {
                // Reads whose reply depends on the data alone can be verified against another cluster.
                let verifiable = arguments.count > 1 && router.verifier.isOn
                    && info.flags.isDisjoint(with: [.nondeterministic, .unorderedOutput, .keyspaceWide])
                read(frame, key: key, verifyKey: verifiable ? key ?? UnsafeRawBufferPointer(rebasing: base[arguments[1]]) : nil)
            } else if info.flags.contains(.relativeExpiry) || info.flags.contains(.nondeterministic) {
                return replicateDeterministically(info, frame: frame, base: base, arguments: arguments, key: key)
            } else {
                write(frame, key: key)
            }
        case .proxyAnswered, .connectionState:
            let command = LocalCommand(session: self, info: info, base: base, arguments: arguments)
            if command.needsBarrier && order.outstanding > 0 {
                waitingForBarrier = true
                return false
            }
            command.run()
        case .unsupported(let reason):
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
