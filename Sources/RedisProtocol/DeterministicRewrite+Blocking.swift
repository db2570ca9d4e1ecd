/// Blocking commands: which cluster serves a waiting client, and when, depends on that cluster
/// alone, so one cluster runs the command and the others get exactly what it took, as Redis's own
/// replication propagates them (BLPOP as LPOP, XREADGROUP as XCLAIM ...).
///
/// Contract: `blockingKind` names the commands whose effect is replicated this way; `effects` (in
/// DeterministicRewrite.swift) dispatches here with the command's arguments and the reply the
/// deciding cluster sent, in RESP2 or RESP3:
/// - BLPOP / BRPOP → `LPOP|RPOP key`, the key being the one the reply names.
/// - BRPOPLPUSH src dst → `RPOPLPUSH src dst`; BLMOVE src dst from to → `LMOVE src dst from to`.
/// - BLMPOP → `LPOP|RPOP key n`, n the number of elements returned.
/// - BZPOPMIN / BZPOPMAX / BZMPOP → `ZREM key member...`, the members returned.
/// - XREADGROUP, per stream read with `>` that returned entries: `XCLAIM key group consumer 0
///   id... RETRYCOUNT 1 FORCE JUSTID LASTID last-id` (the pending entries, delivered once, and the
///   group's last delivered ID), or with NOACK `XGROUP CREATECONSUMER key group consumer` and
///   `XGROUP SETID key group last-id`. Per stream read from its history (an explicit ID), the
///   re-delivery of the entries still present: `XCLAIM key group consumer 0 id...`, which bumps
///   their delivery counts as the read did. Several streams give several commands.
/// A null reply (the timeout passed), an error, or a reply of an unexpected shape has no effect.
///
/// Not reproduced: the delivery times of pending entries (each cluster's clock) and, on Redis 7.0,
/// a consumer group's `entries-read` and `lag` (XCLAIM and XGROUP SETID without ENTRIESREAD
/// leave them unknown on the other clusters, as on Redis 7.0's own replicas).
extension DeterministicRewrite {
    /// The kind of effect a blocking command's run on one cluster has on the others; nil for a
    /// command that is not blocking or changes nothing (XREAD, WAIT). `command` is lower case.
    public static func blockingKind(_ command: String) -> Kind? {
        switch command {
        case "blpop": return .blpop
        case "brpop": return .brpop
        case "brpoplpush": return .brpoplpush
        case "blmove": return .blmove
        case "blmpop": return .blmpop
        case "bzpopmin": return .bzpopmin
        case "bzpopmax": return .bzpopmax
        case "bzmpop": return .bzmpop
        case "xreadgroup": return .xreadgroup
        default: return nil
        }
    }

    static func blockingEffects(of kind: Kind, args: [[UInt8]], reply: RESPValue) -> [[UInt8]] {
        switch kind {
        case .blpop, .brpop:
            // [key, element]
            guard let items = elements(reply), items.count == 2, let key = blob(items[0]) else { return [] }
            return [encode([Array((kind == .blpop ? "LPOP" : "RPOP").utf8), key])]
        case .brpoplpush:
            guard blob(reply) != nil, args.count == 4 else { return [] }
            return [encode([Array("RPOPLPUSH".utf8), args[1], args[2]])]
        case .blmove:
            guard blob(reply) != nil, args.count == 6 else { return [] }
            return [encode([Array("LMOVE".utf8)] + args[1 ... 4])]
        case .blmpop:
            // [key, [element...]]; the direction follows the keys: BLMPOP timeout numkeys key... LEFT|RIGHT
            guard let items = elements(reply), items.count == 2, let key = blob(items[0]),
                  let popped = elements(items[1]), !popped.isEmpty,
                  let direction = afterKeys(args, countIndex: 2) else { return [] }
            let pop: String
            switch lower(direction) {
            case "left": pop = "LPOP"
            case "right": pop = "RPOP"
            default: return []
            }
            return [encode([Array(pop.utf8), key, digits(Int64(popped.count))])]
        case .bzpopmin, .bzpopmax:
            // [key, member, score]
            guard let items = elements(reply), items.count == 3, let key = blob(items[0]),
                  let member = blob(items[1]) else { return [] }
            return [encode([Array("ZREM".utf8), key, member])]
        case .bzmpop:
            // [key, [[member, score]...]]
            guard let items = elements(reply), items.count == 2, let key = blob(items[0]),
                  let pairs = elements(items[1]) else { return [] }
            let members = pairs.compactMap { pair in elements(pair).flatMap { $0.first }.flatMap(blob) }
            guard !members.isEmpty, members.count == pairs.count else { return [] }
            return [encode([Array("ZREM".utf8), key] + members)]
        case .xreadgroup:
            return xreadgroupEffects(args, reply)
        case .spop, .xaddAutoID:
            return []
        }
    }

