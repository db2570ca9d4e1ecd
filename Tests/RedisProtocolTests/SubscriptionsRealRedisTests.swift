import Foundation
import Testing
import RedisProtocol
import TestSupport

private typealias Connection = RESPMergeRealRedisTests.Connection

private func b(_ s: String) -> [UInt8] { Array(s.utf8) }

/// The whole replies in `bytes`, in order.
private func frames(_ bytes: [UInt8]) -> [[UInt8]] {
    var framer = ReplyFramer()
    var out: [[UInt8]] = []
    var rest = bytes[...]
    while !rest.isEmpty {
        guard case .reply(let length, _) = Array(rest).withUnsafeBytes({ framer.frame($0) }) else {
            out.append(Array(rest))
            break
        }
        out.append(Array(rest.prefix(length)))
        rest = rest.dropFirst(length)
    }
    return out
}

/// A confirmation with its name left out, and the name: the frames of an UNSUBSCRIBE of all
/// names come in redis's dictionary order, which only a multiset comparison can check.
private func split(_ frame: [UInt8]) -> (shape: [UInt8], name: [UInt8])? {
    // "*3\r\n" (or ">3"), the word's bulk, the name's bulk or null, the count.
    var framer = ReplyFramer()
    func element(at start: Int) -> Int? {
        guard start < frame.count, case .reply(let length, _) = Array(frame[start...]).withUnsafeBytes({ framer.frame($0) }) else { return nil }
        return start + length
    }
    guard frame.count > 4, let wordEnd = element(at: 4), let nameEnd = element(at: wordEnd) else { return nil }
    return (Array(frame[..<wordEnd]) + Array(frame[nameEnd...]), Array(frame[wordEnd ..< nameEnd]))
}

/// What `Subscriptions` composes equals what redis-server 7 sends, for scripted and random sequences
/// of (un)subscriptions in RESP2 and RESP3, and `classify` recognises every frame redis sends.
@Suite("Subscriptions against redis-server", .enabled(if: CommandTableRealRedisTests.redisServer != nil), .timeLimit(.minutes(1)))
struct SubscriptionsRealRedisTests {
    static let marker = b("~end-of-step~")

    /// Sends `command`, then a PING carrying the marker, and returns every frame before the PING's reply.
    fileprivate static func step(_ redis: Connection, _ command: [[UInt8]]) throws -> [[UInt8]] {
        try redis.write(respMultibulk(command) + respMultibulk([b("PING"), marker]))
        var got: [[UInt8]] = []
        while true {
            let frame = try redis.reply()
            if frame.firstRange(of: marker) != nil { return got }
            got.append(frame)
        }
    }

    static let kinds: [(SubscriptionKind, String, String)] = [
        (.channel, "SUBSCRIBE", "UNSUBSCRIBE"), (.pattern, "PSUBSCRIBE", "PUNSUBSCRIBE"), (.shardChannel, "SSUBSCRIBE", "SUNSUBSCRIBE"),
    ]

    /// Runs one (un)subscription on both and compares; an UNSUBSCRIBE of all as a multiset of names.
    fileprivate static func compare(_ redis: Connection, _ model: inout Subscriptions, subscribe: Bool, _ kind: SubscriptionKind,
                        _ names: [String], protocolVersion: Int) throws {
        let entry = kinds.first { $0.0 == kind }!
        let command = [b(subscribe ? entry.1 : entry.2)] + names.map(b)
        let theirs = try step(redis, command)
        let ours = subscribe
            ? model.subscribe(kind, names.map(b), protocolVersion: protocolVersion)
            : model.unsubscribe(kind, names.map(b), protocolVersion: protocolVersion)
        let label = "\(command.map { String(decoding: $0, as: UTF8.self) }) RESP\(protocolVersion)"
        if !subscribe && names.isEmpty {
            let (a, z) = (frames(ours).compactMap(split), theirs.compactMap(split))
            #expect(a.map(\.shape) == z.map(\.shape), "\(label)")
            #expect(a.map(\.name).sorted { $0.lexicographicallyPrecedes($1) } == z.map(\.name).sorted { $0.lexicographicallyPrecedes($1) }, "\(label)")
            #expect(a.count == theirs.count, "\(label)")
        } else {
            #expect(frames(ours) == theirs, "\(label)")
        }
        for frame in theirs {
            #expect(frame.withUnsafeBytes { Subscriptions.classify($0) } == .confirmation, "\(label)")
        }
    }

    fileprivate static func open(_ server: RedisTestServer, protocolVersion: Int) throws -> Connection {
        let redis = try Connection(port: server.port)
        let hello = try redis.call("HELLO", String(protocolVersion))
        #expect(hello.withUnsafeBytes { Subscriptions.classify($0) } == .other)
        return redis
    }

    /// The connection's id, asked before it subscribes (CLIENT is refused in RESP2 subscribed mode).
    fileprivate static func clientID(_ redis: Connection) throws -> String {
        let reply = try redis.call("CLIENT", "ID")
        return String(decoding: reply.dropFirst().dropLast(2), as: UTF8.self)
    }

