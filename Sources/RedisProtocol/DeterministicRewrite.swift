/// Makes a write's effect the same on every cluster, as Redis's own replication does ("effects, not
/// dice rolls"). Pure: no sockets, the wall clock passed in.
///
/// Contract: `plan` looks at one write and says how to replicate it:
/// - `.asIs`: deterministic; send the original frame everywhere.
/// - `.rewritten(frame)`: send this frame everywhere instead — relative expiries become absolute
///   instants (EXPIRE → PEXPIREAT, SET EX/PX → PXAT, SETEX/PSETEX → SET PXAT, GETEX EX/PX → PXAT,
///   RESTORE ttl → ABSTTL), so every cluster expires the key at the same moment.
/// - `.decideLocally(kind)`: run it on one cluster, then send the others `effect(of:reply:...)`
///   (SPOP → SREM of the members popped; XADD with `*` → XADD with the ID chosen).
/// - `.refuse(reason)`: the outcome depends on more than the data and cannot be made deterministic.
/// Invalid arguments are left `.asIs`, so every cluster returns the same error Redis would.
public enum DeterministicRewrite {
    public enum Kind: Equatable, Sendable { case spop, xaddAutoID, blpop, brpop, brpoplpush, blmove, blmpop, bzpopmin, bzpopmax, bzmpop, xreadgroup }

    public enum Plan: Equatable, Sendable {
        case asIs
        case rewritten([UInt8])
        case decideLocally(Kind)
        case refuse(String)
    }

    /// `args[0]` is the command name; `nowMs` is Unix time in milliseconds.
    public static func plan(_ command: String, _ args: [[UInt8]], nowMs: Int64) -> Plan {
        switch command {
        case "expire": return relativeToAbsolute(args, scale: 1000, nowMs: nowMs)
        case "pexpire": return relativeToAbsolute(args, scale: 1, nowMs: nowMs)
        case "setex", "psetex":
            guard args.count == 4, let ttl = number(args[2]), ttl > 0,
                  let at = absolute(ttl, scale: command == "setex" ? 1000 : 1, nowMs: nowMs) else { return .asIs }
            return .rewritten(encode([Array("SET".utf8), args[1], args[3], Array("PXAT".utf8), digits(at)]))
        case "set": return replaceRelativeOption(args, from: 3, nowMs: nowMs)
        case "getex": return replaceRelativeOption(args, from: 2, nowMs: nowMs)
        case "restore": return restore(args, nowMs: nowMs)
        case "spop": return .decideLocally(.spop)
        case "xadd": return xadd(args)
        case "xtrim": return trimmingIsExact(args, from: 2) ? .asIs : .refuse(approximateTrim)
        case "xclaim", "xautoclaim":
            return .refuse("\(command.uppercased()) depends on each cluster's idle times and delivery state, so it cannot be replicated deterministically through metacluster")
        default: return .asIs
        }
    }

    /// What the other clusters get once one cluster ran a `.decideLocally` write (or a blocking
    /// command, `blockingKind`) and sent `reply`: `effects` as one buffer. It holds
    /// `effects(of:args:reply:).count` commands, so expect that many replies; only `.xreadgroup`
    /// can need more than one. nil when there is no effect to replicate (nothing popped, an error,
    /// a timeout, NOMKSTREAM on a missing stream).
    public static func effect(of kind: Kind, args: [[UInt8]], reply: RESPValue) -> [UInt8]? {
        let commands = effects(of: kind, args: args, reply: reply)
        return commands.isEmpty ? nil : Array(commands.joined())
    }

    /// The commands, each encoded on its own, that give the other clusters the effect of the write
    /// of `kind` with arguments `args` (`args[0]` the command name) that one cluster answered with
    /// `reply`, in RESP2 or RESP3. Empty when there is nothing to replicate.
    public static func effects(of kind: Kind, args: [[UInt8]], reply: RESPValue) -> [[UInt8]] {
        if case .attribute(_, let value) = reply { return effects(of: kind, args: args, reply: value) }
        switch kind {
        case .spop:
            var members: [[UInt8]] = []
            switch reply {
            case .bulk(let m?): members = [m]
            case .array(let items?), .set(let items):
                for case .bulk(let m?) in items { members.append(m) }
            default: return []
            }
            guard !members.isEmpty, args.count > 1 else { return [] }
            return [encode([Array("SREM".utf8), args[1]] + members)]
        case .xaddAutoID:
            guard case .bulk(let id?) = reply, let star = autoIDIndex(args) else { return [] }
            var replaced = args
            replaced[star] = id
            return [encode(replaced)]
        case .blpop, .brpop, .brpoplpush, .blmove, .blmpop, .bzpopmin, .bzpopmax, .bzmpop, .xreadgroup:
            return blockingEffects(of: kind, args: args, reply: reply)
        }
    }

