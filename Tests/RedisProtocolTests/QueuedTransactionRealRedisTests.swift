import Foundation
import Testing
import RedisProtocol

private func words(_ list: [String]) -> [[UInt8]] { list.map { Array($0.utf8) } }

/// A transaction runs on redis-server A, its replication frame on B, and the two must then hold the
/// same data; the queue-time rules match what redis-server answers (skipped without redis-server).
@Suite("QueuedTransaction against redis-server", .enabled(if: CommandTableRealRedisTests.redisServer != nil),
       .serialized, .timeLimit(.minutes(1)))
struct QueuedTransactionRealRedisTests {
    static let setup: [[String]] = [
        ["SADD", "set", "a", "b", "c", "d", "e"],
        ["SET", "text", "not a number"],
        ["RPUSH", "list", "x", "y"],
        ["XADD", "stream", "1-0", "f", "1"],
        ["XGROUP", "CREATE", "stream", "g", "0"],
    ]

    /// Runs `t` on A as the deciding cluster; returns EXEC's reply.
    static func exec(_ t: QueuedTransaction, on a: RedisTestServer.Connection) throws -> RESPValue {
        let replies = try a.values(t.execFrame(), replies: t.count + 2)
        #expect(replies[0] == .simpleString("OK"))
        return replies[t.count + 1]
    }

    @Test(arguments: [2, 3])
    func replicatedTransactionLeavesBothClustersEqual(protocolVersion: Int) throws {
        let serverA = try RedisTestServer()
        let serverB = try RedisTestServer()
        let a = try serverA.connect(protocolVersion: protocolVersion)
        let b = try serverB.connect(protocolVersion: protocolVersion)
        for c in [a, b] { for command in Self.setup { _ = try c.value(command) } }

        var t = QueuedTransaction()
        t.queue(words(["SET", "k", "v"]), replication: .asIs)
        t.queue(words(["GET", "k"]), replication: .dropped)
        t.queue(words(["SPOP", "set", "2"]), replication: .decided(.spop))
        t.queue(words(["XADD", "stream", "*", "f", "2"]), replication: .decided(.xaddAutoID))
        t.queue(words(["XADD", "stream", "MAXLEN", "=", "10", "*", "f", "3"]), replication: .decided(.xaddAutoID))
        t.queue(words(["INCR", "text"]), replication: .asIs)   // fails inside EXEC
        let expire = words(["EXPIRE", "k", "1000"])
        guard case .rewritten(let absolute) = DeterministicRewrite.plan("expire", expire, nowMs: Int64(Date().timeIntervalSince1970 * 1000)) else {
            Issue.record("EXPIRE not rewritten")
            return
        }
        t.queue(rewritten: absolute)
        t.queue(words(["RPUSH", "list", "z"]), replication: .asIs)
        t.queue(words(["BLPOP", "list", "0"]), replication: .decided(.blpop))   // does not block inside MULTI
        t.queue(words(["XREADGROUP", "GROUP", "g", "c", "STREAMS", "stream", ">"]), replication: .decided(.xreadgroup))
        t.queue(words(["SPOP", "missing"]), replication: .decided(.spop))   // pops nothing

        let execReply = try Self.exec(t, on: a)
        guard case .array(let results?) = execReply else {
            Issue.record("EXEC answered \(execReply)")
            return
        }
        if case .error = results[5] {} else { Issue.record("INCR on text should fail: \(results[5])") }
        let (frame, commands) = try #require(t.replicationFrame(execReply: execReply))
        // SET, SREM, XADD, XADD, PEXPIREAT, RPUSH, LPOP, XCLAIM: not GET, the failed INCR, the empty SPOP.
        #expect(commands == 8)
        let replies = try b.values(frame, replies: commands + 2)
        guard case .array(let applied?) = replies[commands + 1] else {
            Issue.record("B's EXEC answered \(replies[commands + 1])")
            return
        }
        for reply in applied { if case .error = reply { Issue.record("replicated command failed on B: \(reply)") } }

        let inspectA = try serverA.connect()
        let inspectB = try serverB.connect()
        let (snapshotA, snapshotB) = (try redisSnapshot(inspectA), try redisSnapshot(inspectB))
        #expect(snapshotA == snapshotB, "\(snapshotDifference(snapshotA, snapshotB))")
        // The snapshot compares expiry instants: this one must exist.
        #expect(try inspectA.value(["PEXPIRETIME", "k"]) != .integer(-1))
    }

