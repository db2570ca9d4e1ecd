import Foundation
import Testing

import RedisProtocol
import TestSupport

private func repairKeys(_ args: String..., table: CommandTable = .builtin) -> [String]? {
    respMultibulk(args.map(respBytes)).withUnsafeBytes { KeyRepair.keys(ofWrite: $0, table: table) }?
        .map { String(decoding: $0, as: UTF8.self) }
}

private func repairKeys(raw: String) -> [[UInt8]]? {
    respBytes(raw).withUnsafeBytes { KeyRepair.keys(ofWrite: $0) }
}

private func restore(_ reply: [UInt8], key: String = "k", now: Int64 = 1_700_000_000_000) -> [UInt8]? {
    reply.withUnsafeBytes { KeyRepair.restoreFrame(key: respBytes(key), execReply: $0, nowMillis: now) }
}

private func restore(_ reply: String, key: String = "k", now: Int64 = 1_700_000_000_000) -> String? {
    restore(respBytes(reply), key: key, now: now).map { String(decoding: $0, as: UTF8.self) }
}

private func frame(_ args: String...) -> String {
    String(decoding: respMultibulk(args.map(respBytes)), as: UTF8.self)
}

@Suite("KeyRepair")
struct KeyRepairTests {
    @Test func keysOfSingleKeyWrites() {
        #expect(repairKeys("INCR", "counter") == ["counter"])
        #expect(repairKeys("lpush", "list", "a", "b") == ["list"])
        #expect(repairKeys("APPEND", "s", "tail") == ["s"])
        #expect(repairKeys("HINCRBY", "h", "f", "1") == ["h"])
    }

    @Test func keysOfTwoKeyWritesInArgumentOrder() {
        #expect(repairKeys("RPOPLPUSH", "src", "dst") == ["src", "dst"])
        #expect(repairKeys("LMOVE", "src", "dst", "LEFT", "RIGHT") == ["src", "dst"])
        #expect(repairKeys("MSET", "b", "1", "a", "2") == ["b", "a"])
    }

    @Test func duplicateKeysAreListedOnce() {
        #expect(repairKeys("RPOPLPUSH", "k", "k") == ["k"])
        #expect(repairKeys("MSET", "a", "1", "b", "2", "a", "3") == ["a", "b"])
        #expect(repairKeys("EVAL", "return 1", "3", "x", "y", "x", "arg") == ["x", "y"])
    }

    @Test func scriptKeysFollowNumkeys() {
        #expect(repairKeys("EVAL", "return 1", "2", "a", "b", "argv1") == ["a", "b"])
        #expect(repairKeys("FCALL", "f", "1", "a", "argv1") == ["a"])
        #expect(repairKeys("EVAL", "return 1", "0") == nil)
        #expect(repairKeys("EVAL", "return 1", "0", "argv1") == nil)
        #expect(repairKeys("FCALL", "f", "0") == nil)
        #expect(repairKeys("EVAL", "return 1", "5", "a") == nil, "numkeys beyond the arguments: no keys, as in Redis")
    }

    @Test func subcommandKeysComeFromTheSubcommandEntry() {
        #expect(repairKeys("XGROUP", "CREATE", "stream", "group", "$") == ["stream"])
    }

    @Test func commandsWithoutDataKeysHaveNoRepair() {
        #expect(repairKeys("PUBLISH", "channel", "message") == nil)
        #expect(repairKeys("SPUBLISH", "channel", "message") == nil, "a shard channel holds no data to copy")
        #expect(repairKeys("FLUSHALL") == nil)
        #expect(repairKeys("INCR") == nil)
    }

    @Test func unknownCommandsHaveNoRepair() {
        #expect(repairKeys("NOSUCHCOMMAND", "k") == nil)
        #expect(repairKeys("INCR", "k", table: CommandTable([])) == nil)
    }

    @Test func malformedFramesHaveNoRepair() {
        #expect(repairKeys(raw: "") == nil)
        #expect(repairKeys(raw: "INCR k\r\n") == nil, "inline, not a multibulk")
        #expect(repairKeys(raw: "*2\r\n$4\r\nINCR\r\n$1\r\n") == nil, "truncated")
        #expect(repairKeys(raw: "*2\r\n$4\r\nINCR\r\n$2\r\nk\r\n") == nil, "wrong length")
        #expect(repairKeys(raw: "*2\r\n$4\r\nINCR\r\n$1\r\nk\r\n*1\r\n$4\r\nPING\r\n") == nil, "a second frame")
        #expect(repairKeys(raw: "*0\r\n") == nil)
        #expect(repairKeys(raw: "*-1\r\n") == nil)
        #expect(repairKeys(raw: "*2\r\n:4\r\nINCR\r\n$1\r\nk\r\n") == nil)
    }

    @Test func binaryKeysAreCopiedExactly() {
        let key: [UInt8] = [0, 13, 10, 255, 42]
        let keys = respMultibulk([respBytes("INCR"), key]).withUnsafeBytes { KeyRepair.keys(ofWrite: $0) }
        #expect(keys == [key])
    }

