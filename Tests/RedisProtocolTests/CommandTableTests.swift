import Foundation
import Testing

import RedisProtocol
import TestSupport

// MARK: - Helpers

/// Runs `body` with the arguments laid out in one contiguous byte buffer, as the request parser
/// hands them over: an argument count and an accessor returning raw bytes.
private func withArguments<R>(_ args: [String], _ body: (Int, (Int) -> UnsafeRawBufferPointer) -> R) -> R {
    var bytes: [UInt8] = []
    var ranges: [Range<Int>] = []
    for a in args {
        let start = bytes.count
        bytes.append(contentsOf: Array(a.utf8))
        ranges.append(start..<bytes.count)
    }
    return bytes.withUnsafeBytes { raw in
        body(args.count) { UnsafeRawBufferPointer(rebasing: raw[ranges[$0]]) }
    }
}

/// The entry a request resolves to: `lookup(name, subcommand:)` when there is a first argument.
private func entry(_ args: [String], _ table: CommandTable = .builtin) -> CommandInfo? {
    withArguments(args) { count, argument in
        count > 1 ? table.lookup(argument(0), subcommand: argument(1)) : table.lookup(argument(0))
    }
}

private func keyIndices(_ args: [String], _ table: CommandTable = .builtin) -> [Int]? {
    guard let info = entry(args, table) else { return nil }
    var indices = [99, 98]   // must be replaced, not appended to
    withArguments(args) { count, argument in
        table.keyIndices(info, argumentCount: count, argument: argument, into: &indices)
    }
    return indices
}

private func kind(_ access: CommandAccess) -> String {
    switch access {
    case .read: return "read"
    case .write: return "write"
    case .proxyAnswered: return "proxyAnswered"
    case .connectionState: return "connectionState"
    case .stateful: return "stateful"
    case .unsupported: return "unsupported"
    }
}

private func reason(_ access: CommandAccess) -> String? {
    if case .unsupported(let reason) = access { return reason }
    return nil
}

// MARK: - CommandName

@Suite("CommandName")
struct CommandNameTests {
    @Test func foldsExactlyTheAsciiCapitalsAtEveryPosition() {
        for position in 0..<CommandName.capacity {
            for value in 0...255 {
                var bytes = [UInt8](repeating: UInt8(ascii: "a"), count: CommandName.capacity)
                bytes[position] = UInt8(value)
                let packed = bytes.withUnsafeBytes { CommandName($0)! }
                var expected = bytes
                if (65...90).contains(value) { expected[position] = UInt8(value + 32) }
                let folded = packed.withUnsafeBytes { Array($0) }
                #expect(folded == expected, "byte \(value) at \(position)")
            }
        }
    }

    @Test func lengthIsPartOfTheName() {
        #expect(CommandName("get") != CommandName("get\0"))
        #expect(CommandName("GET") == CommandName("get"))
        #expect(CommandName("get")?.count == 3)
        #expect(CommandName("")?.count == 0)
    }

    @Test func capacityIsThirtyTwoBytes() {
        #expect(CommandName(String(repeating: "x", count: 32)) != nil)
        #expect(CommandName(String(repeating: "x", count: 33)) == nil)
        #expect(CommandName("CLUSTER|COUNT-FAILURE-REPORTS")?.description == "cluster|count-failure-reports")
    }

    @Test func containerAndSubcommandPackLikeTheJoinedName() {
        // Every split of names up to the capacity, with bytes that differ per position.
        for total in 1...(CommandName.capacity + 1) {
            let joinedBytes: [UInt8] = (0..<total).map { UInt8(ascii: "A") + UInt8($0 % 26) }
            for cut in 0..<total {
                var bytes = joinedBytes
                bytes[cut] = UInt8(ascii: "|")
                let container = Array(bytes[0..<cut])
                let subcommand = Array(bytes[(cut + 1)...])
                let joined = bytes.withUnsafeBytes { CommandName($0) }
                let parts = container.withUnsafeBytes { c in
                    subcommand.withUnsafeBytes { s in CommandName(container: c, subcommand: s) }
                }
                #expect(parts == joined, "total \(total), cut \(cut)")
                #expect(parts?.description == joined?.description)
            }
        }
    }

    @Test func everyLengthPacksTheSameAsByteByByte() {
        // The word loader reads with overlapping loads; check every length against a slow fold.
        for length in 0...CommandName.capacity {
            let bytes: [UInt8] = (0..<length).map { UInt8(truncatingIfNeeded: $0 &* 37 &+ 65) }
            let name = bytes.withUnsafeBytes { CommandName($0) }
            let expected = bytes.map { (65...90).contains($0) ? $0 + 32 : $0 }
            #expect(name?.withUnsafeBytes { Array($0) } == expected, "length \(length)")
            #expect(name?.count == length)
        }
    }

    @Test func hashableAgreesWithEquality() {
        let set: Set<CommandName> = [CommandName("GET")!, CommandName("get")!, CommandName("Set")!]
        #expect(set.count == 2)
    }
}

// MARK: - Lookup

@Suite("CommandTable lookup")
struct CommandTableLookupTests {
    let table = CommandTable.builtin

    @Test(arguments: ["get", "GET", "Get", "gEt"])
    func lookupIgnoresCase(_ name: String) {
        #expect(table.lookup(name)?.name == "get")
        #expect(entry([name])?.name == "get")
    }

