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
final class RedisClientSession: ChannelDelegate, ReplyConsumer {
    let id: Int
    let channel: SocketChannel
    /// unowned(unsafe): a worker outlives its sessions (it closes them before it goes), and this is
    /// read several times per request.
    unowned(unsafe) let worker: RedisWorker
    var logger: Logger
    /// 2 or 3, as negotiated with HELLO.
    var protocolVersion = 2
    var name: [UInt8]? = nil
    private var order = ReplyOrder()
    private var slots = RequestSlots()
    /// The buffered input cannot hold a whole request before it has at least this many bytes.
    private var needBytes = 0
    /// Set when a request must wait until every earlier reply is back (a protocol switch).
    private var waitingForBarrier = false
    /// Set while a write decided by one cluster (SPOP, XADD *) waits for that cluster's answer.
    private var waitingForDecision = false
    private var pausedForInFlight = false
    private(set) var closeWhenDone = false
    private var draining = false

    init(id: Int, channel: SocketChannel, worker: RedisWorker, logger: Logger) {
        self.id = id
        self.channel = channel
        self.worker = worker
        self.logger = logger
    }

    var outstanding: Int { order.outstanding }

    /// The client's address, for CLIENT INFO (a system call; not for the request path).
    var peer: String { (try? Posix.peerAddress(channel.fd)).map { "\($0)" } ?? "?" }
    var local: String { (try? Posix.localAddress(channel.fd)).map { "\($0)" } ?? "?" }

    // MARK: input

    func channelRead(_ channel: SocketChannel) {
        processInput()
    }

