import Foundation
import Testing
@testable import RedisProtocol

private func words(_ text: String) -> [[UInt8]] { text.split(separator: " ").map { Array($0.utf8) } }
private func frame(_ text: String) -> [UInt8] { DeterministicRewrite.encode(words(text)) }
private func bulk(_ s: String) -> RESPValue { .bulk(Array(s.utf8)) }

@Suite struct QueuedTransactionTests {
    static func sample() -> QueuedTransaction {
        var t = QueuedTransaction()
        t.queue(words("SET k v"), replication: .asIs)
        t.queue(words("GET k"), replication: .dropped)
        t.queue(words("SPOP s"), replication: .decided(.spop))
        t.queue(words("XADD st * f v"), replication: .decided(.xaddAutoID))
        t.queue(rewritten: frame("PEXPIREAT k 1700000000000"))
        return t
    }

    @Test func execFrameWrapsTheQueuedCommandsInMultiExec() {
        let t = Self.sample()
        #expect(t.count == 5)
        #expect(!t.isDirty)
        #expect(t.execFrame() == frame("MULTI") + frame("SET k v") + frame("GET k") + frame("SPOP s")
            + frame("XADD st * f v") + frame("PEXPIREAT k 1700000000000") + frame("EXEC"))
        #expect(QueuedTransaction().execFrame() == frame("MULTI") + frame("EXEC"))
    }

    @Test func replicationKeepsWritesAndEffectsAndSkipsReadsAndErrors() throws {
        let t = Self.sample()
        let reply = RESPValue.array([.simpleString("OK"), bulk("v"), bulk("m"), bulk("7-1"), .integer(1)])
        let (replicated, commands) = try #require(t.replicationFrame(execReply: reply))
        #expect(commands == 4)
        #expect(replicated == frame("MULTI") + frame("SET k v") + frame("SREM s m") + frame("XADD st 7-1 f v")
            + frame("PEXPIREAT k 1700000000000") + frame("EXEC"))
        // Errors inside EXEC (RESP2 or RESP3) and decisions without effect are skipped.
        let failed = RESPValue.array([.error("ERR x"), bulk("v"), .null, .blobError(Array("ERR y".utf8)), .integer(0)])
        let (onlyExpiry, one) = try #require(t.replicationFrame(execReply: failed))
        #expect(one == 1)
        #expect(onlyExpiry == frame("MULTI") + frame("PEXPIREAT k 1700000000000") + frame("EXEC"))
    }

    @Test func nothingToReplicate() {
        let t = Self.sample()
        // WATCH aborted (RESP2 and RESP3 nulls), EXECABORT, a reply of the wrong length.
        for reply in [RESPValue.array(nil), .null, .error(QueuedTransaction.execAbortError), .array([.simpleString("OK")])] {
            #expect(t.replicationFrame(execReply: reply) == nil, "\(reply)")
        }
        var reads = QueuedTransaction()
        reads.queue(words("GET k"), replication: .dropped)
        reads.queue(words("SPOP s"), replication: .decided(.spop))
        #expect(reads.replicationFrame(execReply: .array([bulk("v"), .bulk(nil)])) == nil)
        #expect(QueuedTransaction().replicationFrame(execReply: .array([])) == nil)
    }

    @Test func queueTimeRulesAndDirtiness() {
        let table = CommandTable.builtin
        func check(_ text: String) -> (String?, Bool) {
            let w = text.split(separator: " ").map(String.init)
            let info = w.count > 1 ? table.lookup(w[0], subcommand: w[1]) : table.lookup(w[0])
            var t = QueuedTransaction()
            let error = t.checkQueueing(info, argumentCount: w.count)
            #expect(error == QueuedTransaction.queueCheck(info, argumentCount: w.count))
            return (error, t.isDirty)
        }
        let notAllowed = "ERR Command not allowed inside a transaction"
        #expect(check("SET k v") == (nil, false))
        #expect(check("GET") == ("ERR wrong number of arguments for 'get' command", true))
        #expect(check("CLIENT SETNAME") == ("ERR wrong number of arguments for 'client|setname' command", true))
        #expect(check("MULTI") == ("ERR MULTI calls can not be nested", false))
        #expect(check("MULTI x") == ("ERR wrong number of arguments for 'multi' command", true))
        #expect(check("WATCH k") == ("ERR WATCH inside MULTI is not allowed", false))
        for refused in ["SYNC", "SHUTDOWN", "SELECT 1", "AUTH pw", "CLIENT SETNAME n", "HELLO 3", "CLIENT ID",
                        "SUBSCRIBE ch", "WAIT 0 0", "READONLY"] {
            #expect(check(refused) == (notAllowed, true), "\(refused)")
        }
        for queued in ["PING", "ECHO x", "PUBLISH ch m", "BLPOP l 0", "XREAD BLOCK 0 STREAMS s 0", "UNWATCH"] {
            #expect(check(queued) == (nil, false), "\(queued)")
        }
        #expect(QueuedTransaction.queueCheck(nil, argumentCount: 3) == nil)
    }
}