    @Test func lookupFromRawBytesWithoutStrings() {
        // The request parser's path: bytes in a buffer, no String anywhere.
        let request: [UInt8] = Array("*2\r\n$4\r\nLlEn\r\n$3\r\nkey\r\n".utf8)
        let info = request.withUnsafeBytes { raw in
            table.lookup(UnsafeRawBufferPointer(rebasing: raw[8..<12]))
        }
        #expect(info?.name == "llen")
        #expect(info?.access == .read)

        let sub = withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 16) { buffer -> CommandInfo? in
            let text: [UInt8] = Array("CLIENTSetName".utf8)
            for (i, b) in text.enumerated() { buffer[i] = b }
            let raw = UnsafeRawBufferPointer(buffer)
            return table.lookup(
                UnsafeRawBufferPointer(rebasing: raw[0..<6]),
                subcommand: UnsafeRawBufferPointer(rebasing: raw[6..<13]))
        }
        #expect(sub?.name == "client|setname")
        #expect(sub?.access == .connectionState)
    }

    @Test func unknownAndMalformedNames() {
        #expect(table.lookup("nosuchcommand") == nil)
        #expect(table.lookup("") == nil)
        #expect(table.lookup(String(repeating: "g", count: 40)) == nil)
        #expect(table.lookup("get\0") == nil)
        // Subcommand entries are not commands of their own.
        #expect(table.lookup("client|setname") == nil)
        #expect(table.lookup("CLIENT|KILL") == nil)
        #expect(table.command(named: "client|setname")?.access == .connectionState)
    }

    @Test func subcommandsAndFallbacks() {
        #expect(table.lookup("client", subcommand: "setname")?.name == "client|setname")
        #expect(table.lookup("CLIENT", subcommand: "SETNAME")?.access == .connectionState)
        #expect(table.lookup("Client", subcommand: "Id")?.access == .proxyAnswered)
        // Unlisted subcommand: the container's own entry.
        let unknown = table.lookup("client", subcommand: "frobnicate")
        #expect(unknown?.name == "client")
        #expect(reason(unknown!.access) == BuiltinCommands.Refusal.clientSubcommand)
        // Too long to pack with the container name: still the container.
        #expect(table.lookup("client", subcommand: String(repeating: "z", count: 40))?.name == "client")
        // A "subcommand" that tries to smuggle a separator.
        #expect(table.lookup("client", subcommand: "x|setname")?.name == "client")
        // No container: the first argument is just an argument.
        #expect(table.lookup("get", subcommand: "setname")?.name == "get")
        #expect(table.lookup("nosuch", subcommand: "get") == nil)
        #expect(table.lookup("object", subcommand: "encoding")?.keys == KeyPositions(2, 2, 1))
        #expect(table.lookup("XGROUP", subcommand: "CREATECONSUMER")?.access == .write)
        #expect(table.lookup("xgroup", subcommand: "future-thing")?.access == .write)
        #expect(table.lookup("xinfo", subcommand: "future-thing")?.access == .read)
    }

    @Test func containers() {
        for name in ["client", "config", "object", "script", "xinfo", "xgroup", "memory", "function", "acl",
                     "cluster", "command", "pubsub", "slowlog", "latency", "module"] {
            let info = table.lookup(name)
            #expect(info != nil && table.isContainer(info!), "\(name)")
            #expect(!table.subcommands(of: info!).isEmpty, "\(name)")
        }
        #expect(!table.isContainer(table.lookup("get")!))
        #expect(!table.isContainer(table.lookup("debug")!))
        #expect(table.lookup("debug", subcommand: "sleep")?.name == "debug")
    }

    /// The decisions the proxy's behaviour rests on, one line each.
    @Test(arguments: [
        // data
        (["GET"], "read"), (["SET"], "write"), (["INCRBYFLOAT"], "write"), (["MGET"], "read"),
        (["SRANDMEMBER"], "read"), (["SPOP"], "write"), (["XADD"], "write"), (["XREAD"], "read"),
        (["XREADGROUP"], "write"), (["GEORADIUS_RO"], "read"), (["GEORADIUS"], "write"), (["SORT_RO"], "read"),
        (["SORT"], "write"), (["EVAL"], "write"), (["EVAL_RO"], "read"), (["FCALL"], "write"),
        (["FCALL_RO"], "read"), (["PUBLISH"], "write"), (["SPUBLISH"], "write"), (["FLUSHALL"], "write"),
        (["FLUSHDB"], "write"), (["KEYS"], "read"), (["SCAN"], "read"), (["DBSIZE"], "read"), (["MOVE"], "write"),
        (["OBJECT", "ENCODING"], "read"), (["XINFO", "STREAM"], "read"), (["XGROUP", "CREATE"], "write"),
        (["SCRIPT", "LOAD"], "write"), (["SCRIPT", "FLUSH"], "write"), (["SCRIPT", "EXISTS"], "read"),
        (["FUNCTION", "LOAD"], "write"), (["FUNCTION", "LIST"], "read"), (["PUBSUB", "NUMSUB"], "read"),
        (["PUBSUB", "CHANNELS"], "read"), (["MEMORY", "USAGE"], "read"), (["CONFIG", "GET"], "read"),
        (["INFO"], "read"), (["TIME"], "read"),
        // metadata redis-cli asks for on start-up is forwarded
        (["COMMAND"], "read"), (["COMMAND", "DOCS"], "read"), (["COMMAND", "INFO"], "read"),
        (["COMMAND", "COUNT"], "read"),
        // answered by the proxy
        (["PING"], "proxyAnswered"), (["ECHO"], "proxyAnswered"), (["QUIT"], "proxyAnswered"),
        (["HELLO"], "proxyAnswered"), (["CLIENT", "ID"], "proxyAnswered"), (["CLIENT", "GETNAME"], "proxyAnswered"),
        (["CLIENT", "SETINFO"], "proxyAnswered"), (["CLIENT", "INFO"], "proxyAnswered"),
        // per-connection state
        (["SELECT"], "connectionState"), (["AUTH"], "connectionState"), (["CLIENT", "SETNAME"], "connectionState"),
        (["RESET"], "connectionState"), (["READONLY"], "connectionState"), (["READWRITE"], "connectionState"),
        // run by the session's own state machine
        (["MULTI"], "stateful"), (["EXEC"], "stateful"), (["DISCARD"], "stateful"), (["WATCH"], "stateful"),
        (["UNWATCH"], "stateful"), (["SUBSCRIBE"], "stateful"), (["PSUBSCRIBE"], "stateful"),
        (["SSUBSCRIBE"], "stateful"), (["UNSUBSCRIBE"], "stateful"), (["PUNSUBSCRIBE"], "stateful"),
        (["SUNSUBSCRIBE"], "stateful"),
        // blocking: their data kind, run on the client's dedicated connection
        (["BLPOP"], "write"), (["BRPOP"], "write"), (["BRPOPLPUSH"], "write"), (["BLMOVE"], "write"),
        (["BLMPOP"], "write"), (["BZPOPMIN"], "write"), (["BZPOPMAX"], "write"), (["BZMPOP"], "write"),
        (["WAIT"], "read"), (["WAITAOF"], "read"),
        // refused
        (["MONITOR"], "unsupported"), (["SYNC"], "unsupported"),
        (["PSYNC"], "unsupported"), (["REPLCONF"], "unsupported"), (["REPLICAOF"], "unsupported"),
        (["SLAVEOF"], "unsupported"), (["FAILOVER"], "unsupported"), (["SHUTDOWN"], "unsupported"),
        (["DEBUG"], "unsupported"), (["MIGRATE"], "unsupported"), (["SWAPDB"], "unsupported"),
        (["CLIENT", "KILL"], "unsupported"), (["CLIENT", "PAUSE"], "unsupported"),
        (["CLIENT", "UNPAUSE"], "unsupported"), (["CLIENT", "REPLY"], "unsupported"),
        (["CLIENT", "TRACKING"], "unsupported"), (["CLIENT", "CACHING"], "unsupported"),
        (["CLIENT", "NO-EVICT"], "unsupported"), (["CLIENT", "NO-TOUCH"], "unsupported"),
        (["CLIENT", "LIST"], "unsupported"), (["CONFIG", "SET"], "unsupported"),
        (["CONFIG", "REWRITE"], "unsupported"), (["CONFIG", "RESETSTAT"], "unsupported"),
        (["CLUSTER", "SLOTS"], "unsupported"), (["CLUSTER", "INFO"], "unsupported"), (["ASKING"], "unsupported"),
        (["SAVE"], "unsupported"), (["BGSAVE"], "unsupported"), (["BGREWRITEAOF"], "unsupported"),
        (["ACL", "SETUSER"], "unsupported"), (["MODULE", "LOAD"], "unsupported"),
        (["SCRIPT", "KILL"], "unsupported"), (["FUNCTION", "KILL"], "unsupported"),
        (["SCRIPT", "DEBUG"], "unsupported"), (["SLOWLOG", "GET"], "unsupported"),
    ] as [([String], String)])
    func accessKind(_ request: [String], _ expected: String) {
        let info = entry(request)
        #expect(info != nil, "\(request)")
        if let info { #expect(kind(info.access) == expected, "\(request): \(info.access)") }
    }

    @Test func refusalReasonsNameTheirRule() {
        #expect(reason(table.lookup("save")!.access) == "administrative command: run it on the backend directly")
        #expect(reason(table.lookup("monitor")!.access)!.contains("stream of one backend's traffic"))
        #expect(reason(table.lookup("client", subcommand: "tracking")!.access)!.contains("invalidations"))
        #expect(reason(table.lookup("cluster", subcommand: "slots")!.access)!.contains("not a Redis Cluster"))
    }

    @Test func flags() {
        func f(_ name: String, _ sub: String? = nil) -> CommandFlags {
            (sub.map { table.lookup(name, subcommand: $0) } ?? table.lookup(name))!.flags
        }
        for n in ["spop", "srandmember", "randomkey", "xadd", "time", "zrandmember", "hrandfield", "ttl"] {
            #expect(f(n).contains(.nondeterministic), "\(n)")
        }
        for n in ["incrbyfloat", "get", "set", "sadd", "zadd", "lpop", "eval", "hincrbyfloat"] {
            #expect(!f(n).contains(.nondeterministic), "\(n)")
        }
        for n in ["expire", "pexpire", "setex", "psetex", "set", "getex", "restore"] {
            #expect(f(n).contains(.relativeExpiry), "\(n)")
        }
        for n in ["expireat", "pexpireat", "get", "persist", "getdel"] {
            #expect(!f(n).contains(.relativeExpiry), "\(n)")
        }
        for n in ["keys", "scan", "dbsize", "flushdb", "flushall", "randomkey"] {
            #expect(f(n).contains(.keyspaceWide), "\(n)")
        }
        for n in ["blpop", "brpop", "blmove", "blmpop", "bzpopmin", "bzmpop", "wait", "xread", "xreadgroup"] {
            #expect(f(n).contains(.blocking), "\(n)")
        }
        #expect(table.lookup("xread")?.blockingOption == "block")
        #expect(table.lookup("xreadgroup")?.blockingOption == "block")
        #expect(table.lookup("blpop")?.blockingOption == nil)
        #expect(f("multi").contains(.transaction))
        #expect(f("subscribe").contains(.pubsub) && f("publish").contains(.pubsub))
        #expect(f("eval").contains(.scripting) && f("script", "load").contains(.scripting))
        #expect(f("config", "set").contains(.admin) && f("shutdown").contains(.admin))
        #expect(f("smembers").contains(.unorderedOutput) && !f("smembers").contains(.nondeterministic))
        for n in ["eval", "zunionstore", "sort", "xread", "migrate", "georadius", "lmpop"] {
            #expect(f(n).contains(.movableKeys), "\(n)")
        }
    }

    @Test func arityCheck() {
        let get = table.lookup("get")!
        #expect(get.acceptsArgumentCount(2) && !get.acceptsArgumentCount(1) && !get.acceptsArgumentCount(3))
        let set = table.lookup("set")!
        #expect(!set.acceptsArgumentCount(2) && set.acceptsArgumentCount(3) && set.acceptsArgumentCount(9))
    }

    @Test func laterEntriesReplaceEarlierOnes() {
        let override = CommandInfo(name: "GET", arity: 2, access: .write, keys: KeyPositions(1, 1, 1), group: .string)
        let merged = CommandTable(BuiltinCommands.all + [override])
        #expect(merged.lookup("get")?.access == .write)
        #expect(merged.commands.count == CommandTable.builtin.commands.count)
        #expect(CommandTable.builtin.lookup("get")?.access == .read)
    }

    @Test func lookupSpeed() {
        // Informational: the per-request cost (debug builds are several times slower).
        let names = ["GET", "set", "HGETALL", "zrangebyscore", "XADD", "ping", "nosuch", "EVALSHA"]
        var blob: [UInt8] = []
        var ranges: [Range<Int>] = []
        for n in names {
            ranges.append(blob.count..<(blob.count + n.utf8.count))
            blob += Array(n.utf8)
        }
        let rounds = 200_000
        var found = 0
        let elapsed = blob.withUnsafeBytes { raw in
            ContinuousClock().measure {
                for i in 0..<rounds {
                    if table.lookup(UnsafeRawBufferPointer(rebasing: raw[ranges[i & 7]])) != nil { found += 1 }
                }
            }
        }
        #expect(found == rounds / 8 * 7)
        let ns = Double(elapsed.components.attoseconds) / 1e9 + Double(elapsed.components.seconds) * 1e9
        print("CommandTable.lookup: \(Int(ns / Double(rounds))) ns per lookup (this build; debug builds are many times slower than release)")
    }
}