    // MARK: XREADGROUP

    /// XREADGROUP GROUP group consumer [COUNT n] [BLOCK ms] [NOACK] STREAMS key... id...
    struct GroupRead {
        var group: [UInt8]
        var consumer: [UInt8]
        var noack = false
        var keys: ArraySlice<[UInt8]>
        var ids: ArraySlice<[UInt8]>

        init?(_ args: [[UInt8]]) {
            var group: [UInt8]?
            var consumer: [UInt8]?
            var i = 1
            while i < args.count {
                switch lower(args[i]) {
                case "group":
                    guard i + 2 < args.count else { return nil }
                    group = args[i + 1]
                    consumer = args[i + 2]
                    i += 3
                case "count", "block": i += 2
                case "noack":
                    noack = true
                    i += 1
                case "streams":
                    let rest = args.count - i - 1
                    guard rest > 0, rest % 2 == 0, let group, let consumer else { return nil }
                    self.group = group
                    self.consumer = consumer
                    keys = args[(i + 1) ..< (i + 1 + rest / 2)]
                    ids = args[(i + 1 + rest / 2)...]
                    return
                default: return nil
                }
            }
            return nil
        }
    }

    static func xreadgroupEffects(_ args: [[UInt8]], _ reply: RESPValue) -> [[UInt8]] {
        guard let read = GroupRead(args) else { return [] }
        // RESP2: [[key, entries]...]; RESP3: {key: entries}. Streams come in the order requested.
        var served: [(key: [UInt8], entries: RESPValue)] = []
        switch reply {
        case .array(let streams?):
            for stream in streams {
                guard let pair = elements(stream), pair.count == 2, let key = blob(pair[0]) else { return [] }
                served.append((key, pair[1]))
            }
        case .map(let pairs):
            for pair in pairs {
                guard let key = blob(pair.key) else { return [] }
                served.append((key, pair.value))
            }
        default: return []
        }
        var out: [[UInt8]] = []
        var next = read.keys.startIndex
        for (key, entries) in served {
            // The ID asked for this stream: the next requested stream of that name.
            guard let at = read.keys[next...].firstIndex(of: key) else { return out }
            next = at + 1
            let requested = read.ids[read.ids.startIndex + (at - read.keys.startIndex)]
            guard let entries = elements(entries) else { continue }
            // Each entry is [id, fields]; fields are null for an entry of the history deleted since.
            var ids: [[UInt8]] = []
            for entry in entries {
                guard let parts = elements(entry), parts.count == 2, let id = blob(parts[0]) else { return out }
                if elements(parts[1]) != nil { ids.append(id) }
            }
            guard let last = ids.last else { continue }
            let xclaim = [Array("XCLAIM".utf8), key, read.group, read.consumer, Array("0".utf8)] + ids
            if requested != Array(">".utf8) {
                // History: the read re-delivered them, adding one to each delivery count, as
                // XCLAIM without JUSTID does.
                out.append(encode(xclaim))
            } else if read.noack {
                out.append(encode([Array("XGROUP".utf8), Array("CREATECONSUMER".utf8), key, read.group, read.consumer]))
                out.append(encode([Array("XGROUP".utf8), Array("SETID".utf8), key, read.group, last]))
            } else {
                // RETRYCOUNT 1: a new delivery, even of an entry another consumer held (after SETID back).
                out.append(encode(xclaim + ["RETRYCOUNT", "1", "FORCE", "JUSTID", "LASTID"].map { Array($0.utf8) } + [last]))
            }
        }
        return out
    }

    // MARK: reading replies

    /// The elements of an array (RESP2 or RESP3) or RESP3 set; nil for anything else, nulls included.
    static func elements(_ value: RESPValue) -> [RESPValue]? {
        switch value {
        case .array(let items?), .set(let items): return items
        case .attribute(_, let inner): return elements(inner)
        default: return nil
        }
    }

    /// The bytes of a bulk or simple string; nil for anything else, nulls included.
    static func blob(_ value: RESPValue) -> [UInt8]? {
        switch value {
        case .bulk(let bytes?): return bytes
        case .simpleString(let s): return Array(s.utf8)
        case .verbatim(_, let bytes): return bytes
        case .attribute(_, let inner): return blob(inner)
        default: return nil
        }
    }

    /// The argument after the keys of a `numkeys` command (BLMPOP's LEFT|RIGHT).
    static func afterKeys(_ args: [[UInt8]], countIndex: Int) -> [UInt8]? {
        guard countIndex < args.count, let n = number(args[countIndex]), n > 0,
              n < Int64(args.count - countIndex - 1) else { return nil }
        return args[countIndex + 1 + Int(n)]
    }
}
