import Testing
@testable import RedisProtocol
import TestSupport

extension ReplyFramer {
    mutating func frameBytes(_ bytes: [UInt8]) -> ReplyFrameResult {
        bytes.withUnsafeBytes { frame($0) }
    }
}

/// Same properties as `respCheckRequestPrefixes`, for replies.
func respCheckReplyPrefixes(_ input: [UInt8], framer: ReplyFramer = ReplyFramer(), sourceLocation: SourceLocation = #_sourceLocation) {
    var framer = framer
    let full = framer.frameBytes(input)
    var frameLength: Int?
    switch full {
    case .reply(let length, _):
        frameLength = length
        #expect(length > 0 && length <= input.count, sourceLocation: sourceLocation)
        #expect(framer.frameBytes(Array(input[0 ..< length])) == full, sourceLocation: sourceLocation)
        #expect(framer.frameBytes(Array(input[0 ..< length]) + respBytes("+OK\r\n")) == full, sourceLocation: sourceLocation)
    case .incomplete(let atLeast):
        #expect(atLeast > input.count, sourceLocation: sourceLocation)
    case .invalid:
        break
    }
    for cut in 0 ..< (frameLength ?? input.count) {
        let result = framer.frameBytes(Array(input[0 ..< cut]))
        switch result {
        case .incomplete(let atLeast):
            #expect(atLeast > cut, "bound \(atLeast) not past cut \(cut)", sourceLocation: sourceLocation)
            if let frameLength {
                #expect(atLeast <= frameLength, "bound \(atLeast) beyond reply \(frameLength) at cut \(cut)", sourceLocation: sourceLocation)
            }
        case .invalid:
            #expect(result == full, "prefix of \(cut) bytes gave \(result), whole input \(full)", sourceLocation: sourceLocation)
        case .reply:
            Issue.record("prefix of \(cut) bytes gave \(result)", sourceLocation: sourceLocation)
        }
    }
}

/// Replays `stream` as a backend connection does, calling `frame` only once the buffer holds the
/// promised `atLeast`. Returns each reply's bytes and type, and the number of `frame` calls.
func respDrainReplies(_ stream: [UInt8], chunk: Int, framer: ReplyFramer = ReplyFramer()) -> (replies: [([UInt8], UInt8)], calls: Int, error: String?) {
    var framer = framer
    var buffer: [UInt8] = []
    var replies: [([UInt8], UInt8)] = []
    var offset = 0, wanted = 1, calls = 0
    while true {
        if buffer.count < wanted {
            guard offset < stream.count else { return (replies, calls, nil) }
            let next = min(stream.count, offset + chunk)
            buffer.append(contentsOf: stream[offset ..< next])
            offset = next
            continue
        }
        calls += 1
        switch framer.frameBytes(buffer) {
        case .reply(let length, let type):
            replies.append((Array(buffer[0 ..< length]), type))
            buffer.removeFirst(length)
            wanted = 1
        case .incomplete(let atLeast):
            wanted = atLeast
        case .invalid(let why):
            return (replies, calls, why)
        }
    }
}

struct RESPSample: Sendable, CustomTestStringConvertible {
    var text: String
    var type: Character
    var value: RESPValue
    /// False where `value.encoded` is a different spelling (streamed types).
    var roundTrips = true

    var bytes: [UInt8] { respBytes(text) }
    var testDescription: String { text.debugDescription }
}