// MARK: - Keys

/// A request, the key indices expected, and whether Redis's COMMAND GETKEYS must agree
/// (`false` for malformed requests, on which Redis answers an error).
struct CommandKeySample: CustomStringConvertible, Sendable {
    let args: [String]
    let keys: [Int]
    let redisAgrees: Bool
    init(_ args: [String], _ keys: [Int], redis: Bool = true) {
        self.args = args
        self.keys = keys
        self.redisAgrees = redis
    }
    var description: String { args.joined(separator: " ") }

    static let all: [CommandKeySample] = [
        // fixed positions
        CommandKeySample(["GET", "k1"], [1]),
        CommandKeySample(["MSET", "k1", "v1", "k2", "v2"], [1, 3]),
        CommandKeySample(["MGET", "k1", "k2", "k3"], [1, 2, 3]),
        CommandKeySample(["BLPOP", "k1", "k2", "0"], [1, 2]),
        CommandKeySample(["BITOP", "AND", "d1", "k1", "k2"], [2, 3, 4]),
        CommandKeySample(["LMOVE", "k1", "k2", "LEFT", "RIGHT"], [1, 2]),
        CommandKeySample(["OBJECT", "ENCODING", "k1"], [2]),
        CommandKeySample(["XINFO", "STREAM", "k1"], [2]),
        CommandKeySample(["MEMORY", "USAGE", "k1"], [2]),
        CommandKeySample(["XGROUP", "CREATE", "k1", "g1", "$"], [2]),
        CommandKeySample(["PING"], [], redis: false),
        // numkeys: scripts and functions
        CommandKeySample(["EVAL", "return 1", "2", "k1", "k2", "a1"], [3, 4]),
        CommandKeySample(["EVALSHA", "e0e1f9fabfc9d4800c877a703b823ac0578ff8db", "1", "k1", "a1"], [3]),
        CommandKeySample(["EVAL_RO", "return 1", "1", "k1"], [3]),
        CommandKeySample(["EVALSHA_RO", "e0e1f9fabfc9d4800c877a703b823ac0578ff8db", "2", "k1", "k2"], [3, 4]),
        CommandKeySample(["FCALL", "f1", "2", "k1", "k2", "a1"], [3, 4]),
        CommandKeySample(["FCALL_RO", "f1", "1", "k1", "a1"], [3]),
        CommandKeySample(["EVAL", "return 1", "0", "a1"], [], redis: false),
        CommandKeySample(["EVAL", "return 1", "3", "k1"], [], redis: false),
        CommandKeySample(["EVAL", "return 1", "x", "k1"], [], redis: false),
        CommandKeySample(["EVAL", "return 1"], [], redis: false),
        // numkeys: sorted sets, sets, lists
        CommandKeySample(["ZUNIONSTORE", "d1", "2", "k1", "k2", "WEIGHTS", "1", "2"], [1, 3, 4]),
        CommandKeySample(["ZINTERSTORE", "d1", "1", "k1"], [1, 3]),
        CommandKeySample(["ZDIFFSTORE", "d1", "2", "k1", "k2"], [1, 3, 4]),
        CommandKeySample(["ZUNION", "2", "k1", "k2", "WITHSCORES"], [2, 3]),
        CommandKeySample(["ZINTER", "1", "k1"], [2]),
        CommandKeySample(["ZDIFF", "2", "k1", "k2"], [2, 3]),
        CommandKeySample(["ZINTERCARD", "2", "k1", "k2", "LIMIT", "5"], [2, 3]),
        CommandKeySample(["SINTERCARD", "3", "k1", "k2", "k3"], [2, 3, 4]),
        CommandKeySample(["LMPOP", "2", "k1", "k2", "LEFT", "COUNT", "3"], [2, 3]),
        CommandKeySample(["ZMPOP", "1", "k1", "MIN"], [2]),
        CommandKeySample(["BLMPOP", "0", "2", "k1", "k2", "LEFT"], [3, 4]),
        CommandKeySample(["BZMPOP", "1.5", "1", "k1", "MAX"], [3]),
        CommandKeySample(["ZUNIONSTORE", "d1", "0", "k1"], [], redis: false),
        CommandKeySample(["SINTERCARD", "-1", "k1"], [], redis: false),
        CommandKeySample(["LMPOP", "+2", "k1", "k2", "LEFT"], [2, 3], redis: false),
        // STREAMS
        CommandKeySample(["XREAD", "STREAMS", "k1", "0"], [2]),
        CommandKeySample(["XREAD", "COUNT", "10", "BLOCK", "5", "STREAMS", "k1", "k2", "0", "0"], [6, 7]),
        CommandKeySample(["XREADGROUP", "GROUP", "g1", "c1", "NOACK", "STREAMS", "k1", ">"], [6]),
        CommandKeySample(["XREADGROUP", "GROUP", "streams", "block", "STREAMS", "k1", "k2", ">", ">"], [5, 6]),
        CommandKeySample(["xread", "streams", "streams", "block", "0", "0"], [2, 3]),
        CommandKeySample(["XREAD", "STREAMS", "k1", "k2", "0"], [], redis: false),
        CommandKeySample(["XREAD", "COUNT", "1", "k1", "0"], [], redis: false),
        // SORT ... STORE
        CommandKeySample(["SORT", "k1"], [1]),
        CommandKeySample(["SORT", "k1", "BY", "w_*", "LIMIT", "0", "10", "GET", "#", "GET", "o_*", "ALPHA", "STORE", "d1"], [1, 13]),
        CommandKeySample(["SORT", "k1", "STORE", "d1", "STORE", "d2"], [1, 5]),
        CommandKeySample(["SORT", "k1", "GET", "store", "DESC"], [1]),
        CommandKeySample(["SORT_RO", "k1", "BY", "w_*", "GET", "#"], [1]),
        // MIGRATE
        CommandKeySample(["MIGRATE", "h1", "6379", "k1", "0", "5000"], [3]),
        CommandKeySample(["MIGRATE", "h1", "6379", "", "0", "5000", "COPY", "REPLACE", "KEYS", "k1", "k2"], [9, 10]),
        CommandKeySample(["MIGRATE", "h1", "6379", "", "0", "5000", "AUTH", "keys", "KEYS", "k1"], [9]),
        CommandKeySample(["MIGRATE", "h1", "6379", "", "0", "5000", "AUTH2", "u1", "keys", "KEYS", "k1", "k2"], [10, 11]),
        CommandKeySample(["MIGRATE", "h1", "6379", "k0", "0", "5000", "KEYS", "k1"], [], redis: false),
        // GEORADIUS ... STORE / STOREDIST
        CommandKeySample(["GEORADIUS", "k1", "15", "37", "200", "km", "STORE", "d1"], [1, 7]),
        CommandKeySample(["GEORADIUS", "k1", "15", "37", "200", "km", "WITHDIST"], [1]),
        CommandKeySample(["GEORADIUS", "k1", "15", "37", "200", "km", "STORE", "d1", "STOREDIST", "d2"], [1, 7, 9]),
        CommandKeySample(["GEORADIUS", "k1", "15", "37", "200", "km", "STOREDIST", "d2", "STORE", "d1"], [1, 7, 9]),
        // GEORADIUS writes to the last STORE; Redis's key spec reports only the first: we give both.
        CommandKeySample(["GEORADIUS", "k1", "15", "37", "200", "km", "STORE", "d1", "STORE", "d2"], [1, 7, 9], redis: false),
        CommandKeySample(["GEORADIUS", "k1", "15", "37", "200", "km", "STORE"], [1], redis: false),
        CommandKeySample(["GEORADIUSBYMEMBER", "k1", "m1", "200", "km", "STOREDIST", "d1"], [1, 6]),
    ]
}

