import EventLoop
import RedisProtocol

/// Writes whose outcome is not fixed by the data alone (relative expiry, SPOP, XADD *): rewritten so
/// every cluster does the same thing, decided by one cluster whose effect the others get, or refused
/// (see `DeterministicRewrite`).
/// A write decided by one cluster, waiting for its answer.
enum PendingDecision {
    /// SPOP, XADD *: the kind and the arguments.
    case write(DeterministicRewrite.Kind, [[UInt8]])
    /// EXEC of a queued transaction.
    case transaction(QueuedTransaction)
    /// A blocking command; no kind for those that take nothing (XREAD, WAIT).
    case blocking(DeterministicRewrite.Kind?, [[UInt8]])
}

extension RedisClientSession {
    /// False while it waits for an earlier decision.
    func replicateDeterministically(
        _ info: CommandInfo, frame: UnsafeRawBufferPointer, base: UnsafeRawBufferPointer, arguments: [Range<Int>],
        key: UnsafeRawBufferPointer?
    ) -> Bool {
        // The common SET k v and GETEX k carry no expiry option: keep them on the allocation-free path.
        if (info.name == "set" && arguments.count <= 3) || (info.name == "getex" && arguments.count <= 2) {
            write(frame, key: key)
            return true
        }
        let args = arguments.map { Array(base[$0]) }
        switch DeterministicRewrite.plan(info.name, args, nowMs: Posix.wallClockMilliseconds()) {
        case .asIs:
            write(frame, key: key)
        case .rewritten(let rewritten):
            rewritten.withUnsafeBytes { write($0, key: key) }
        case .refuse(let reason):
            replyError("ERR \(reason)")
        case .decideLocally(let kind):
            pendingDecision = .write(kind, args)
            waitingForDecision = true
            channel.pauseReading()
            decide(frame, key: key)
        }
        return true
    }

    func decisionEffect(reply: UnsafeRawBufferPointer) -> [UInt8]? {
        guard let pending = pendingDecision else { return nil }
        pendingDecision = nil
        guard let value = try? RESPValue.parse(Array(reply)).0 else { return nil }
        switch pending {
        case .write(let kind, let args):
            return DeterministicRewrite.effect(of: kind, args: args, reply: value)
        case .transaction(let queued):
            return queued.replicationFrame(execReply: value)?.frame
        case .blocking(let kind, let args):
            guard let kind else { return nil }
            let effects = DeterministicRewrite.effects(of: kind, args: args, reply: value)
            if effects.count <= 1 { return effects.first }
            // Several commands (XREADGROUP over several streams): one block, so it stays one request.
            var block: [UInt8] = []
            RESPEncoder.command(["MULTI"], into: &block)
            for effect in effects { block.append(contentsOf: effect) }
            RESPEncoder.command(["EXEC"], into: &block)
            return block
        }
    }

    func decisionEnded() {
        pendingDecision = nil
        waitingForDecision = false
        resumeReadingUnlessClosing()
        router.loop.deferToEndOfBatch { [self] in processInput() }
    }
}