    @Test(arguments: [2, 3])
    func scriptedSequenceMatchesRedis(protocolVersion: Int) throws {
        let server = try RedisTestServer()
        defer { server.stop() }   // also keeps it alive to the end: Swift may release it after its last use
        let redis = try Self.open(server, protocolVersion: protocolVersion)
        var model = Subscriptions()
        let script: [(Bool, SubscriptionKind, [String])] = [
            (true, .channel, ["a", "b", "a"]), (true, .pattern, ["p*"]), (false, .channel, []), (false, .channel, []),
            (true, .shardChannel, ["s"]), (false, .shardChannel, []), (false, .pattern, ["x"]), (false, .pattern, []),
            (false, .pattern, []), (false, .shardChannel, []), (true, .shardChannel, ["s1", "s2"]), (false, .channel, []),
            (false, .shardChannel, ["s2", "s9"]), (true, .channel, ["c"]), (false, .channel, ["zz", "c"]), (false, .shardChannel, []),
        ]
        for (subscribe, kind, names) in script {
            try Self.compare(redis, &model, subscribe: subscribe, kind, names, protocolVersion: protocolVersion)
        }
        #expect(model.isEmpty)
    }

    @Test(arguments: [2, 3])
    func randomSequencesMatchRedis(protocolVersion: Int) throws {
        let server = try RedisTestServer()
        defer { server.stop() }   // also keeps it alive to the end: Swift may release it after its last use
        let redis = try Self.open(server, protocolVersion: protocolVersion)
        let id = try Self.clientID(redis)
        let observer = try Connection(port: server.port)
        var model = Subscriptions()
        var rng = SplitMix(state: UInt64(protocolVersion) &* 7919)
        let universe = ["a", "b", "c", "d", "p*", "p?", "x\r\ny", ""]
        for _ in 0 ..< 300 {
            let kind = Self.kinds.randomElement(using: &rng)!.0
            let subscribe = Bool.random(using: &rng)
            let count = subscribe ? Int.random(in: 1 ... 4, using: &rng) : Int.random(in: 0 ... 3, using: &rng)
            let names = (0 ..< count).map { _ in universe.randomElement(using: &rng)! }
            try Self.compare(redis, &model, subscribe: subscribe, kind, names, protocolVersion: protocolVersion)
            if Int.random(in: 0 ..< 40, using: &rng) == 0 {
                #expect(try redis.call("RESET") == b("+RESET\r\n"))
                if protocolVersion == 3 { _ = try redis.call("HELLO", "3") }
                model.removeAll()
            }
            // Subscribed mode (and so RESP2's PING and refusal) lasts while anything is subscribed.
            let ping = try redis.call("PING")
            let arg = try redis.call("PING", "hi")
            if !model.isEmpty || protocolVersion == 3 {
                #expect(ping == Subscriptions.pingReply(argument: nil, protocolVersion: protocolVersion))
                #expect(arg == Subscriptions.pingReply(argument: b("hi"), protocolVersion: protocolVersion))
            } else {
                #expect(ping == b("+PONG\r\n"))
            }
            #expect(ping.withUnsafeBytes { Subscriptions.classify($0) } == .pong)
            if !model.isEmpty && protocolVersion == 2 {
                for command in [["GET", "k"], ["CONFIG", "GET", "maxmemory"]] {
                    let name = command.count == 3 ? "config|get" : "get"
                    var expected: [UInt8] = []
                    RESPEncoder.error(Subscriptions.notAllowedError(command: name), into: &expected)
                    let reply = try redis.call(command.map(b))
                    #expect(reply == expected)
                    #expect(reply.withUnsafeBytes { Subscriptions.classify($0) } == .error)
                }
            }
            // The names kept are the names redis holds for the connection.
            do {
                let info = String(decoding: try observer.call("CLIENT", "LIST", "ID", id), as: UTF8.self)
                #expect(info.contains("sub=\(model.names(.channel).count) psub=\(model.names(.pattern).count) ssub=\(model.names(.shardChannel).count)"), "\(info)")
            }
        }
    }

    @Test(arguments: [2, 3])
    func messagesAreClassifiedAsMessages(protocolVersion: Int) throws {
        let server = try RedisTestServer()
        defer { server.stop() }   // also keeps it alive to the end: Swift may release it after its last use
        let subscriber = try Self.open(server, protocolVersion: protocolVersion)
        let publisher = try Connection(port: server.port)
        var model = Subscriptions()
        try Self.compare(subscriber, &model, subscribe: true, .channel, ["news"], protocolVersion: protocolVersion)
        try Self.compare(subscriber, &model, subscribe: true, .pattern, ["n*"], protocolVersion: protocolVersion)
        try Self.compare(subscriber, &model, subscribe: true, .shardChannel, ["shard"], protocolVersion: protocolVersion)
        #expect(try publisher.call("PUBLISH", "news", "hello") == b(":2\r\n"))
        #expect(try publisher.call("SPUBLISH", "shard", "bye") == b(":1\r\n"))
        let head = protocolVersion == 3 ? ">" : "*"
        let expected = [
            "\(head)3\r\n$7\r\nmessage\r\n$4\r\nnews\r\n$5\r\nhello\r\n",
            "\(head)4\r\n$8\r\npmessage\r\n$2\r\nn*\r\n$4\r\nnews\r\n$5\r\nhello\r\n",
            "\(head)3\r\n$8\r\nsmessage\r\n$5\r\nshard\r\n$3\r\nbye\r\n",
        ]
        for text in expected {
            let frame = try subscriber.reply()
            #expect(String(decoding: frame, as: UTF8.self) == text)
            #expect(frame.withUnsafeBytes { Subscriptions.classify($0) } == .message)
        }
    }
}