@Suite("CommandTable keys")
struct CommandTableKeyTests {
    @Test(arguments: CommandKeySample.all)
    func keyIndicesMatch(_ sample: CommandKeySample) {
        #expect(keyIndices(sample.args) == sample.keys)
    }

    @Test func everyMovableFamilyIsSampled() {
        var families = Set<MovableKeys>()
        for sample in CommandKeySample.all {
            if let m = entry(sample.args)?.movableKeys { families.insert(m) }
        }
        #expect(families == [.numkeys(countIndex: 1), .numkeys(countIndex: 2), .streams, .sortStore,
                             .georadiusStore, .migrate])
    }

    @Test(arguments: [
        (["XREAD", "BLOCK", "0", "STREAMS", "k1", "0"], true),
        (["xread", "count", "1", "block", "10", "streams", "k1", "0"], true),
        (["XREAD", "COUNT", "1", "STREAMS", "block", "0"], false),
        (["XREAD", "STREAMS", "k1", "0"], false),
        (["XREADGROUP", "GROUP", "block", "c1", "STREAMS", "k1", ">"], false),
        (["XREADGROUP", "GROUP", "g1", "c1", "NOACK", "BLOCK", "100", "STREAMS", "k1", ">"], true),
        (["BLPOP", "k1", "0"], true),
        (["WAIT", "1", "0"], true),
        (["GET", "block"], false),
    ] as [([String], Bool)])
    func blocking(_ args: [String], _ expected: Bool) {
        let info = entry(args)!
        let blocks = withArguments(args) { CommandTable.builtin.isBlocking(info, argumentCount: $0, argument: $1) }
        #expect(blocks == expected)
    }
}