    // MARK: expiries

    static func relativeToAbsolute(_ args: [[UInt8]], scale: Int64, nowMs: Int64) -> Plan {
        guard args.count >= 3, let ttl = number(args[2]), let at = absolute(ttl, scale: scale, nowMs: nowMs) else {
            return .asIs
        }
        // A TTL <= 0 deletes the key in Redis; an instant in the past does the same with PEXPIREAT.
        return .rewritten(encode([Array("PEXPIREAT".utf8), args[1], digits(at)] + args[3...]))
    }

    /// SET/GETEX: replaces `EX n` / `PX n` (at or after index `from`) with `PXAT instant`.
    static func replaceRelativeOption(_ args: [[UInt8]], from: Int, nowMs: Int64) -> Plan {
        var i = from
        while i < args.count {
            let option = lower(args[i])
            if (option == "ex" || option == "px") && i + 1 < args.count {
                guard let ttl = number(args[i + 1]), ttl > 0,
                      let at = absolute(ttl, scale: option == "ex" ? 1000 : 1, nowMs: nowMs) else { return .asIs }
                var out = args
                out[i] = Array("PXAT".utf8)
                out[i + 1] = digits(at)
                return .rewritten(encode(out))
            }
            i += 1
        }
        return .asIs
    }

    static func restore(_ args: [[UInt8]], nowMs: Int64) -> Plan {
        guard args.count >= 4, let ttl = number(args[2]), ttl > 0 else { return .asIs }
        if args[4...].contains(where: { lower($0) == "absttl" }) { return .asIs }
        guard let at = absolute(ttl, scale: 1, nowMs: nowMs) else { return .asIs }
        var out = args
        out[2] = digits(at)
        out.append(Array("ABSTTL".utf8))
        return .rewritten(encode(out))
    }

    static func absolute(_ ttl: Int64, scale: Int64, nowMs: Int64) -> Int64? {
        let (ms, o1) = ttl.multipliedReportingOverflow(by: scale)
        let (at, o2) = nowMs.addingReportingOverflow(ms)
        return o1 || o2 ? nil : at
    }

    // MARK: streams

    static let approximateTrim =
        "approximate stream trimming (~ or LIMIT) depends on each cluster's internal layout; use exact trimming (=) through metacluster"

    static func xadd(_ args: [[UInt8]]) -> Plan {
        guard trimmingIsExact(args, from: 2) else { return .refuse(approximateTrim) }
        return autoIDIndex(args) == nil ? .asIs : .decideLocally(.xaddAutoID)
    }

    /// Index of the `*` ID in an XADD, skipping its options; nil when the ID is explicit.
    static func autoIDIndex(_ args: [[UInt8]]) -> Int? {
        var i = 2
        while i < args.count {
            switch lower(args[i]) {
            case "nomkstream": i += 1
            case "maxlen", "minid":
                i += 1
                if i < args.count, args[i] == Array("=".utf8) || args[i] == Array("~".utf8) { i += 1 }
                i += 1
            case "limit": i += 2
            default: return args[i] == Array("*".utf8) ? i : nil
            }
        }
        return nil
    }

    static func trimmingIsExact(_ args: [[UInt8]], from: Int) -> Bool {
        !args[min(from, args.count)...].contains { $0 == Array("~".utf8) || lower($0) == "limit" }
    }

    // MARK: bytes

    static func number(_ bytes: [UInt8]) -> Int64? {
        Int64(String(decoding: bytes, as: UTF8.self))
    }

    static func digits(_ value: Int64) -> [UInt8] { Array(String(value).utf8) }

    static func lower(_ bytes: [UInt8]) -> String { String(decoding: bytes, as: UTF8.self).lowercased() }

    static func encode(_ args: [[UInt8]]) -> [UInt8] {
        var out: [UInt8] = Array("*\(args.count)\r\n".utf8)
        for arg in args { RESPEncoder.bulk(arg, into: &out) }
        return out
    }
}