@Suite("ReplyFramer")
struct ReplyFramerTests {
    static let samples: [RESPSample] = [
        RESPSample(text: "+OK\r\n", type: "+", value: .simpleString("OK")),
        RESPSample(text: "+\r\n", type: "+", value: .simpleString("")),
        RESPSample(text: "-ERR unknown command 'x'\r\n", type: "-", value: .error("ERR unknown command 'x'")),
        RESPSample(text: ":0\r\n", type: ":", value: .integer(0)),
        RESPSample(text: ":-9223372036854775808\r\n", type: ":", value: .integer(Int.min)),
        RESPSample(text: ":9223372036854775807\r\n", type: ":", value: .integer(Int.max)),
        RESPSample(text: "$3\r\nfoo\r\n", type: "$", value: .bulk(respBytes("foo"))),
        RESPSample(text: "$0\r\n\r\n", type: "$", value: .bulk([])),
        RESPSample(text: "$4\r\n\r\n\r\n\r\n", type: "$", value: .bulk(respBytes("\r\n\r\n"))),
        RESPSample(text: "$-1\r\n", type: "$", value: .bulk(nil)),
        RESPSample(text: "*-1\r\n", type: "*", value: .array(nil)),
        RESPSample(text: "*0\r\n", type: "*", value: .array([])),
        RESPSample(text: "*3\r\n:1\r\n$-1\r\n*2\r\n+a\r\n-b\r\n", type: "*",
                   value: .array([.integer(1), .bulk(nil), .array([.simpleString("a"), .error("b")])])),
        RESPSample(text: "_\r\n", type: "_", value: .null),
        RESPSample(text: ",3.14\r\n", type: ",", value: .double("3.14")),
        RESPSample(text: ",-inf\r\n", type: ",", value: .double("-inf")),
        RESPSample(text: ",1.5e-10\r\n", type: ",", value: .double("1.5e-10")),
        RESPSample(text: "#t\r\n", type: "#", value: .boolean(true)),
        RESPSample(text: "#f\r\n", type: "#", value: .boolean(false)),
        RESPSample(text: "!21\r\nSYNTAX invalid syntax\r\n", type: "!", value: .blobError(respBytes("SYNTAX invalid syntax"))),
        RESPSample(text: "=15\r\ntxt:Some string\r\n", type: "=", value: .verbatim(format: "txt", respBytes("Some string"))),
        RESPSample(text: "=4\r\nmkd:\r\n", type: "=", value: .verbatim(format: "mkd", [])),
        RESPSample(text: "(3492890328409238509324850943850943825024385\r\n", type: "(",
                   value: .bigNumber("3492890328409238509324850943850943825024385")),
        RESPSample(text: "(-1\r\n", type: "(", value: .bigNumber("-1")),
        RESPSample(text: "%2\r\n+first\r\n:1\r\n+second\r\n:2\r\n", type: "%",
                   value: .map([RESPValuePair(.simpleString("first"), .integer(1)), RESPValuePair(.simpleString("second"), .integer(2))])),
        RESPSample(text: "%0\r\n", type: "%", value: .map([])),
        RESPSample(text: "~3\r\n+a\r\n+b\r\n:1\r\n", type: "~", value: .set([.simpleString("a"), .simpleString("b"), .integer(1)])),
        RESPSample(text: ">3\r\n$7\r\nmessage\r\n$4\r\nchan\r\n$5\r\nhello\r\n", type: ">",
                   value: .push([.bulk(respBytes("message")), .bulk(respBytes("chan")), .bulk(respBytes("hello"))])),
        RESPSample(text: "|1\r\n+key-popularity\r\n%2\r\n$1\r\na\r\n,0.1923\r\n$1\r\nb\r\n,0.0012\r\n*2\r\n:2039123\r\n:9543892\r\n", type: "*",
                   value: .attribute(
                       [RESPValuePair(.simpleString("key-popularity"), .map([
                           RESPValuePair(.bulk(respBytes("a")), .double("0.1923")),
                           RESPValuePair(.bulk(respBytes("b")), .double("0.0012")),
                       ]))],
                       .array([.integer(2_039_123), .integer(9_543_892)]))),
        RESPSample(text: "|0\r\n|1\r\n+a\r\n+b\r\n>1\r\n+x\r\n", type: ">",
                   value: .attribute([], .attribute([RESPValuePair(.simpleString("a"), .simpleString("b"))], .push([.simpleString("x")])))),
        RESPSample(text: "*2\r\n|1\r\n+ttl\r\n:3600\r\n+v\r\n:1\r\n", type: "*",
                   value: .array([.attribute([RESPValuePair(.simpleString("ttl"), .integer(3600))], .simpleString("v")), .integer(1)])),
        RESPSample(text: "$?\r\n;4\r\nHell\r\n;5\r\no wor\r\n;1\r\nd\r\n;0\r\n", type: "$", value: .bulk(respBytes("Hello word")), roundTrips: false),
        RESPSample(text: "$?\r\n;0\r\n", type: "$", value: .bulk([]), roundTrips: false),
        RESPSample(text: "*?\r\n:1\r\n:2\r\n.\r\n", type: "*", value: .array([.integer(1), .integer(2)]), roundTrips: false),
        RESPSample(text: "*?\r\n.\r\n", type: "*", value: .array([]), roundTrips: false),
        RESPSample(text: "~?\r\n+a\r\n.\r\n", type: "~", value: .set([.simpleString("a")]), roundTrips: false),
        RESPSample(text: "%?\r\n+a\r\n:1\r\n.\r\n", type: "%", value: .map([RESPValuePair(.simpleString("a"), .integer(1))]), roundTrips: false),
        RESPSample(text: "*2\r\n*?\r\n*?\r\n.\r\n$?\r\n;1\r\nx\r\n;0\r\n.\r\n:7\r\n", type: "*",
                   value: .array([.array([.array([]), .bulk(respBytes("x"))]), .integer(7)]), roundTrips: false),
    ]