// MARK: - Consistency

@Suite("CommandTable consistency")
struct CommandTableConsistencyTests {
    let table = CommandTable.builtin

    @Test func namesAreUniqueLowerCaseAndFindable() {
        let names = BuiltinCommands.all.map(\.name)
        #expect(Set(names).count == names.count, "duplicates: \(Dictionary(grouping: names) { $0 }.filter { $1.count > 1 }.keys)")
        #expect(table.commands.count == names.count)
        for info in table.commands {
            #expect(info.name == info.name.lowercased() && !info.name.isEmpty)
            #expect(CommandName(info.name) != nil, "\(info.name) does not pack")
            #expect(table.command(named: info.name) === info)
            if info.isSubcommand {
                let parts = info.name.split(separator: "|").map(String.init)
                #expect(parts.count == 2, "\(info.name)")
                #expect(table.lookup(parts[0], subcommand: parts[1]) === info)
                #expect(table.lookup(info.name) == nil)
            } else {
                #expect(table.lookup(info.name.uppercased()) === info)
            }
        }
    }

    @Test func containersAndSubcommandsBelongTogether() {
        for info in table.commands where info.isSubcommand {
            let container = table.lookup(String(info.name.split(separator: "|")[0]))
            #expect(container != nil && container!.isContainer, "\(info.name) has no container")
            #expect(container?.group == info.group, "\(info.name) in another family than its container")
            #expect(!info.isContainer)
        }
        for info in table.commands where info.isContainer {
            #expect(!table.subcommands(of: info).isEmpty, "\(info.name) lists no subcommands")
        }
    }

    @Test func aritiesAreSane() {
        for info in table.commands {
            #expect(info.arity != 0 && abs(info.arity) <= 8, "\(info.name) arity \(info.arity)")
            if info.isSubcommand {
                #expect(info.arity >= 2 || info.arity <= -2, "\(info.name): a subcommand counts its container")
            }
            if let keys = info.keys, info.arity > 0 {
                #expect(keys.last < info.arity, "\(info.name): keys beyond its arity")
            }
        }
    }