    @Test(arguments: [2, 3])
    func abortedTransactionsReplicateNothing(protocolVersion: Int) throws {
        let server = try RedisTestServer()
        let a = try server.connect(protocolVersion: protocolVersion)
        var t = QueuedTransaction()
        t.queue(words(["SET", "k", "mine"]), replication: .asIs)

        // A WATCHed key changed by another client: EXEC answers null.
        _ = try a.value(["WATCH", "k"])
        _ = try server.connect().value(["SET", "k", "theirs"])
        let watched = try Self.exec(t, on: a)
        #expect(watched == (protocolVersion == 3 ? .null : .array(nil)))
        #expect(t.replicationFrame(execReply: watched) == nil)

        // A command the server rejected at queue time: EXECABORT.
        t.queue(words(["GET"]), replication: .dropped)
        let aborted = try Self.exec(t, on: a)
        #expect(aborted == .error(QueuedTransaction.execAbortError))
        #expect(t.replicationFrame(execReply: aborted) == nil)
        #expect(try a.value(["GET", "k"]) == .bulk(Array("theirs".utf8)))
    }

    /// Each command sent inside MULTI on a real server: queueCheck gives the error Redis gives, and
    /// marks the transaction dirty exactly when Redis then answers EXEC with EXECABORT. Where Redis
    /// queues a command the proxy refuses, the proxy answers Redis's own words for such refusals.
    @Test func queueTimeRulesMatchRedis() throws {
        let server = try RedisTestServer()
        let table = CommandTable.builtin
        let proxyRefused: Set<String> = ["SELECT 1", "AUTH default pw", "CLIENT SETNAME n", "HELLO 3", "CLIENT ID",
                                         "SUBSCRIBE ch", "PSUBSCRIBE c*", "WAIT 0 0", "READONLY"]
        let commands = ["SET k v", "GET k", "GET", "SET k", "MULTI", "MULTI x", "WATCH k", "WATCH", "UNWATCH",
                        "SYNC", "PSYNC ? -1", "SHUTDOWN", "SAVE", "CLIENT SETNAME", "CLIENT", "PING", "ECHO hi",
                        "PUBLISH ch m", "BLPOP l 0", "XREAD BLOCK 0 STREAMS s 0", "SPOP s"] + proxyRefused.sorted()
        let notAllowed = try #require(QueuedTransaction.queueCheck(table.lookup("sync"), argumentCount: 1))
        for command in commands {
            let w = command.split(separator: " ").map(String.init)
            let info = w.count > 1 ? table.lookup(w[0], subcommand: w[1]) : table.lookup(w[0])
            var t = QueuedTransaction()
            let refusal = t.checkQueueing(info, argumentCount: w.count)

            let c = try server.connect()
            let frame = [["MULTI"], w, ["SET", "after", "1"], ["EXEC"]].flatMap { respMultibulk(words($0)) }
            let replies = try c.values(frame, replies: 4)
            let redisAborted = replies[3] == .error(QueuedTransaction.execAbortError)
            if case .error(let redisRefusal) = replies[1] {
                #expect(refusal == redisRefusal, "\(command)")
                #expect(t.isDirty == redisAborted, "\(command)")
            } else {
                #expect(replies[1] == .simpleString("QUEUED"), "\(command): \(replies[1])")
                #expect(!redisAborted, "\(command)")
                if proxyRefused.contains(command) {
                    #expect(refusal == notAllowed && t.isDirty, "\(command)")
                } else {
                    #expect(refusal == nil && !t.isDirty, "\(command): \(refusal ?? "")")
                }
            }
        }
        #expect(notAllowed == "ERR Command not allowed inside a transaction")
    }
}
