/// Which commands a transaction refuses at queue time, with Redis 7's replies.
///
/// Contract (checked against redis-server 7.0 in QueuedTransactionRealRedisTests), in Redis's order:
/// 1. Wrong arity, MULTI and WATCH included: `ERR wrong number of arguments for '<name>' command`
///    (`client|setname` for a subcommand, as Redis names it). Marks the transaction dirty.
/// 2. Commands Redis flags `no-multi` (SYNC, PSYNC, SAVE, SHUTDOWN): `ERR Command not allowed
///    inside a transaction`. Marks it dirty.
/// 3. MULTI: `ERR MULTI calls can not be nested`; WATCH: `ERR WATCH inside MULTI is not allowed`.
///    These do not mark it dirty: Redis runs EXEC as if they had not been sent.
/// 4. The proxy's own rule, with Redis's wording for 2 and marking it dirty: commands Redis would
///    queue but whose effect inside EXEC the proxy cannot carry — those changing the connection's
///    state (SELECT, AUTH, CLIENT SETNAME, READONLY ...), which the proxy keeps per client while
///    EXEC runs on a backend connection; subscriptions, which would leave that connection
///    subscribed; commands the proxy answers from the client's own state (HELLO, CLIENT ID ...),
///    which the backend would answer for its own connection (PING and ECHO, answered alike, are
///    queued); and WAIT/WAITAOF, which ask about a backend's Redis replication.
/// An unknown command (`info` nil) is not refused here: the proxy forwards unknown commands, and
/// the deciding cluster rejects it itself, answering EXEC with EXECABORT.
extension QueuedTransaction {
    /// The error (without the leading "-") to answer instead of `+QUEUED` for a command sent inside
    /// MULTI, nil to queue it. `info` is the command's entry (the subcommand's for a container:
    /// `CommandTable.lookup(_:subcommand:)`); `argumentCount` includes the command name.
    /// Not for EXEC, DISCARD, RESET and QUIT, which act at once.
    public static func queueCheck(_ info: CommandInfo?, argumentCount: Int) -> String? {
        guard let info else { return nil }
        if !info.acceptsArgumentCount(argumentCount) {
            return "ERR wrong number of arguments for '\(info.name)' command"
        }
        if redisNoMulti.contains(info.name) { return notAllowed }
        switch info.name {
        case "multi": return nestedMulti
        case "watch": return watchInsideMulti
        default: break
        }
        switch info.access {
        case .connectionState: return notAllowed
        case .proxyAnswered where info.name != "ping" && info.name != "echo": return notAllowed
        default: break
        }
        return proxyNoMulti.contains(info.name) ? notAllowed : nil
    }

    /// `queueCheck`, marking the transaction dirty when the refusal does (every one but nested MULTI
    /// and WATCH inside MULTI).
    public mutating func checkQueueing(_ info: CommandInfo?, argumentCount: Int) -> String? {
        guard let error = Self.queueCheck(info, argumentCount: argumentCount) else { return nil }
        if error != Self.nestedMulti && error != Self.watchInsideMulti { markDirty() }
        return error
    }

    static let notAllowed = "ERR Command not allowed inside a transaction"
    static let nestedMulti = "ERR MULTI calls can not be nested"
    static let watchInsideMulti = "ERR WATCH inside MULTI is not allowed"

    /// Redis 7.0's `no-multi` commands (COMMAND INFO flags).
    static let redisNoMulti: Set<String> = ["sync", "psync", "save", "shutdown"]

    /// Commands Redis queues that the proxy refuses inside a transaction (see rule 4).
    static let proxyNoMulti: Set<String> = [
        "subscribe", "psubscribe", "ssubscribe", "unsubscribe", "punsubscribe", "sunsubscribe",
        "wait", "waitaof",
    ]
}
