import Foundation
import Testing
@testable import RedisProtocol

private func args(_ words: String...) -> [[UInt8]] { words.map { Array($0.utf8) } }
private func words(_ text: String) -> [[UInt8]] { text.split(separator: " ").map { Array($0.utf8) } }
private func frame(_ text: String) -> [UInt8] { DeterministicRewrite.encode(words(text)) }
private func bulk(_ s: String) -> RESPValue { .bulk(Array(s.utf8)) }
private func effects(_ kind: DeterministicRewrite.Kind, _ command: String, _ reply: RESPValue) -> [[UInt8]] {
    DeterministicRewrite.effects(of: kind, args: words(command), reply: reply)
}

@Suite struct BlockingEffectTests {
    @Test func blockingCommandsHaveAKindAndOthersNone() {
        let kinds: [String: DeterministicRewrite.Kind] = [
            "blpop": .blpop, "brpop": .brpop, "brpoplpush": .brpoplpush, "blmove": .blmove, "blmpop": .blmpop,
            "bzpopmin": .bzpopmin, "bzpopmax": .bzpopmax, "bzmpop": .bzmpop, "xreadgroup": .xreadgroup,
        ]
        for (name, kind) in kinds { #expect(DeterministicRewrite.blockingKind(name) == kind, "\(name)") }
        for name in ["xread", "wait", "waitaof", "lpop", "spop", "xadd"] { #expect(DeterministicRewrite.blockingKind(name) == nil, "\(name)") }
    }

    @Test func listPopsReplicateAsWhatWasTaken() {
        #expect(effects(.blpop, "BLPOP a b 0", .array([bulk("b"), bulk("x")])) == [frame("LPOP b")])
        #expect(effects(.brpop, "BRPOP a b 0", .array([bulk("a"), bulk("x")])) == [frame("RPOP a")])
        #expect(effects(.brpoplpush, "BRPOPLPUSH s d 0", bulk("x")) == [frame("RPOPLPUSH s d")])
        #expect(effects(.blmove, "BLMOVE s d RIGHT LEFT 0", bulk("x")) == [frame("LMOVE s d RIGHT LEFT")])
        #expect(effects(.blmpop, "BLMPOP 0 2 a b RIGHT COUNT 5", .array([bulk("b"), .array([bulk("x"), bulk("y")])]))
            == [frame("RPOP b 2")])
        #expect(effects(.blmpop, "BLMPOP 0 1 a left", .array([bulk("a"), .array([bulk("x")])])) == [frame("LPOP a 1")])
        // The single-command form is the same bytes.
        #expect(DeterministicRewrite.effect(of: .blpop, args: words("BLPOP a 0"), reply: .array([bulk("a"), bulk("x")]))
            == frame("LPOP a"))
    }

    @Test func sortedSetPopsReplicateAsZremInBothProtocols() {
        #expect(effects(.bzpopmin, "BZPOPMIN z 0", .array([bulk("z"), bulk("m"), bulk("1.5")])) == [frame("ZREM z m")])
        #expect(effects(.bzpopmax, "BZPOPMAX y z 0", .array([bulk("z"), bulk("m"), .double("2")])) == [frame("ZREM z m")])
        let resp2 = RESPValue.array([bulk("z"), .array([.array([bulk("a"), bulk("1")]), .array([bulk("b"), bulk("2")])])])
        let resp3 = RESPValue.array([bulk("z"), .array([.array([bulk("a"), .double("1")]), .array([bulk("b"), .double("2")])])])
        for reply in [resp2, resp3] {
            #expect(effects(.bzmpop, "BZMPOP 0 1 z MIN COUNT 2", reply) == [frame("ZREM z a b")])
        }
    }

    @Test func timeoutsErrorsAndOddRepliesHaveNoEffect() {
        let kinds: [(DeterministicRewrite.Kind, String)] = [
            (.blpop, "BLPOP a 0"), (.brpop, "BRPOP a 0"), (.brpoplpush, "BRPOPLPUSH s d 0"), (.blmove, "BLMOVE s d LEFT LEFT 0"),
            (.blmpop, "BLMPOP 0 1 a LEFT"), (.bzpopmin, "BZPOPMIN z 0"), (.bzpopmax, "BZPOPMAX z 0"),
            (.bzmpop, "BZMPOP 0 1 z MIN"), (.xreadgroup, "XREADGROUP GROUP g c BLOCK 0 STREAMS s >"),
        ]
        for (kind, command) in kinds {
            for reply in [RESPValue.array(nil), .bulk(nil), .null, .error("WRONGTYPE x"), .integer(1), .array([])] {
                #expect(effects(kind, command, reply).isEmpty, "\(command) \(reply)")
                #expect(DeterministicRewrite.effect(of: kind, args: words(command), reply: reply) == nil)
            }
        }
        // A BLMPOP whose direction cannot be read is not guessed.
        #expect(effects(.blmpop, "BLMPOP 0 3 a LEFT", .array([bulk("a"), .array([bulk("x")])])).isEmpty)
    }

