import EventLoop
import RedisProtocol

/// Blocking commands (BLPOP, BRPOP, BLMOVE, BLMPOP, BZPOPMIN/MAX, BZMPOP, BRPOPLPUSH, XREAD and
/// XREADGROUP with BLOCK, WAIT, WAITAOF) run on the client's own connection to the local cluster's
/// server (the first of the read ranking that can serve the keys), so they hold no shared
/// connection. What they take is a decided write: the other clusters get its effect (LPOP, RPOP,
/// LMOVE, ZREM, XCLAIM ... of exactly what was taken; see `DeterministicRewrite.effects`).
/// Redis's own timeout applies; the proxy's request timeout is extended by it while the command waits.
extension RedisClientSession {
    /// False when it must wait until the client's earlier requests are settled everywhere.
    func blockingCommand(_ info: CommandInfo, frame: UnsafeRawBufferPointer, base: UnsafeRawBufferPointer,
                         arguments: [Range<Int>]) -> Bool {
        let keys = router.isSharded ? keyPositions(info, base: base, arguments: arguments) : []
        guard let placement = sharedPlacement(keys, base: base, arguments: arguments) else {
            replyError("CROSSSHARD Keys in request don't hash to the same server in every cluster; \(info.displayName) needs all its keys on one server: give them one hash tag")
            return true
        }
        let key = keys.first.map { UnsafeRawBufferPointer(rebasing: base[arguments[$0]]) }
        // The client's earlier writes must be in on that server before this waits there on another
        // connection (an LPUSH just before a BLPOP must be seen by it).
        guard awaitSettled() else { return false }
        guard let cluster = router.readTarget(placement) else {
            reply(RedisWire.noClusterReply)
            return true
        }
        let connection = dedicated.connection(router, cluster: cluster, shard: placement.shard(cluster), variant: variant)
        connection.deadlineAllowance = Self.blockingAllowance(info.name, base: base, arguments: arguments)
        let kind = DeterministicRewrite.blockingKind(info.name)
        pendingDecision = .blocking(kind, kind == nil ? [] : arguments.map { Array(base[$0]) })
        // Reading goes on (nothing is parsed meanwhile): a client that leaves while blocked must be
        // noticed, so that its command stops waiting and takes nothing (`channelInputClosed`).
        waitingForDecision = true
        decide(frame, key: key, on: connection)
        return true
    }

    /// How long the command may rightly wait, in nanoseconds, from its timeout argument (seconds for
    /// the list and sorted-set commands, milliseconds for XREAD BLOCK, WAIT and WAITAOF); 0 means
    /// forever. Unparsable timeouts get none: the server answers them with an error at once.
    static func blockingAllowance(_ name: String, base: UnsafeRawBufferPointer, arguments: [Range<Int>]) -> UInt64 {
        func argument(_ i: Int) -> String? {
            guard i >= 0, i < arguments.count else { return nil }
            return String(decoding: base[arguments[i]], as: UTF8.self)
        }
        let forever: UInt64 = 1 << 62
        var seconds: Double?
        switch name {
        case "blmpop", "bzmpop": seconds = argument(1).flatMap(Double.init)
        case "wait": seconds = argument(2).flatMap(Double.init).map { $0 / 1000 }
        case "waitaof": seconds = argument(3).flatMap(Double.init).map { $0 / 1000 }
        case "xread", "xreadgroup":
            if let i = arguments.indices.dropFirst().first(where: { argument($0)?.lowercased() == "block" }) {
                seconds = argument(i + 1).flatMap(Double.init).map { $0 / 1000 }
            }
        default: seconds = argument(arguments.count - 1).flatMap(Double.init)
        }
        guard let seconds, seconds.isFinite, seconds >= 0 else { return 0 }
        if seconds == 0 || seconds > 1e9 { return forever }
        return UInt64(seconds * 1e9)
    }

    /// Whether a blocking command of this client is waiting on its own connection.
    var isBlocked: Bool {
        if case .blocking = pendingDecision { return true }
        return false
    }

    /// Whether every earlier request of this client has been answered by every cluster; when not,
    /// the session stops parsing until it has (`waitingForBarrier`, lifted by `allRepliesWritten`
    /// or, when a slower cluster reports after the client was answered, by `allSettled`).
    func awaitSettled() -> Bool {
        if order.outstanding == 0 && slots.inUse == 0 { return true }
        waitingForBarrier = true
        return false
    }

    func allSettled() {
        // The client's replies are all out and the last cluster has now reported: parse on.
        if waitingForBarrier && order.outstanding == 0 { allRepliesWritten() }
    }
}