    @Test(arguments: samples)
    func framesAndDecodesEveryType(sample: RESPSample) throws {
        let bytes = sample.bytes
        var framer = ReplyFramer()
        #expect(framer.frameBytes(bytes) == .reply(length: bytes.count, type: UInt8(ascii: sample.type.unicodeScalars.first!)))
        let (value, length) = try RESPValue.parse(bytes)
        #expect(value == sample.value)
        #expect(length == bytes.count)
        if sample.roundTrips {
            #expect(sample.value.encoded == bytes)
        }
    }

    @Test(arguments: samples)
    func everyCutIsIncompleteThenTheSameReply(sample: RESPSample) {
        respCheckReplyPrefixes(sample.bytes)
    }

    @Test func pipelineOfEveryTypeInOneBufferAndInChunks() throws {
        var stream: [UInt8] = []
        var expected: [RESPValue] = []
        var rng = SplitMix(state: 42)
        for _ in 0 ..< 20 {
            for sample in Self.samples.shuffled(using: &rng) {
                stream += sample.bytes
                expected.append(sample.value)
            }
        }
        for chunk in [1, 2, 7, 64, stream.count] {
            let drained = respDrainReplies(stream, chunk: chunk)
            #expect(drained.error == nil)
            let values = try drained.replies.map { try RESPValue.parse($0.0).0 }
            #expect(values == expected, "chunk \(chunk)")
        }
    }

    @Test func binaryBulkWithEveryByteValue() throws {
        let payload = (0 ... 255).map { UInt8($0) } + respBytes("\r\n$-1\r\n*1\r\n") + (0 ... 255).map { UInt8(255 - $0) }
        var bytes: [UInt8] = []
        RESPValue.array([.bulk(payload), .blobError(payload), .verbatim(format: "txt", payload)]).encode(into: &bytes)
        var framer = ReplyFramer()
        #expect(framer.frameBytes(bytes) == .reply(length: bytes.count, type: RESPType.array))
        #expect(try RESPValue.parse(bytes).0 == .array([.bulk(payload), .blobError(payload), .verbatim(format: "txt", payload)]))
        respCheckReplyPrefixes(bytes)
    }

    /// Shaped like a `COMMAND DOCS` reply: maps of arrays of maps, 14 levels deep.
    static func commandDocsLike(depth: Int) -> RESPValue {
        if depth == 0 { return .bulk(respBytes("key")) }
        let inner = commandDocsLike(depth: depth - 1)
        if depth % 2 == 0 {
            return .map([RESPValuePair(.bulk(respBytes("summary")), .bulk(respBytes("level \(depth)"))),
                         RESPValuePair(.bulk(respBytes("arguments")), inner)])
        }
        return .array([inner, .integer(depth)])
    }

    @Test func deeplyNestedRepliesLikeCommandDocs() throws {
        for depth in [12, 14] {
            let value = Self.commandDocsLike(depth: depth)
            let bytes = value.encoded
            var framer = ReplyFramer()
            #expect(framer.frameBytes(bytes) == .reply(length: bytes.count, type: depth % 2 == 0 ? RESPType.map : RESPType.array))
            #expect(try RESPValue.parse(bytes).0 == value)
            respCheckReplyPrefixes(bytes)
            // RESP2 spelling of the same reply (maps as flat arrays).
            let resp2 = respReplacingPercentMaps(bytes)
            #expect(framer.frameBytes(resp2) == .reply(length: resp2.count, type: RESPType.array))
        }
    }

    @Test func depthLimit() {
        func nested(_ depth: Int, open: String = "*1\r\n") -> [UInt8] {
            respBytes(String(repeating: open, count: depth) + ":1\r\n")
        }
        var framer = ReplyFramer()
        #expect(framer.frameBytes(nested(512)) == .reply(length: 512 * 4 + 4, type: RESPType.array))
        #expect(framer.frameBytes(nested(513)) == .invalid("nesting deeper than 512 at offset 2048"))
        var shallow = ReplyFramer(maxDepth: 3)
        #expect(shallow.frameBytes(nested(3)) == .reply(length: 16, type: RESPType.array))
        #expect(shallow.frameBytes(nested(4)) == .invalid("nesting deeper than 3 at offset 12"))
        #expect(shallow.frameBytes(nested(3, open: "%1\r\n+k\r\n")) == .reply(length: 28, type: RESPType.map))
        // An attribute is an aggregate too.
        #expect(shallow.frameBytes(respBytes("*1\r\n*1\r\n|1\r\n|1\r\n+a\r\n+b\r\n+c\r\n+d\r\n+v\r\n")) == .invalid("nesting deeper than 3 at offset 12"))
        // Scalars and empty aggregates do not nest.
        #expect(shallow.frameBytes(nested(3, open: "*2\r\n*0\r\n")) == .reply(length: 28, type: RESPType.array))
    }

