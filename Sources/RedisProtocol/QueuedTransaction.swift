/// How one queued command reaches the other clusters once the transaction committed on the deciding one.
public enum QueuedReplication: Equatable, Sendable {
    /// A read (or a command the proxy would answer itself): runs on the deciding cluster only.
    case dropped
    /// A deterministic write: the other clusters run it as queued.
    case asIs
    /// A write whose outcome the deciding cluster picks (SPOP, XADD *, BLPOP, XREADGROUP ...): the
    /// others run its effect (`DeterministicRewrite.effects`), derived from its reply inside EXEC's reply.
    case decided(DeterministicRewrite.Kind)
}

/// A MULTI ... EXEC block the proxy buffers until EXEC. Pure: it builds the bytes, the session
/// sends them.
///
/// Contract:
/// - Between MULTI and EXEC the session checks each command with `checkQueueing` (or `queueCheck`
///   and `markDirty` itself), answers a refusal with that error and anything else with `+QUEUED`,
///   and queues it with how it replicates. EXEC, DISCARD, RESET and QUIT act at once, as in
///   Redis, and are never queued or checked. A command the proxy refuses for its own reasons
///   (`.unsupported`, `DeterministicRewrite.Plan.refuse`) is a queue-time rejection too: answer
///   it and `markDirty`.
/// - At EXEC, a dirty transaction is answered `-EXECABORT ...` (`execAbortError`) without a
///   backend. Otherwise one cluster, the deciding one, runs `execFrame()` on one connection (after
///   the client's WATCHes, if any) and answers `count + 2` replies, the last being EXEC's, which
///   goes to the client.
/// - The other clusters then run `replicationFrame(execReply:)`, if not nil: the same writes,
///   with each decided one replaced by its effect, in one MULTI/EXEC so they apply atomically.
///   Commands that failed inside EXEC on the deciding cluster are not replicated: on the same
///   data they fail everywhere.
public struct QueuedTransaction: Sendable {
    /// Redis's answer to EXEC after a queue-time rejection (without the leading "-").
    public static let execAbortError = "EXECABORT Transaction discarded because of previous errors."

    struct Entry: Sendable {
        /// The command as the deciding cluster runs it, encoded.
        var frame: [UInt8]
        /// Its arguments, kept only when its effect is derived from its reply.
        var args: [[UInt8]]
        var replication: QueuedReplication
    }

    private var entries: [Entry] = []

    /// A command was rejected at queue time: EXEC must answer EXECABORT.
    public private(set) var isDirty = false

    public init() {}

    /// How many commands are queued.
    public var count: Int { entries.count }

    /// Queues a command; `args[0]` is the command name as sent.
    public mutating func queue(_ args: [[UInt8]], replication: QueuedReplication) {
        let kept: [[UInt8]]
        if case .decided = replication { kept = args } else { kept = [] }
        entries.append(Entry(frame: DeterministicRewrite.encode(args), args: kept, replication: replication))
    }

    /// Queues a write `DeterministicRewrite.plan` rewrote (`.rewritten(frame)`, a relative expiry made
    /// absolute): every cluster, the deciding one included, runs `frame`, as outside a transaction.
    /// `frame` is one whole request (a multibulk).
    public mutating func queue(rewritten frame: [UInt8]) {
        entries.append(Entry(frame: frame, args: [], replication: .asIs))
    }

    /// Records a queue-time rejection.
    public mutating func markDirty() {
        isDirty = true
    }

    /// MULTI, each queued command, EXEC, RESP2-encoded in one buffer; the deciding cluster answers
    /// count + 2 replies, the last being EXEC's.
    public func execFrame() -> [UInt8] {
        var out = Self.multi
        for entry in entries { out += entry.frame }
        out += Self.exec
        return out
    }

    /// What the other clusters run once the deciding cluster answered EXEC with `execReply` (RESP2 or
    /// RESP3): one MULTI/EXEC frame holding the replicated commands, in queue order — `.asIs` ones as
    /// queued, `.decided` ones as their effects (`DeterministicRewrite.effects` of their element of
    /// the EXEC reply) — skipping `.dropped` ones, ones whose element is an error, and decided ones
    /// with no effect. `commands` is how many commands the frame holds between MULTI and EXEC (it
    /// is answered `commands + 2` replies). nil when nothing is to be replicated, or when `execReply`
    /// is not an array (null: a WATCHed key changed; error: EXECABORT) or does not hold one element
    /// per queued command.
    public func replicationFrame(execReply: RESPValue) -> (frame: [UInt8], commands: Int)? {
        guard let replies = DeterministicRewrite.elements(execReply), replies.count == entries.count else {
            return nil
        }
        var body: [UInt8] = []
        var commands = 0
        for (entry, reply) in zip(entries, replies) where !Self.isError(reply) {
            switch entry.replication {
            case .dropped:
                continue
            case .asIs:
                body += entry.frame
                commands += 1
            case .decided(let kind):
                for effect in DeterministicRewrite.effects(of: kind, args: entry.args, reply: reply) {
                    body += effect
                    commands += 1
                }
            }
        }
        guard commands > 0 else { return nil }
        return (Self.multi + body + Self.exec, commands)
    }

    static let multi = DeterministicRewrite.encode([Array("MULTI".utf8)])
    static let exec = DeterministicRewrite.encode([Array("EXEC".utf8)])

    static func isError(_ value: RESPValue) -> Bool {
        switch value {
        case .error, .blobError: return true
        case .attribute(_, let inner): return isError(inner)
        default: return false
        }
    }
}