    @Test func readFramesAreMultiDumpPttlExec() {
        let frames = KeyRepair.readFrames(key: respBytes("my key")).map { String(decoding: $0, as: UTF8.self) }
        #expect(frames == [frame("MULTI"), frame("DUMP", "my key"), frame("PTTL", "my key"), frame("EXEC")])
    }

    // A DUMP payload is binary: CR LF and "$" inside it must be carried byte for byte.
    static let payload: [UInt8] = [0x00, 0xC0, 0x05, 13, 10, UInt8(ascii: "$"), 0x0A, 0x00, 0xFF]

    static func execReply(dump: [UInt8], pttl: String) -> [UInt8] {
        respBytes("*2\r\n") + dump + respBytes(":\(pttl)\r\n")
    }

    static let bulkPayload = respBytes("$\(payload.count)\r\n") + payload + respBytes("\r\n")

    @Test func presentWithoutExpiryRestoresWithTtlZero() {
        let expected = respMultibulk([respBytes("RESTORE"), respBytes("k"), respBytes("0"), Self.payload, respBytes("REPLACE")])
        #expect(restore(Self.execReply(dump: Self.bulkPayload, pttl: "-1")) == expected)
    }

    @Test func presentWithExpiryRestoresWithAnAbsoluteTtl() {
        let expected = respMultibulk([respBytes("RESTORE"), respBytes("k"), respBytes("1700000012345"), Self.payload,
                                      respBytes("REPLACE"), respBytes("ABSTTL")])
        #expect(restore(Self.execReply(dump: Self.bulkPayload, pttl: "12345")) == expected)
    }

    @Test func missingKeyIsDeleted() {
        #expect(restore("*2\r\n$-1\r\n:-2\r\n") == frame("DEL", "k"))
        #expect(restore("*2\r\n_\r\n:-2\r\n") == frame("DEL", "k"), "RESP3 null")
        #expect(restore(Self.execReply(dump: Self.bulkPayload, pttl: "-2")) == respMultibulk([respBytes("DEL"), respBytes("k")]))
        #expect(restore("*2\r\n$-1\r\n:-1\r\n") == frame("DEL", "k"), "a null DUMP is a missing key")
        #expect(restore(Self.execReply(dump: Self.bulkPayload, pttl: "0")) == respMultibulk([respBytes("DEL"), respBytes("k")]),
                "expiring within this millisecond")
    }

    @Test func resp3RepliesAreRead() {
        // A RESP3 EXEC reply is an array too (its null DUMP is `_`, see missingKeyIsDeleted);
        // the framing RESP3 allows for an array, streamed, is read as well.
        let expected = respMultibulk([respBytes("RESTORE"), respBytes("k"), respBytes("0"), Self.payload, respBytes("REPLACE")])
        #expect(restore(Self.execReply(dump: Self.bulkPayload, pttl: "-1")) == expected)
        #expect(restore(respBytes("*?\r\n") + Self.bulkPayload + respBytes(":-1\r\n.\r\n")) == expected, "streamed array")
    }

    @Test func otherShapesAreRefused() {
        #expect(restore("*-1\r\n") == nil, "EXEC aborted by WATCH (RESP2)")
        #expect(restore("_\r\n") == nil, "EXEC aborted by WATCH (RESP3)")
        #expect(restore("-EXECABORT Transaction discarded because of previous errors.\r\n") == nil)
        #expect(restore("*2\r\n-ERR DUMP is disabled\r\n:-1\r\n") == nil)
        #expect(restore("*2\r\n$3\r\nabc\r\n-ERR nope\r\n") == nil)
        #expect(restore("*2\r\n!3\r\nERR\r\n:-1\r\n") == nil, "RESP3 blob error")
        #expect(restore("*1\r\n$3\r\nabc\r\n") == nil)
        #expect(restore("*3\r\n$3\r\nabc\r\n:-1\r\n:-1\r\n") == nil)
        #expect(restore("*0\r\n") == nil)
        #expect(restore("*2\r\n:1\r\n:-1\r\n") == nil, "DUMP answered an integer")
        #expect(restore("*2\r\n$3\r\nabc\r\n$2\r\n-1\r\n") == nil, "PTTL answered a bulk")
        #expect(restore("*2\r\n+abc\r\n:-1\r\n") == nil)
        #expect(restore("*2\r\n$3\r\nabc\r\n:-3\r\n") == nil, "no such PTTL")
        #expect(restore("*2\r\n$3\r\nabc\r\n:5\r\n", now: Int64.max) == nil, "expiry overflows")
        #expect(restore("%1\r\n$3\r\nabc\r\n:-1\r\n") == nil)
        #expect(restore("*2\r\n|1\r\n+a\r\n+b\r\n$3\r\nabc\r\n:-1\r\n") == nil, "attribute before DUMP")
    }

    @Test func truncatedOrExtendedRepliesAreRefused() {
        let whole = Self.execReply(dump: Self.bulkPayload, pttl: "-1")
        for cut in 0 ..< whole.count {
            #expect(restore(Array(whole[0 ..< cut])) == nil, "cut at \(cut)")
        }
        #expect(restore(whole + respBytes("+OK\r\n")) == nil)
        #expect(restore("*2\r\n$4\r\nabc\r\n:-1\r\n") == nil, "bulk length off by one")
    }
}