    static let malformed: [(String, String)] = [
        ("?x\r\n", "unexpected byte 0x3f at offset 0"),
        ("*2\r\n:1\r\n@\r\n", "unexpected byte 0x40 at offset 8"),
        ("\r\n", "unexpected byte 0x0d at offset 0"),
        ("*1\r\n.\r\n", "unexpected byte 0x2e at offset 4"),
        (".\r\n", "unexpected byte 0x2e at offset 0"),
        (";3\r\nabc\r\n", "unexpected byte 0x3b at offset 0"),
        ("$3\r\nfooXY", "missing CRLF after bulk data at offset 7"),
        ("$3\r\nfoo\rX", "missing CRLF after bulk data at offset 7"),
        ("*2\r\n$1\r\nab\r\n", "missing CRLF after bulk data at offset 9"),
        ("$-2\r\n", "bulk length -2 out of range at offset 0"),
        ("!-1\r\n", "bulk length -1 out of range at offset 0"),
        ("$2147483648\r\n", "bulk length 2147483648 out of range at offset 0"),
        ("$abc\r\n", "invalid bulk length at offset 0"),
        ("$01\r\nx\r\n", "invalid bulk length at offset 0"),
        ("$+1\r\nx\r\n", "invalid bulk length at offset 0"),
        ("$1\rX", "invalid bulk length at offset 0"),
        ("$123456789012345678901\r\n", "invalid bulk length at offset 0"),
        ("*-2\r\n", "aggregate length -2 out of range at offset 0"),
        ("%-1\r\n", "aggregate length -1 out of range at offset 0"),
        ("~-1\r\n", "aggregate length -1 out of range at offset 0"),
        (">-1\r\n", "aggregate length -1 out of range at offset 0"),
        ("*1 \r\n", "invalid aggregate length at offset 0"),
        ("*2\r\n*x\r\n", "invalid aggregate length at offset 4"),
        ("%4611686018427387904\r\n", "aggregate length 4611686018427387904 out of range at offset 0"),
        ("=2\r\nab\r\n", "verbatim string without its format prefix at offset 0"),
        ("=5\r\nabcde\r\n", "verbatim string without its format prefix at offset 0"),
        ("$?\r\n;3\r\nabc\r\n+x\r\n", "expected ';' in streamed string at offset 13"),
        ("$?X\r\n", "invalid streamed string header at offset 0"),
        ("$?\r\n;-1\r\n", "chunk length -1 out of range at offset 4"),
        ("$?\r\n;2\r\nabc\r\n", "missing CRLF after chunk data at offset 10"),
        ("*?X\r\n", "invalid streamed aggregate header at offset 0"),
        ("*?\r\n.X\r\n", "invalid stream end at offset 4"),
    ]

    @Test(arguments: malformed)
    func malformedRepliesAreRefused(input: String, message: String) {
        var framer = ReplyFramer()
        #expect(framer.frameBytes(respBytes(input)) == .invalid(message))
        respCheckReplyPrefixes(respBytes(input))
    }

    @Test func maxBulkBytesIsEnforcedFromTheHeader() {
        var framer = ReplyFramer(maxBulkBytes: 10)
        #expect(framer.frameBytes(respBytes("$10\r\n")) == .incomplete(atLeast: 17))
        #expect(framer.frameBytes(respBytes("$11\r\n")) == .invalid("bulk length 11 out of range at offset 0"))
        #expect(framer.frameBytes(respBytes("=11\r\n")) == .invalid("bulk length 11 out of range at offset 0"))
        #expect(framer.frameBytes(respBytes("$?\r\n;11\r\n")) == .invalid("chunk length 11 out of range at offset 4"))
    }

    @Test func hostileDeclaredSizesSaturateInsteadOfTrapping() {
        var framer = ReplyFramer(maxBulkBytes: Int.max)
        #expect(framer.frameBytes(respBytes("$9223372036854775807\r\nab")) == .incomplete(atLeast: Int.max))
        #expect(framer.frameBytes(respBytes("*9223372036854775807\r\n*9223372036854775807\r\n")) == .incomplete(atLeast: Int.max))
        #expect(framer.frameBytes(respBytes("%4611686018427387903\r\n")) == .incomplete(atLeast: Int.max))
    }

