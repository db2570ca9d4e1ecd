import Testing
@testable import RedisProtocol

private func args(_ words: String...) -> [[UInt8]] { words.map { Array($0.utf8) } }
private func frame(_ words: String...) -> [UInt8] { DeterministicRewrite.encode(words.map { Array($0.utf8) }) }
private let now: Int64 = 1_700_000_000_000

@Suite struct DeterministicRewriteTests {
    @Test func relativeExpiriesBecomeAbsoluteInstants() {
        #expect(DeterministicRewrite.plan("expire", args("EXPIRE", "k", "10"), nowMs: now)
            == .rewritten(frame("PEXPIREAT", "k", "1700000010000")))
        #expect(DeterministicRewrite.plan("expire", args("EXPIRE", "k", "10", "NX"), nowMs: now)
            == .rewritten(frame("PEXPIREAT", "k", "1700000010000", "NX")))
        #expect(DeterministicRewrite.plan("pexpire", args("PEXPIRE", "k", "1500"), nowMs: now)
            == .rewritten(frame("PEXPIREAT", "k", "1700000001500")))
        #expect(DeterministicRewrite.plan("setex", args("SETEX", "k", "5", "v"), nowMs: now)
            == .rewritten(frame("SET", "k", "v", "PXAT", "1700000005000")))
        #expect(DeterministicRewrite.plan("psetex", args("PSETEX", "k", "5", "v"), nowMs: now)
            == .rewritten(frame("SET", "k", "v", "PXAT", "1700000000005")))
        #expect(DeterministicRewrite.plan("set", args("SET", "k", "v", "NX", "ex", "2", "GET"), nowMs: now)
            == .rewritten(frame("SET", "k", "v", "NX", "PXAT", "1700000002000", "GET")))
        #expect(DeterministicRewrite.plan("set", args("SET", "k", "v", "PX", "7"), nowMs: now)
            == .rewritten(frame("SET", "k", "v", "PXAT", "1700000000007")))
        #expect(DeterministicRewrite.plan("getex", args("GETEX", "k", "EX", "3"), nowMs: now)
            == .rewritten(frame("GETEX", "k", "PXAT", "1700000003000")))
        #expect(DeterministicRewrite.plan("restore", args("RESTORE", "k", "100", "blob", "REPLACE"), nowMs: now)
            == .rewritten(frame("RESTORE", "k", "1700000000100", "blob", "REPLACE", "ABSTTL")))
    }

    @Test func absoluteOrInvalidExpiriesAreLeftForRedisToJudge() {
        // Already absolute, no expiry, or invalid (Redis answers the same error on every cluster).
        for a in [args("SET", "k", "v", "PXAT", "5"), args("SET", "k", "v", "KEEPTTL"), args("SET", "k", "v", "EX", "0"),
                  args("SET", "k", "v", "EX", "abc"), args("SET", "k", "v")] {
            #expect(DeterministicRewrite.plan("set", a, nowMs: now) == .asIs)
        }
        #expect(DeterministicRewrite.plan("expire", args("EXPIRE", "k", "x"), nowMs: now) == .asIs)
        #expect(DeterministicRewrite.plan("setex", args("SETEX", "k", "-1", "v"), nowMs: now) == .asIs)
        #expect(DeterministicRewrite.plan("restore", args("RESTORE", "k", "0", "blob"), nowMs: now) == .asIs)
        #expect(DeterministicRewrite.plan("restore", args("RESTORE", "k", "9", "blob", "ABSTTL"), nowMs: now) == .asIs)
        #expect(DeterministicRewrite.plan("expire", args("EXPIRE", "k", "9223372036854775807"), nowMs: now) == .asIs)
    }

    @Test func diceRollsAreDecidedOnceAndTheirEffectReplicated() {
        #expect(DeterministicRewrite.plan("spop", args("SPOP", "s"), nowMs: now) == .decideLocally(.spop))
        #expect(DeterministicRewrite.effect(of: .spop, args: args("SPOP", "s"), reply: .bulk(Array("m".utf8)))
            == frame("SREM", "s", "m"))
        #expect(DeterministicRewrite.effect(
            of: .spop, args: args("SPOP", "s", "2"), reply: .array([.bulk(Array("a".utf8)), .bulk(Array("b".utf8))]))
            == frame("SREM", "s", "a", "b"))
        #expect(DeterministicRewrite.effect(of: .spop, args: args("SPOP", "s", "2"), reply: .set([.bulk(Array("a".utf8))]))
            == frame("SREM", "s", "a"))
        #expect(DeterministicRewrite.effect(of: .spop, args: args("SPOP", "s"), reply: .bulk(nil)) == nil)
        #expect(DeterministicRewrite.effect(of: .spop, args: args("SPOP", "s", "3"), reply: .array([])) == nil)

        let xadd = args("XADD", "st", "NOMKSTREAM", "MAXLEN", "=", "100", "*", "f", "v")
        #expect(DeterministicRewrite.plan("xadd", xadd, nowMs: now) == .decideLocally(.xaddAutoID))
        #expect(DeterministicRewrite.effect(of: .xaddAutoID, args: xadd, reply: .bulk(Array("5-1".utf8)))
            == frame("XADD", "st", "NOMKSTREAM", "MAXLEN", "=", "100", "5-1", "f", "v"))
        #expect(DeterministicRewrite.effect(of: .xaddAutoID, args: xadd, reply: .bulk(nil)) == nil)
        #expect(DeterministicRewrite.plan("xadd", args("XADD", "st", "1-1", "f", "v"), nowMs: now) == .asIs)
    }

    @Test func whatCannotBeMadeDeterministicIsRefused() {
        for (name, a) in [("xadd", args("XADD", "st", "MAXLEN", "~", "10", "*", "f", "v")),
                          ("xtrim", args("XTRIM", "st", "MINID", "~", "5")),
                          ("xtrim", args("XTRIM", "st", "MAXLEN", "10", "LIMIT", "5")),
                          ("xclaim", args("XCLAIM", "st", "g", "c", "10", "1-1")),
                          ("xautoclaim", args("XAUTOCLAIM", "st", "g", "c", "10", "0"))] {
            guard case .refuse(let reason) = DeterministicRewrite.plan(name, a, nowMs: now) else {
                Issue.record("\(name) should be refused")
                continue
            }
            #expect(!reason.isEmpty)
        }
        #expect(DeterministicRewrite.plan("xtrim", args("XTRIM", "st", "MAXLEN", "10"), nowMs: now) == .asIs)
    }
}