// MARK: - Against real redis-servers

/// A blocking connection that sends raw bytes and frames replies with `ReplyFramer`.
private typealias RedisConnection = RESPMergeRealRedisTests.Connection

/// Reads keys of several types from one real redis-server with `readFrames`, writes the
/// `restoreFrame` to another, and compares the two servers (skipped without redis-server).
@Suite("KeyRepair against redis-server", .enabled(if: CommandTableRealRedisTests.redisServer != nil),
       .timeLimit(.minutes(1)))
struct KeyRepairRealRedisTests {
    static func integer(_ reply: [UInt8]) -> Int? {
        guard reply.first == RESPType.integer, reply.count > 3 else { return nil }
        return Int(String(decoding: reply[1 ..< reply.count - 2], as: UTF8.self))
    }

    @Test(arguments: [2, 3])
    func restoredKeysMatchTheSource(protocolVersion: Int) throws {
        let serverA = try RedisTestServer()
        defer { serverA.stop() }
        let serverB = try RedisTestServer()
        defer { serverB.stop() }
        let a = try RedisConnection(port: serverA.port)
        let b = try RedisConnection(port: serverB.port)
        // Both in the same protocol, so their replies compare byte for byte.
        for connection in [a, b] {
            #expect(try connection.call("HELLO", String(protocolVersion)).first == (protocolVersion == 3 ? RESPType.map : RESPType.array))
        }

        for _ in 0 ..< 3 { _ = try a.call("INCR", "counter") }
        _ = try a.call([respBytes("LPUSH"), respBytes("list"), respBytes("a"), [0, 13, 10, 255], respBytes("c")])
        _ = try a.call("HSET", "hash", "f1", "v1", "f2", "2")
        _ = try a.call("SET", "expiring", "value")
        _ = try a.call("PEXPIRE", "expiring", "100000")
        _ = try a.call("ZADD", "zset", "1", "one", "2.5", "two")
        _ = try a.call("RPUSH", "expiringList", "x", "y")
        _ = try a.call("PEXPIRE", "expiringList", "50000")
        // B holds other data under some of the names: the restore must replace or delete it.
        _ = try b.call("SET", "counter", "999")
        _ = try b.call("SADD", "hash", "wrong type")
        _ = try b.call("SET", "missing", "stale")
        _ = try b.call("SET", "expiring", "old")

        for key in ["counter", "list", "hash", "expiring", "zset", "expiringList", "missing"] {
            let name = respBytes(key)
            let frames = KeyRepair.readFrames(key: name)
            try a.write(frames.flatMap { $0 })
            var replies: [[UInt8]] = []
            for _ in frames { replies.append(try a.reply()) }
            #expect(replies[0] == respBytes("+OK\r\n"), "\(key)")
            #expect(replies[1] == respBytes("+QUEUED\r\n") && replies[2] == respBytes("+QUEUED\r\n"), "\(key)")
            let nowMillis = Int64(Date().timeIntervalSince1970 * 1000)
            let repair = try #require(replies[3].withUnsafeBytes {
                KeyRepair.restoreFrame(key: name, execReply: $0, nowMillis: nowMillis)
            }, "\(key): \(String(decoding: replies[3], as: UTF8.self).debugDescription)")
            try b.write(repair)
            let applied = try b.reply()
            #expect(applied == respBytes("+OK\r\n") || applied == respBytes(":1\r\n"),
                    "\(key): \(String(decoding: applied, as: UTF8.self).debugDescription)")

            #expect(try b.call([respBytes("DUMP"), name]) == (try a.call([respBytes("DUMP"), name])), "\(key)")
            let ttlA = try #require(Self.integer(try a.call([respBytes("PTTL"), name])))
            let ttlB = try #require(Self.integer(try b.call([respBytes("PTTL"), name])))
            if ttlA < 0 {
                #expect(ttlB == ttlA, "\(key)")
            } else {
                #expect(abs(ttlA - ttlB) < 2000, "\(key): \(ttlA) vs \(ttlB)")
            }
        }
        // Spot checks beyond DUMP equality.
        #expect(try b.call("GET", "counter") == respBytes("$1\r\n3\r\n"))
        #expect(try b.call("HGET", "hash", "f2") == respBytes("$1\r\n2\r\n"))
        #expect(try b.call("LINDEX", "list", "1") == respBytes("$4\r\n") + [0, 13, 10, 255] + respBytes("\r\n"))
        #expect(try b.call("EXISTS", "missing") == respBytes(":0\r\n"))
        #expect(Self.integer(try b.call("PTTL", "expiring")).map { $0 > 90_000 && $0 <= 100_000 } == true)
    }
}