    @Test func incompleteBoundSkipsLargeBulksAndCountsOwedValues() {
        var framer = ReplyFramer()
        #expect(framer.frameBytes(respBytes("$1000000\r\n")) == .incomplete(atLeast: 10 + 1_000_002))
        #expect(framer.frameBytes(respBytes("*2\r\n$1000000\r\nabc")) == .incomplete(atLeast: 14 + 1_000_002 + 3))
        #expect(framer.frameBytes(respBytes("*1000\r\n")) == .incomplete(atLeast: 7 + 3 * 1000))
        #expect(framer.frameBytes(respBytes("%2\r\n*3\r\n:1\r\n")) == .incomplete(atLeast: 12 + 3 * 2 + 3 * 3))
        #expect(framer.frameBytes(respBytes("*2\r\n|1\r\n+a\r\n")) == .incomplete(atLeast: 12 + 3 + 3 + 3))
        // A long LRANGE-like reply arriving in small reads is framed in few calls.
        let value = RESPValue.array((0 ..< 30_000).map { .bulk(respBytes("item:\($0 % 1000)")) })
        let drained = respDrainReplies(value.encoded, chunk: 1024)
        #expect(drained.replies.count == 1)
        #expect(drained.calls < 40, "frame ran \(drained.calls) times")
    }

    @Test func decodingChecksScalarContents() {
        for (text, why) in [(":abc\r\n", "invalid integer at offset 0"), ("#x\r\n", "invalid boolean at offset 0"),
                            ("_x\r\n", "null with content at offset 0"), ("(12a\r\n", "invalid big number at offset 0"),
                            (",\r\n", "empty double at offset 0"), ("*2\r\n:1\r\n:01\r\n", "invalid integer at offset 8"),
                            ("%?\r\n+a\r\n.\r\n", "map without a value for its last key at offset 0")] {
            #expect(throws: RESPValueParseError.invalid(why)) { try RESPValue.parse(respBytes(text)) }
        }
        #expect(throws: RESPValueParseError.incomplete(atLeast: 9)) { try RESPValue.parse(respBytes("$3\r\nfo")) }
        #expect(throws: RESPValueParseError.invalid("unexpected byte 0x3f at offset 0")) { try RESPValue.parse(respBytes("?\r\n")) }
    }

    @Test func stackStorageIsReused() {
        var framer = ReplyFramer()
        let deep = Self.commandDocsLike(depth: 14).encoded
        #expect(framer.frameBytes(deep) == .reply(length: deep.count, type: RESPType.map))
        let capacity = framer.stack.capacity
        #expect(capacity >= 14)
        #expect(framer.frameBytes(respBytes("*1\r\n*1\r\n:1\r\n")) == .reply(length: 12, type: RESPType.array))
        #expect(framer.stack.capacity == capacity)
    }

    @Test func mutatedRepliesKeepThePrefixProperties() {
        var rng = SplitMix(state: 0x5EED)
        let alphabet = respBytes("*$%|~>.;?_:+-\r\n0123456789") + [0, 0xff]
        let framer = ReplyFramer(maxDepth: 6, maxBulkBytes: 100)
        for _ in 0 ..< 2000 {
            var bytes = Self.samples.randomElement(using: &rng)!.bytes
            for _ in 0 ..< Int.random(in: 1 ... 3, using: &rng) {
                let at = Int.random(in: 0 ... bytes.count, using: &rng)
                switch Int.random(in: 0 ..< 3, using: &rng) {
                case 0 where at < bytes.count: bytes[at] = alphabet.randomElement(using: &rng)!
                case 1 where at < bytes.count: bytes.remove(at: at)
                default: bytes.insert(alphabet.randomElement(using: &rng)!, at: at)
                }
            }
            respCheckReplyPrefixes(bytes, framer: framer)
        }
    }
}

/// Rewrites RESP3 map headers "%n\r\n" as RESP2 "*2n\r\n" (the test data holds no other "%").
func respReplacingPercentMaps(_ bytes: [UInt8]) -> [UInt8] {
    var out: [UInt8] = []
    var i = 0
    while i < bytes.count {
        guard bytes[i] == UInt8(ascii: "%") else {
            out.append(bytes[i])
            i += 1
            continue
        }
        let cr = bytes[i...].firstIndex(of: 13)!
        let pairs = Int(String(decoding: bytes[(i + 1) ..< cr], as: UTF8.self))!
        out += respBytes("*\(pairs * 2)")
        i = cr
    }
    return out
}