    private func processInput() {
        let input = channel.input
        let limits = worker.limits
        while !closeWhenDone && !waitingForBarrier && !waitingForDecision && channel.state == .open {
            if order.outstanding >= limits.maxClientInFlight {
                pausedForInFlight = true
                channel.pauseReading()
                return
            }
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

    func channelInputClosed(_ channel: SocketChannel) {
        // A client that half-closes after its last command still gets its replies.
        finishAfterReplies()
    }

    func channelDrained(_ channel: SocketChannel) {
        if closeWhenDone && order.outstanding == 0 {
            channel.close()
        }
    }

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
            // a read sent everywhere only costs work (docs/redis-commands.md).
            write(frame)
            return true
        }
        switch info.access {
        case .read, .write:
            if info.blockingOption != nil || info.flags.contains(.blocking),
               worker.commands.isBlocking(info, argumentCount: arguments.count, argument: { UnsafeRawBufferPointer(rebasing: base[arguments[$0]]) }) {
                replyError("ERR \(CommandTable.blockingRefusal)")
            } else if info.access == .read {
                if info.name == "info" && arguments.count == 2
                    && String(decoding: base[arguments[1]], as: UTF8.self).lowercased() == "proxy" {
                    reply(ProxyInfo.render(worker: worker, protocolVersion: protocolVersion))
                } else {
                    read(frame)
                }
            } else if info.flags.contains(.relativeExpiry) || info.flags.contains(.nondeterministic) {
                return replicateDeterministically(info, frame: frame, base: base, arguments: arguments)
            } else {
                write(frame)
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

    // MARK: routing

    /// Sends a read to the best cluster of the read ranking; on a transport failure it moves on to the next.
    @inline(__always)
    private func read(_ frame: UnsafeRawBufferPointer) {
        let slot = slots.allocate(orderTag: order.next())
        slots[slot].isWrite = false
        sendRead(slot, frame, lastError: nil)
    }

    private func sendRead(_ slot: Int, _ frame: UnsafeRawBufferPointer, lastError: UnsafeRawBufferPointer?) {
        var refused: BackendConnection? = nil
        while let c = worker.ranking.candidate(after: slots[slot].tried) {
            slots[slot].tried |= 1 << UInt64(c)
            let backend = worker.clusters[c].backend(protocolVersion: protocolVersion)
            if backend.send(frame, consumer: self, tag: UInt64(slot)) { return }
            refused = backend
        }
        // Every cluster was tried: answer with the most recent reason.
        if let refused {
            finish(slot, reply: refused.unavailableReply)
        } else if let lastError {
            finish(slot, reply: lastError)
        } else {
            finish(slot, reply: Self.noClusterReply)
        }
    }

    /// Writes whose outcome is not fixed by the data alone: rewritten, decided by one cluster, or refused
    /// (see `DeterministicRewrite`). False while it waits for an earlier decision.
    private func replicateDeterministically(
        _ info: CommandInfo, frame: UnsafeRawBufferPointer, base: UnsafeRawBufferPointer, arguments: [Range<Int>]
    ) -> Bool {
        // The common SET k v and GETEX k carry no expiry option: keep them on the allocation-free path.
        if (info.name == "set" && arguments.count <= 3) || (info.name == "getex" && arguments.count <= 2) {
            write(frame)
            return true
        }
        let args = arguments.map { Array(base[$0]) }
        switch DeterministicRewrite.plan(info.name, args, nowMs: Posix.wallClockMilliseconds()) {
        case .asIs:
            write(frame)
        case .rewritten(let rewritten):
            rewritten.withUnsafeBytes { write($0) }
        case .refuse(let reason):
            replyError("ERR \(reason)")
        case .decideLocally(let kind):
            decide(kind, args: args, frame: frame)
        }
        return true
    }

    /// Runs the write on the best cluster for reads (the local one while it is healthy); the others get
    /// its effect. Later requests wait until then, so every cluster sees this client's writes in order.
    private func decide(_ kind: DeterministicRewrite.Kind, args: [[UInt8]], frame: UnsafeRawBufferPointer) {
        let slot = slots.allocate(orderTag: order.next())
        slots[slot].isWrite = false
        slots[slot].decision = (kind, args)
        waitingForDecision = true
        channel.pauseReading()
        sendRead(slot, frame, lastError: nil)
    }

    /// The deciding cluster answered: the other clusters get its effect, and from here on it is a
    /// write like any other — the ack policy decides when the client gets the deciding reply.
    private func decided(_ slot: Int, cluster: Int, reply: UnsafeRawBufferPointer) {
        defer { endDecision() }
        guard let (kind, args) = slots[slot].decision,
              let value = try? RESPValue.parse(Array(reply)).0,
              let effect = DeterministicRewrite.effect(of: kind, args: args, reply: value)
        else {
            // Nothing changed (an error, nothing popped): nothing to replicate.
            return finish(slot, reply: reply)
        }
        slots[slot].decision = nil
        slots[slot].isWrite = true
        slots[slot].decidedReply = Array(reply)
        slots[slot].fanOut = WriteFanOut(clusterCount: worker.clusters.count, localMask: worker.localMask, policy: worker.policy)
        var refused: [Int] = []
        effect.withUnsafeBytes { frame in
            for link in worker.clusters where link.index != cluster {
                if link.takesWritesDirectly
                    && link.backend(protocolVersion: protocolVersion).send(frame, consumer: self, tag: UInt64(slot)) {
                    continue
                }
                worker.keepForLater(frame, link: link)
                refused.append(link.index)
            }
        }
        // Exactly one record per cluster; whichever comes last releases the slot.
        for c in refused {
            worker.clusters[c].backends[0].unavailableReply.withUnsafeBytes {
                recordWrite(slot, cluster: c, reply: $0, failed: true)
            }
        }
        recordWrite(slot, cluster: cluster, reply: reply, failed: false)
    }

    private func endDecision() {
        waitingForDecision = false
        if !draining && !closeWhenDone { channel.resumeReading() }
        worker.loop.deferToEndOfBatch { [self] in processInput() }
    }

    /// Sends a write to every cluster: directly where the cluster can take it, to its backlog otherwise.
    @inline(__always)
    private func write(_ frame: UnsafeRawBufferPointer) {
        let slot = slots.allocate(orderTag: order.next())
        slots[slot].isWrite = true
        slots[slot].fanOut = WriteFanOut(clusterCount: worker.clusters.count, localMask: worker.localMask, policy: worker.policy)
        for link in worker.clusters {
            let backend = link.backend(protocolVersion: protocolVersion)
            if link.takesWritesDirectly && backend.send(frame, consumer: self, tag: UInt64(slot)) { continue }
            worker.keepForLater(frame, link: link)
            backend.unavailableReply.withUnsafeBytes { recordWrite(slot, cluster: link.index, reply: $0, failed: true) }
        }
    }

    /// Feeds one cluster's outcome to the write's ack policy; answers the client when it decides.
    private func recordWrite(_ slot: Int, cluster c: Int, reply: UnsafeRawBufferPointer, failed: Bool) {
        // A decided write's successes answer different commands (SPOP here, SREM there): one hash for all.
        let hash = slots[slot].decidedReply == nil ? ReplyHash.hash(reply) : 0
        let outcome: WriteFanOut.Outcome = failed ? .failure : .success(replyHash: hash)
        switch slots[slot].fanOut.record(cluster: c, outcome) {
        case .answer(let answered):
            if let decidedReply = slots[slot].decidedReply, slots[slot].fanOut.answeredWithSuccess {
                decidedReply.withUnsafeBytes { complete(tag: slots[slot].orderTag, reply: $0) }
            } else if answered == c {
                complete(tag: slots[slot].orderTag, reply: reply)
            } else if let kept = slots[slot].held?[answered] {
                kept.withUnsafeBytes { complete(tag: slots[slot].orderTag, reply: $0) }
            } else {
                // The policy chose a cluster whose reply was not kept: cannot happen by WriteFanOut's contract.
                Self.noClusterReply.withUnsafeBytes { complete(tag: slots[slot].orderTag, reply: $0) }
            }
            slots[slot].held = nil
        case .wait:
            // Only `majority` and `all` (and `first` when everything so far failed) may later answer
            // with a reply that arrived earlier; `first` on success and `local` never need a copy.
            if worker.policy != .local && slots[slot].fanOut.answeredCluster == nil {
                if slots[slot].held == nil { slots[slot].held = Array(repeating: nil, count: worker.clusters.count) }
                slots[slot].held![c] = Array(reply)
            }
        }
        if slots[slot].fanOut.isComplete {
            let fanOut = slots[slot].fanOut
            if let answered = fanOut.answeredCluster, fanOut.divergentMask | slots[slot].errorMask != 0 {
                worker.noteDivergence(
                    answered: answered, divergent: fanOut.divergentMask,
                    rejected: fanOut.answeredWithSuccess ? slots[slot].errorMask : 0)
            }
            slots.release(slot)
        }
    }

    private func finish(_ slot: Int, reply: [UInt8]) {
        reply.withUnsafeBytes { finish(slot, reply: $0) }
    }

    private func finish(_ slot: Int, reply: UnsafeRawBufferPointer) {
        let tag = slots[slot].orderTag
        slots.release(slot)
        complete(tag: tag, reply: reply)
    }

    static let noClusterReply: [UInt8] = Array("-ERR no cluster is available for this read\r\n".utf8)

    // MARK: replies

    func backendReplied(tag: UInt64, cluster: Int, reply: UnsafeRawBufferPointer) {
        let slot = Int(tag)
        if slots[slot].isWrite {
            let isError = reply.first.map(RESPType.isError) ?? true
            if isError { slots[slot].errorMask |= 1 << UInt64(cluster) }
            recordWrite(slot, cluster: cluster, reply: reply, failed: isError)
        } else if slots[slot].decision != nil {
            decided(slot, cluster: cluster, reply: reply)
        } else {
            finish(slot, reply: reply)
        }
    }

    func backendFailed(tag: UInt64, cluster: Int, request: UnsafeRawBufferPointer, reply: UnsafeRawBufferPointer) {
        let slot = Int(tag)
        if slots[slot].isWrite {
            // Sent but unanswered: it may or may not have been applied. Kept for replay (issue #7
            // refines this for writes that are not idempotent).
            worker.keepForLater(request, link: worker.clusters[cluster])
            recordWrite(slot, cluster: cluster, reply: reply, failed: true)
        } else if slots[slot].decision != nil {
            // It may or may not have run there; trying elsewhere could decide differently. Report it.
            finish(slot, reply: reply)
            endDecision()
        } else {
            sendRead(slot, request, lastError: reply)
        }
    }

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
    private func complete(tag: UInt64, reply: UnsafeRawBufferPointer) {
        guard channel.state == .open else {
            // Closed client: drop the reply, but keep the count right for shutdown accounting.
            order.complete(tag: tag, reply: reply) { _ in }
            return
        }
        let channel = self.channel
        order.complete(tag: tag, reply: reply) { channel.output.append($0) }
        afterReplies()
    }

    private func afterReplies() {
        if channel.pendingOutputBytes > worker.limits.clientOutputLimitBytes {
            logger.warning("client output limit reached, disconnecting", metadata: [
                "pendingBytes": "\(channel.pendingOutputBytes)", "limit": "\(worker.limits.clientOutputLimitBytes)",
            ])
            channel.close()
            return
        }
        let outstanding = order.outstanding
        if outstanding == 0 {
            if closeWhenDone {
                channel.notifyWhenDrained()
                return
            }
            if waitingForBarrier {
                waitingForBarrier = false
                worker.loop.deferToEndOfBatch { [self] in processInput() }
            }
        }
        if pausedForInFlight && outstanding <= worker.limits.maxClientInFlight / 2 {
            pausedForInFlight = false
            if !draining { channel.resumeReading() }
        }
    }

    // MARK: closing

    /// Stops reading; closes once every outstanding reply is written.
    func finishAfterReplies() {
        closeWhenDone = true
        channel.pauseReading()
        if order.outstanding == 0 {
            if channel.pendingOutputBytes == 0 { channel.close() } else { channel.notifyWhenDrained() }
        }
    }

    /// Shutdown: no new requests, finish the ones in flight.
    func drain() {
        draining = true
        finishAfterReplies()
    }

    private func protocolError(_ message: String) {
        logger.info("client protocol error", metadata: ["error": "\(message)"])
        worker.protocolErrors += 1
        replyError("ERR Protocol error: \(message)")
        finishAfterReplies()
    }
}
