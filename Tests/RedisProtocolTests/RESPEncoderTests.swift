import Testing
import RedisProtocol
import TestSupport

@Suite("RESPEncoder")
struct RESPEncoderTests {
    func encode(_ build: (inout [UInt8]) -> Void) -> [UInt8] {
        var out: [UInt8] = []
        build(&out)
        return out
    }

    func decode(_ bytes: [UInt8]) throws -> RESPValue {
        let (value, length) = try RESPValue.parse(bytes)
        #expect(length == bytes.count)
        return value
    }

    @Test func simpleStringAndErrorLines() throws {
        #expect(encode { RESPEncoder.simpleString("OK", into: &$0) } == respBytes("+OK\r\n"))
        #expect(encode { RESPEncoder.error("ERR unknown command 'FOO'", into: &$0) } == respBytes("-ERR unknown command 'FOO'\r\n"))
        #expect(try decode(encode { RESPEncoder.error("WRONGTYPE x", into: &$0) }) == .error("WRONGTYPE x"))
        // CR and LF would end the line early; they become spaces, as Redis does.
        #expect(encode { RESPEncoder.error("ERR bad\r\nthing\n", into: &$0) } == respBytes("-ERR bad  thing \r\n"))
        #expect(encode { RESPEncoder.simpleString("a\rb", into: &$0) } == respBytes("+a b\r\n"))
    }

    @Test func integersIncludingExtremes() throws {
        for v in [0, 7, 9, 10, -1, -10, 1_234_567_890, Int.max, Int.min] {
            let bytes = encode { RESPEncoder.integer(v, into: &$0) }
            #expect(bytes == respBytes(":\(v)\r\n"))
            #expect(try decode(bytes) == .integer(v))
        }
    }

    @Test func appendDecimalMatchesTheStandardLibrary() {
        var rng = SplitMix(state: 31)
        for _ in 0 ..< 10_000 {
            let v = Bool.random(using: &rng) ? Int.random(in: -1000 ... 1000, using: &rng) : Int.random(in: Int.min ... Int.max, using: &rng)
            var out: [UInt8] = [UInt8(ascii: "x")]
            RESPEncoder.appendDecimal(v, into: &out)
            #expect(out == respBytes("x\(v)"))
        }
    }

    @Test func bulkStringsAreBinarySafe() throws {
        let payload = (0 ... 255).map { UInt8($0) } + respBytes("\r\n")
        let bytes = encode { RESPEncoder.bulk(payload, into: &$0) }
        #expect(bytes == respBytes("$258\r\n") + payload + respBytes("\r\n"))
        #expect(try decode(bytes) == .bulk(payload))
        #expect(encode { RESPEncoder.bulk("", into: &$0) } == respBytes("$0\r\n\r\n"))
        #expect(encode { RESPEncoder.bulk("caf\u{E9}", into: &$0) } == respBytes("$5\r\ncaf\u{E9}\r\n"))
        #expect(encode { RESPEncoder.bulk(payload[1 ..< 3], into: &$0) } == [UInt8(ascii: "$"), UInt8(ascii: "2"), 13, 10, 1, 2, 13, 10])
    }

    @Test func nullDependsOnTheProtocol() throws {
        #expect(encode { RESPEncoder.null(protocolVersion: 2, into: &$0) } == respBytes("$-1\r\n"))
        #expect(encode { RESPEncoder.null(protocolVersion: 3, into: &$0) } == respBytes("_\r\n"))
        #expect(try decode(encode { RESPEncoder.null(protocolVersion: 2, into: &$0) }) == .bulk(nil))
        #expect(try decode(encode { RESPEncoder.null(protocolVersion: 3, into: &$0) }) == .null)
    }

    @Test func aggregatesComposeIntoFramableReplies() throws {
        func reply(_ protocolVersion: Int) -> [UInt8] {
            encode { out in
                RESPEncoder.mapHeader(2, protocolVersion: protocolVersion, into: &out)
                RESPEncoder.bulk("clusters", into: &out)
                RESPEncoder.arrayHeader(2, into: &out)
                RESPEncoder.bulk("east", into: &out)
                RESPEncoder.null(protocolVersion: protocolVersion, into: &out)
                RESPEncoder.bulk("lag", into: &out)
                RESPEncoder.integer(-3, into: &out)
            }
        }
        let resp3 = reply(3)
        #expect(resp3.starts(with: respBytes("%2\r\n")))
        #expect(try decode(resp3) == .map([
            RESPValuePair(.bulk(respBytes("clusters")), .array([.bulk(respBytes("east")), .null])),
            RESPValuePair(.bulk(respBytes("lag")), .integer(-3)),
        ]))
        let resp2 = reply(2)
        #expect(resp2.starts(with: respBytes("*4\r\n")))
        #expect(try decode(resp2) == .array([
            .bulk(respBytes("clusters")), .array([.bulk(respBytes("east")), .bulk(nil)]),
            .bulk(respBytes("lag")), .integer(-3),
        ]))
        #expect(encode { RESPEncoder.arrayHeader(0, into: &$0) } == respBytes("*0\r\n"))
        #expect(encode { RESPEncoder.mapHeader(0, protocolVersion: 3, into: &$0) } == respBytes("%0\r\n"))
    }

    @Test func commandsParseBackToTheirArguments() {
        let args = ["SET", "key with space", "", "caf\u{E9}", "line\r\nbreak"]
        let bytes = encode { RESPEncoder.command(args, into: &$0) }
        #expect(bytes == respBytes("*5\r\n$3\r\nSET\r\n$14\r\nkey with space\r\n$0\r\n\r\n$5\r\ncaf\u{E9}\r\n$11\r\nline\r\nbreak\r\n"))
        let (result, parsed) = respParseRequest(bytes)
        #expect(result == .request(length: bytes.count))
        #expect(parsed == args.map { Array($0.utf8) })
    }

    @Test func encodersAppendToWhatIsThere() {
        var out = respBytes("+OK\r\n")
        RESPEncoder.integer(1, into: &out)
        RESPEncoder.simpleString("PONG", into: &out)
        #expect(out == respBytes("+OK\r\n:1\r\n+PONG\r\n"))
    }

    @Test func protocolErrorReplyText() {
        let error = RESPProtocolError("invalid bulk length")
        #expect(error.replyText == "ERR Protocol error: invalid bulk length")
        var out: [UInt8] = []
        RESPEncoder.error(error.replyText, into: &out)
        #expect(out == respBytes("-ERR Protocol error: invalid bulk length\r\n"))
    }
}
