import Foundation
import Testing
import RedisProtocol

/// Two redis-servers with the same data: a blocking command runs on A, its effect on B, and the two
/// must then hold the same data (skipped without redis-server).
@Suite("Blocking effects against redis-server", .enabled(if: CommandTableRealRedisTests.redisServer != nil),
       .serialized, .timeLimit(.minutes(1)))
struct BlockingEffectRealRedisTests {
    static let setup: [[String]] = [
        ["RPUSH", "list", "a", "b", "c", "d"],
        ["RPUSH", "other", "x"],
        ["ZADD", "zset", "1.5", "one", "2", "two", "3e10", "big", "-1", "neg"],
        ["ZADD", "zother", "7", "seven"],
        ["XADD", "s1", "1-0", "f", "1"], ["XADD", "s1", "2-0", "f", "2"], ["XADD", "s1", "3-0", "f", "3"],
        ["XADD", "s2", "1-5", "g", "1"],
        ["XGROUP", "CREATE", "s1", "g", "0"], ["XGROUP", "CREATE", "s2", "g", "0"],
    ]

    /// (commands run on both servers first, the blocking command run on A, whether it takes something).
    static let cases: [([[String]], [String], Bool)] = [
        ([], ["BLPOP", "empty", "list", "0"], true),
        ([], ["BRPOP", "list", "other", "0"], true),
        ([], ["BRPOPLPUSH", "list", "dst", "0"], true),
        ([], ["BRPOPLPUSH", "list", "list", "0"], true),
        ([], ["BLMOVE", "list", "other", "LEFT", "RIGHT", "0"], true),
        ([], ["BLMPOP", "0", "2", "empty", "list", "LEFT", "COUNT", "3"], true),
        ([], ["BLMPOP", "0", "1", "list", "RIGHT", "COUNT", "10"], true),
        ([], ["BZPOPMIN", "zempty", "zset", "0"], true),
        ([], ["BZPOPMAX", "zset", "0"], true),
        ([], ["BZMPOP", "0", "2", "zset", "zother", "MIN", "COUNT", "2"], true),
        ([], ["BZMPOP", "0", "1", "zset", "MAX", "COUNT", "10"], true),
        ([], ["XREADGROUP", "GROUP", "g", "c", "COUNT", "2", "BLOCK", "0", "STREAMS", "s1", "s2", ">", ">"], true),
        ([], ["XREADGROUP", "GROUP", "g", "c", "NOACK", "STREAMS", "s1", ">"], true),
        // History: c re-reads what it holds, one entry deleted since.
        ([["XREADGROUP", "GROUP", "g", "c", "STREAMS", "s1", ">"], ["XDEL", "s1", "2-0"]],
         ["XREADGROUP", "GROUP", "g", "c", "BLOCK", "0", "STREAMS", "s1", "0"], true),
        // Entries c held (delivered twice) go again to d after SETID back: delivered once, to d.
        ([["XREADGROUP", "GROUP", "g", "c", "STREAMS", "s1", ">"], ["XREADGROUP", "GROUP", "g", "c", "STREAMS", "s1", "0"],
          ["XGROUP", "SETID", "s1", "g", "0"]],
         ["XREADGROUP", "GROUP", "g", "d", "COUNT", "1", "BLOCK", "0", "STREAMS", "s1", ">"], true),
        // Timeouts.
        ([], ["BLPOP", "empty", "0.01"], false),
        ([], ["BZMPOP", "0.01", "1", "zempty", "MIN"], false),
        ([["XREADGROUP", "GROUP", "g", "c", "STREAMS", "s2", ">"]],
         ["XREADGROUP", "GROUP", "g", "c", "BLOCK", "10", "STREAMS", "s2", ">"], false),
    ]

    @Test(arguments: [2, 3])
    func effectOnBMatchesTheCommandOnA(protocolVersion: Int) throws {
        let serverA = try RedisTestServer()
        let serverB = try RedisTestServer()
        let a = try serverA.connect(protocolVersion: protocolVersion)
        let b = try serverB.connect()
        let inspectA = try serverA.connect()
        let inspectB = try serverB.connect()
        for (prelude, command, takes) in Self.cases {
            for c in [a, b] {
                _ = try c.value(["FLUSHALL"])
                for setup in Self.setup + prelude { _ = try c.value(setup) }
            }
            let before = try redisSnapshot(inspectA)
            #expect(before == (try redisSnapshot(inspectB)), "\(command): set-up differs")
            let reply = try a.value(command)
            let kind = try #require(DeterministicRewrite.blockingKind(command[0].lowercased()))
            let effects = DeterministicRewrite.effects(of: kind, args: command.map { Array($0.utf8) }, reply: reply)
            #expect(effects.isEmpty != takes, "\(command): \(reply)")
            for effect in effects {
                try b.write(effect)
                let applied = try RESPValue.parse(try b.reply()).0
                if case .error = applied { Issue.record("\(command): effect failed: \(applied)") }
            }
            let after = try redisSnapshot(inspectA)
            #expect((after != before) == takes, "\(command)")
            let afterB = try redisSnapshot(inspectB)
            #expect(after == afterB, "\(command) \(protocolVersion): \(snapshotDifference(after, afterB))")
        }
    }

    /// The client really waits: the data arrives (on every cluster) while it is blocked.
    @Test(arguments: [2, 3])
    func servedAfterBlocking(protocolVersion: Int) throws {
        let serverA = try RedisTestServer()
        let serverB = try RedisTestServer()
        let inspectA = try serverA.connect()
        let inspectB = try serverB.connect()
        for c in [inspectA, inspectB] {
            for setup in Self.setup { _ = try c.value(setup) }
            _ = try c.value(["XREADGROUP", "GROUP", "g", "c", "STREAMS", "s1", ">"])
        }
        let cases: [([String], [String])] = [
            (["BLPOP", "empty", "5"], ["RPUSH", "empty", "late"]),
            (["BZPOPMIN", "zempty", "5"], ["ZADD", "zempty", "4.25", "late"]),
            (["XREADGROUP", "GROUP", "g", "e", "BLOCK", "5000", "STREAMS", "s1", ">"], ["XADD", "s1", "9-0", "f", "late"]),
        ]
        for (command, write) in cases {
            let waiter = try serverA.connect(protocolVersion: protocolVersion)
            try waiter.write(respMultibulk(command.map { Array($0.utf8) }))
            // Blocked (CLIENT LIST shows it) before the write arrives.
            var blocked = false
            for _ in 0 ..< 200 where !blocked {
                blocked = String(decoding: try inspectA.call("CLIENT", "LIST"), as: UTF8.self).contains("cmd=\(command[0].lowercased())")
                if !blocked { usleep(5_000) }
            }
            #expect(blocked, "\(command)")
            _ = try inspectA.value(write)
            _ = try inspectB.value(write)
            let reply = try RESPValue.parse(try waiter.reply()).0
            let kind = try #require(DeterministicRewrite.blockingKind(command[0].lowercased()))
            let effects = DeterministicRewrite.effects(of: kind, args: command.map { Array($0.utf8) }, reply: reply)
            #expect(!effects.isEmpty, "\(command): \(reply)")
            for effect in effects {
                try inspectB.write(effect)
                _ = try inspectB.reply()
            }
            let (snapshotA, snapshotB) = (try redisSnapshot(inspectA), try redisSnapshot(inspectB))
            #expect(snapshotA == snapshotB, "\(command): \(snapshotDifference(snapshotA, snapshotB))")
        }
    }
}