    static func entry(_ id: String, _ fields: String...) -> RESPValue {
        .array([bulk(id), .array(fields.map(bulk))])
    }

    @Test func xreadgroupClaimsWhatItDeliveredPerStream() {
        let command = "XREADGROUP GROUP g c COUNT 2 BLOCK 0 STREAMS s t > >"
        let s = RESPValue.array([Self.entry("1-0", "f", "v"), Self.entry("2-0", "f", "w")])
        let t = RESPValue.array([Self.entry("5-1", "f", "v")])
        let expected = [
            frame("XCLAIM s g c 0 1-0 2-0 RETRYCOUNT 1 FORCE JUSTID LASTID 2-0"),
            frame("XCLAIM t g c 0 5-1 RETRYCOUNT 1 FORCE JUSTID LASTID 5-1"),
        ]
        let resp2 = RESPValue.array([.array([bulk("s"), s]), .array([bulk("t"), t])])
        let resp3 = RESPValue.map([RESPValuePair(bulk("s"), s), RESPValuePair(bulk("t"), t)])
        #expect(effects(.xreadgroup, command, resp2) == expected)
        #expect(effects(.xreadgroup, command, resp3) == expected)
        // Only one stream had entries: the reply names it, the other gets nothing.
        #expect(effects(.xreadgroup, command, .map([RESPValuePair(bulk("t"), t)])) == [expected[1]])
        // effect joins several commands into one buffer.
        #expect(DeterministicRewrite.effect(of: .xreadgroup, args: words(command), reply: resp2) == expected[0] + expected[1])
    }

    @Test func xreadgroupNoackMovesTheGroupAndHistoryBumpsDeliveryCounts() {
        let noack = effects(.xreadgroup, "XREADGROUP GROUP g c NOACK STREAMS s >",
                            .array([.array([bulk("s"), .array([Self.entry("1-0", "f", "v"), Self.entry("3-0", "f", "v")])])]))
        #expect(noack == [frame("XGROUP CREATECONSUMER s g c"), frame("XGROUP SETID s g 3-0")])
        // History: an entry deleted since comes back with null fields and is left alone.
        let history = RESPValue.array([.array([bulk("s"), .array([
            Self.entry("1-0", "f", "v"), .array([bulk("2-0"), .array(nil)]), Self.entry("3-0", "f", "v"),
        ])])])
        #expect(effects(.xreadgroup, "XREADGROUP GROUP g c STREAMS s 0", history) == [frame("XCLAIM s g c 0 1-0 3-0")])
        // An empty history (RESP3: the stream with no entries) and a null one change nothing.
        #expect(effects(.xreadgroup, "XREADGROUP GROUP g c STREAMS s 0", .map([RESPValuePair(bulk("s"), .array([]))])).isEmpty)
        #expect(effects(.xreadgroup, "XREADGROUP GROUP g c STREAMS s 0", .array([.array([bulk("s"), .array([.array([bulk("2-0"), .null])])])])).isEmpty)
        // Options in any order; the same stream named twice is matched in order.
        let twice = effects(.xreadgroup, "XREADGROUP NOACK COUNT 1 GROUP g c STREAMS s s 0 >",
                            .array([.array([bulk("s"), .array([Self.entry("1-0", "f", "v")])]),
                                    .array([bulk("s"), .array([Self.entry("4-0", "f", "v")])])]))
        #expect(twice == [frame("XCLAIM s g c 0 1-0"), frame("XGROUP CREATECONSUMER s g c"), frame("XGROUP SETID s g 4-0")])
        // Malformed arguments are not guessed at.
        #expect(effects(.xreadgroup, "XREADGROUP STREAMS s >", .array([.array([bulk("s"), .array([Self.entry("1-0", "f", "v")])])])).isEmpty)
    }
}