    @Test func keyPositionsAreSane() {
        for info in table.commands {
            guard let keys = info.keys else { continue }
            #expect(keys.first >= 1 && keys.step >= 1, "\(info.name) \(keys)")
            #expect(keys.last < 0 || keys.last >= keys.first, "\(info.name) \(keys)")
            if info.isSubcommand { #expect(keys.first >= 2, "\(info.name): index 1 is the subcommand") }
        }
    }

    @Test func everyRefusalHasAOneLineReason() {
        for info in table.commands {
            guard let reason = reason(info.access) else { continue }
            #expect(!reason.isEmpty, "\(info.name)")
            #expect(!reason.contains("\r") && !reason.contains("\n"), "\(info.name): reason must fit an -ERR line")
            #expect(reason.count >= 20, "\(info.name): say why")
        }
    }

    @Test func flagsAreConsistent() {
        for info in table.commands {
            let f = info.flags
            #expect(f.contains(.movableKeys) == (info.movableKeys != nil || info.name == "sort_ro"), "\(info.name)")
            if info.blockingOption != nil {
                #expect(f.contains(.blocking) && info.access.isForwarded, "\(info.name)")
            }
            if f.contains(.blocking) {
                // The session runs it on the client's dedicated connection; its kind says whether
                // what it took must be replicated.
                #expect(info.access.isForwarded, "\(info.name): blocking commands keep their data kind")
            }
            if f.contains(.transaction) || (f.contains(.pubsub) && info.name.hasSuffix("subscribe")) {
                #expect(info.access == .stateful, "\(info.name)")
            }
            if info.access == .stateful {
                #expect(!f.isDisjoint(with: [.transaction, .pubsub]), "\(info.name): stateful is for transactions and subscriptions")
            }
            if f.contains(.relativeExpiry) { #expect(info.access == .write, "\(info.name)") }
            if case .numkeys(let at) = info.movableKeys {
                #expect(at == 1 || at == 2, "\(info.name)")
                if let keys = info.keys { #expect(keys.last < at, "\(info.name): fixed keys precede the count") }
            }
        }
    }

    @Test func familyCounts() {
        var byKind: [String: Int] = [:]
        for info in table.commands { byKind[kind(info.access), default: 0] += 1 }
        print("command table: \(table.commands.count) entries \(byKind.sorted { $0.key < $1.key })")
        #expect(table.commands.count >= 370)
        for group in CommandGroup.allCases {
            #expect(table.commands.contains { $0.group == group }, "\(group) is empty")
        }
    }
}

// MARK: - Documentation

/// `docs/redis-commands.md` carries a generated section listing every entry; this keeps it in
/// step with the table. Run with `METACLUSTER_WRITE_DOCS=1` to rewrite the section.
@Suite("redis-commands.md")
struct CommandDocsTests {
    static let begin = "<!-- BEGIN GENERATED COMMAND TABLE (CommandTableTests; METACLUSTER_WRITE_DOCS=1 swift test) -->"
    static let end = "<!-- END GENERATED COMMAND TABLE -->"

    static var docURL: URL {
        URL(fileURLWithPath: #filePath)
            .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("docs/redis-commands.md")
    }

    /// Hand-written remarks for entries whose treatment needs a word beyond their flags.
    static let notes: [String: String] = [
        "set": "with EX or PX",
        "getex": "with EX or PX",
        "restore": "a ttl without ABSTTL",
        "hexpire": "Redis 7.4", "hpexpire": "Redis 7.4", "hexpireat": "Redis 7.4", "hpexpireat": "Redis 7.4",
        "hpersist": "Redis 7.4", "httl": "Redis 7.4", "hpttl": "Redis 7.4", "hexpiretime": "Redis 7.4",
        "hpexpiretime": "Redis 7.4",
        "spop": "pops random members",
        "xadd": "with an ID of `*` or `ms-*`, or `~` trimming",
        "xtrim": "with `~` (approximate) trimming",
        "xclaim": "min-idle-time is measured on each cluster's clock",
        "xautoclaim": "min-idle-time is measured on each cluster's clock",
        "xreadgroup": "a write: moves entries to the group's pending list",
        "georadius": "a write because of STORE/STOREDIST; GEORADIUS_RO and GEOSEARCH are reads",
        "georadiusbymember": "a write because of STORE/STOREDIST; GEORADIUSBYMEMBER_RO is a read",
        "sort": "a write because of STORE (SORT_RO is a read); BY/GET patterns name keys the proxy cannot see",
        "sort_ro": "BY/GET patterns name keys the proxy cannot see",
        "touch": "updates access times on one cluster only",
        "eval": "replicated as sent: the script must be deterministic", "evalsha": "replicated as sent: the script must be deterministic",
        "fcall": "replicated as sent: the function must be deterministic",
        "publish": "every cluster: subscribers connected to any cluster get it once",
        "spublish": "every cluster: subscribers connected to any cluster get it once",
        "script|load": "every cluster, so EVALSHA works wherever it lands",
        "script|flush": "every cluster", "function|load": "every cluster",
        "flushall": "refused unless allowed; then every cluster: empties every datacenter",
        "flushdb": "refused unless allowed; then every cluster: empties every datacenter",
        "config|set": "when allowed: every server of every cluster that is up",
        "hello": "protocol 2 or 3; its AUTH and SETNAME options are kept by the proxy",
        "quit": "the proxy closes the connection",
        "readonly": "answered as a standalone Redis answers: cluster support disabled",
        "readwrite": "answered as a standalone Redis answers: cluster support disabled",
        "command": "describes the backend's commands, not the proxy's treatment",
        "config|get": "answered by one cluster", "info": "answered by one cluster",
        "role": "answered by one cluster",
        "pubsub|numsub": "counts one cluster's subscribers", "pubsub|channels": "one cluster's channels",
        "memory|usage": "answered by one cluster",
        "blpop": "what it pops is replicated as LPOP", "brpop": "what it pops is replicated as RPOP",
        "brpoplpush": "replicated as RPOPLPUSH", "blmove": "replicated as LMOVE",
        "blmpop": "what it pops is replicated as LPOP/RPOP",
        "bzpopmin": "what it pops is replicated as ZREM", "bzpopmax": "what it pops is replicated as ZREM",
        "bzmpop": "what it pops is replicated as ZREM",
        "wait": "counts the local cluster's replicas only", "waitaof": "counts the local cluster's replicas only",
        "multi": "queued by the proxy; see Stateful commands", "exec": "the local cluster decides, the others follow",
        "discard": "ends the queue and the watch", "watch": "on a dedicated connection to the local cluster",
        "unwatch": "ends the watch",
        "subscribe": "dedicated connection to the local cluster; moves on failover",
        "psubscribe": "dedicated connection to the local cluster; moves on failover",
        "ssubscribe": "dedicated connection to the local cluster; moves on failover",
        "unsubscribe": "on the client's subscribed connection", "punsubscribe": "on the client's subscribed connection",
        "sunsubscribe": "on the client's subscribed connection",
    ]

    static func treatment(_ access: CommandAccess) -> String {
        switch access {
        case .read: return "read"
        case .write: return "write (replicated)"
        case .proxyAnswered: return "answered by proxy"
        case .connectionState: return "connection state"
        case .stateful: return "stateful (session)"
        case .unsupported: return "refused"
        }
    }

    static func remarks(_ info: CommandInfo) -> String {
        var parts: [String] = []
        if let reason = reason(info.access) { parts.append(reason) }
        let f = info.flags
        if info.isContainer {
            parts.append("unlisted subcommands: \(treatment(info.access))")
        }
        if f.contains(.nondeterministic), info.access == .write { parts.append("**non-deterministic**") }
        if f.contains(.nondeterministic), info.access == .read { parts.append("non-deterministic reply") }
        if f.contains(.relativeExpiry) { parts.append("**relative expiry**") }
        if f.contains(.keyspaceWide) { parts.append("whole keyspace") }
        if f.contains(.unorderedOutput), info.access.isForwarded { parts.append("unordered reply") }
        if f.contains(.blocking) {
            let when = info.blockingOption.map { "with \($0.uppercased()): " } ?? ""
            parts.append("**blocking**: \(when)runs on the client's dedicated connection")
        }
        if let note = notes[info.name] { parts.append(note) }
        if AdminAllowList.isGuarded(info) { parts.append("`allowCommands` can allow it") }
        return parts.joined(separator: "; ").replacingOccurrences(of: "|", with: "\\|")
    }

    static func generated(_ table: CommandTable) -> String {
        var out = [begin, ""]
        for group in CommandGroup.allCases {
            let entries = table.commands.filter { $0.group == group }
            guard !entries.isEmpty else { continue }
            out.append("### \(group.title)")
            out.append("")
            out.append("| command | treatment | keys | remarks |")
            out.append("|---|---|---|---|")
            for info in entries {
                let keys: String
                if info.movableKeys != nil || info.flags.contains(.movableKeys) {
                    keys = "movable"
                } else if let k = info.keys {
                    keys = "\(k.first),\(k.last),\(k.step)"
                } else {
                    keys = "—"
                }
                out.append("| `\(info.displayName)` | \(treatment(info.access)) | \(keys) | \(remarks(info)) |")
            }
            out.append("")
        }
        out.append(end)
        return out.joined(separator: "\n")
    }

    @Test func docsListEveryCommandWithItsTreatment() throws {
        let url = Self.docURL
        var text = try String(contentsOf: url, encoding: .utf8)
        let section = Self.generated(.builtin)
        guard let start = text.range(of: Self.begin), let stop = text.range(of: Self.end) else {
            Issue.record("\(url.path) has no generated section markers")
            return
        }
        let current = String(text[start.lowerBound..<stop.upperBound])
        if ProcessInfo.processInfo.environment["METACLUSTER_WRITE_DOCS"] == "1" {
            text.replaceSubrange(start.lowerBound..<stop.upperBound, with: section)
            try text.write(to: url, atomically: true, encoding: .utf8)
            return
        }
        #expect(current == section, "docs/redis-commands.md is stale: run METACLUSTER_WRITE_DOCS=1 swift test --filter CommandDocsTests")
        for info in CommandTable.builtin.commands {
            #expect(text.contains("| `\(info.displayName)` | \(Self.treatment(info.access)) |"), "\(info.name)")
        }
    }

    @Test func everyRefusalReasonIsExplainedInTheProse() throws {
        let text = try String(contentsOf: Self.docURL, encoding: .utf8)
        let prose = String(text[..<(text.range(of: Self.begin)?.lowerBound ?? text.endIndex)])
        let reasons = Set(CommandTable.builtin.commands.compactMap { reason($0.access) })
        for r in reasons {
            #expect(prose.contains(r), "the rules section should quote: \(r)")
        }
    }
}

// MARK: - Against a real redis-server

/// Starts `redis-server` on a free loopback port and checks the table against its `COMMAND`
/// reply and `COMMAND GETKEYS`. Skipped when redis-server or redis-cli is not installed.
@Suite("CommandTable against redis-server")
struct CommandTableRealRedisTests {
    static let redisServer = ["/usr/bin/redis-server", "/usr/local/bin/redis-server"].first {
        FileManager.default.isExecutableFile(atPath: $0)
    }
    static let redisCLI = ["/usr/bin/redis-cli", "/usr/local/bin/redis-cli"].first {
        FileManager.default.isExecutableFile(atPath: $0)
    }
    static var available: Bool { redisServer != nil && redisCLI != nil }

    /// Reads that Redis flags neither `readonly` nor `write`: server metadata and help texts.
    static let readsWithoutReadonlyFlag: Set<String> = [
        "command", "command|count", "command|docs", "command|getkeys", "command|getkeysandflags", "command|help",
        "command|info", "command|list", "config|get", "config|help", "info", "lastsave", "role", "time",
        "memory|doctor", "memory|help", "memory|malloc-stats", "memory|stats", "object|help", "xinfo|help",
        "xgroup|help", "script|exists", "script|help", "function|dump", "function|list", "function|stats",
        "function|help", "pubsub", "pubsub|channels", "pubsub|help", "pubsub|numpat", "pubsub|numsub",
        "pubsub|shardchannels", "pubsub|shardnumsub", "acl|cat", "acl|genpass", "acl|help", "client|help",
        "latency|help", "module|help", "slowlog|help", "object", "xinfo", "wait", "waitaof",
    ]
    /// Writes that Redis flags neither `readonly` nor `write`: scripts (either), PUBLISH (every
    /// cluster's subscribers), script loading (every cluster), and data containers' fallbacks.
    static let writesWithoutWriteFlag: Set<String> = [
        "eval", "evalsha", "fcall", "publish", "spublish", "script|load", "script|flush", "function", "script", "xgroup",
    ]

    struct Entry {
        let name: String
        let arity: Int
        let flags: Set<String>
        let keys: (Int, Int, Int)
        let tips: Set<String>
        let categories: Set<String>
    }

    static func parse(_ raw: [Any], into out: inout [String: Entry]) {
        for case let item as [Any] in raw {
            guard item.count >= 10, let name = item[0] as? String else { continue }
            let tips = Set(((item[7] as? [String]) ?? []).map { String($0.split(separator: ":")[0]) })
            out[name] = Entry(
                name: name, arity: item[1] as! Int, flags: Set(item[2] as! [String]),
                keys: (item[3] as! Int, item[4] as! Int, item[5] as! Int), tips: tips,
                categories: Set(item[6] as! [String]))
            if let subs = item[9] as? [Any] { parse(subs, into: &out) }
        }
    }

    /// Runs redis-cli with `--json`, feeding `lines` on stdin; one output line per command.
    static func cli(_ port: Int, _ arguments: [String], stdin lines: [String] = []) throws -> [String] {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: redisCLI!)
        p.arguments = ["-h", "127.0.0.1", "-p", String(port), "--json"] + arguments
        let input = Pipe()
        let output = Pipe()
        p.standardInput = input
        p.standardOutput = output
        p.standardError = FileHandle.nullDevice
        try p.run()
        input.fileHandleForWriting.write(Data((lines.joined(separator: "\n") + (lines.isEmpty ? "" : "\n")).utf8))
        try input.fileHandleForWriting.close()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return String(decoding: data, as: UTF8.self).split(separator: "\n").map(String.init)
    }

    static func quoted(_ arg: String) -> String {
        "\"" + arg.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"") + "\""
    }

    @Test(.enabled(if: CommandTableRealRedisTests.available), .timeLimit(.minutes(1)))
    func tableAgreesWithRedisServer() throws {
        let port = Int(try ChildProcess.freePort())
        let server = Process()
        server.executableURL = URL(fileURLWithPath: Self.redisServer!)
        server.arguments = ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                            "--daemonize", "no"]
        server.standardOutput = FileHandle.nullDevice
        server.standardError = FileHandle.nullDevice
        try server.run()
        defer {
            // SIGKILL, by pid: Foundation's Process spawns from a dispatch worker thread whose
            // blocked signal mask the child inherits, so redis-server would never see SIGTERM.
            // Nothing is lost: the server persists nothing (--save '', no AOF).
            kill(server.processIdentifier, SIGKILL)
            server.waitUntilExit()
        }
        var ready = false
        for _ in 0..<100 {
            if (try? Self.cli(port, ["PING"]))?.first == "\"PONG\"" { ready = true; break }
            usleep(50_000)
        }
        try #require(ready, "redis-server did not come up on port \(port)")

        // COMMAND: every command and subcommand with arity, flags, legacy keys and tips.
        let reply = try Self.cli(port, ["COMMAND"]).joined()
        let json = try #require(try JSONSerialization.jsonObject(with: Data(reply.utf8)) as? [Any])
        var redis: [String: Entry] = [:]
        Self.parse(json, into: &redis)
        try #require(redis.count > 300)

        let table = CommandTable.builtin
        var compared = 0
        for (name, r) in redis.sorted(by: { $0.key < $1.key }) {
            guard let mine = table.command(named: name) else {
                Issue.record("redis has \(name), the table does not")
                continue
            }
            compared += 1
            #expect(mine.arity == r.arity, "\(name): arity \(mine.arity), redis \(r.arity)")
            let redisKeys = r.keys.0 > 0 ? KeyPositions(r.keys.0, r.keys.1, r.keys.2) : nil
            #expect(mine.keys == redisKeys, "\(name): keys \(String(describing: mine.keys)), redis \(r.keys)")
            #expect(mine.flags.contains(.movableKeys) == r.flags.contains("movablekeys"), "\(name): movable keys")

            switch mine.access {
            case .read:
                #expect(!r.flags.contains("write"), "\(name): read here, write in redis")
                if !r.flags.contains("readonly") {
                    #expect(Self.readsWithoutReadonlyFlag.contains(name), "\(name): read here, not readonly in redis")
                }
            case .write:
                #expect(!r.flags.contains("readonly"), "\(name): write here, readonly in redis")
                if !r.flags.contains("write") {
                    #expect(Self.writesWithoutWriteFlag.contains(name), "\(name): write here, not a write in redis")
                }
            case .proxyAnswered, .connectionState, .stateful:
                #expect(!r.flags.contains("write"), "\(name): redis says it writes data")
            case .unsupported:
                break
            }
            if r.flags.contains("blocking") { #expect(mine.flags.contains(.blocking), "\(name): blocking") }
            if r.flags.contains("admin") { #expect(mine.flags.contains(.admin), "\(name): admin") }
            if r.flags.contains("pubsub") { #expect(mine.flags.contains(.pubsub), "\(name): pubsub") }
            if r.categories.contains("@transaction") { #expect(mine.flags.contains(.transaction), "\(name)") }
            if r.categories.contains("@scripting") { #expect(mine.flags.contains(.scripting), "\(name)") }
            if r.tips.contains("nondeterministic_output") {
                #expect(mine.flags.contains(.nondeterministic), "\(name): redis tips nondeterministic_output")
            }
            if r.tips.contains("nondeterministic_output_order") {
                #expect(mine.flags.contains(.unorderedOutput), "\(name): redis tips nondeterministic_output_order")
            }
        }
        print("compared \(compared) entries with redis-server's COMMAND reply")

        // COMMAND GETKEYS: the movable-key rules agree with Redis on every well-formed sample.
        let samples = CommandKeySample.all.filter(\.redisAgrees)
        let lines = try Self.cli(port, [], stdin: samples.map { "COMMAND GETKEYS " + $0.args.map(Self.quoted).joined(separator: " ") })
        try #require(lines.count == samples.count, "\(lines)")
        for (sample, line) in zip(samples, lines) {
            // Redis 7 lists keys in key-spec order, the table in argument order: compare sorted.
            let names = try JSONSerialization.jsonObject(with: Data(line.utf8), options: [.fragmentsAllowed]) as? [String]
            #expect(names?.sorted() == sample.keys.map { sample.args[$0] }.sorted(), "\(sample): redis says \(line)")
        }
    }
}

@Suite struct CommandTableServerMergeTests {
    private func entry(_ name: String, _ arity: Int, _ flags: [String], _ first: Int, _ last: Int, _ step: Int) -> RESPValue {
        .array([.bulk(Array(name.utf8)), .integer(arity), .set(flags.map { .simpleString($0) }),
                .integer(first), .integer(last), .integer(step), .array([]), .array([]), .array([]), .array([])])
    }

    @Test func serverCommandsAddOnlyWhatTheTableDoesNotKnow() {
        let reply = RESPValue.array([
            entry("get", 2, ["write"], 1, 1, 1),            // known: the built-in read stays a read
            entry("module.read", 2, ["readonly"], 1, 1, 1),
            entry("module.write", -3, ["write", "denyoom"], 1, -1, 2),
            entry("module.wait", 3, ["readonly", "blocking"], 1, 1, 1),
            entry("module.admin", 1, ["admin"], 0, 0, 0),
            .bulk(Array("garbage".utf8)),
        ])
        let (table, added) = CommandTable.builtin.merging(serverCommands: reply)
        #expect(added == 4)
        #expect(table.lookup("get")?.access == .read)
        #expect(table.lookup("MODULE.READ")?.access == .read)
        #expect(table.lookup("module.read")?.keys == KeyPositions(first: 1, last: 1, step: 1))
        #expect(table.lookup("module.write")?.access == .write)
        #expect(table.lookup("module.write")?.arity == -3)
        if case .unsupported = table.lookup("module.wait")?.access {} else {
            Issue.record("a blocking server command must be refused")
        }
        #expect(table.lookup("module.admin")?.access == .write)
        #expect(table.lookup("module.admin")?.keys == nil)
        #expect(CommandTable.builtin.lookup("module.read") == nil)
    }
}
