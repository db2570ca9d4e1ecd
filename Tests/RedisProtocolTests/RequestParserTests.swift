import Testing
@testable import RedisProtocol
import TestSupport

// Helpers shared by the RESP test files (names prefixed to stay clear of other test files).

func respBytes(_ s: String) -> [UInt8] { Array(s.utf8) }

extension RequestParser {
    mutating func parseBytes(_ bytes: [UInt8]) -> RequestParseResult {
        bytes.withUnsafeBytes { parse($0) }
    }

    /// The arguments of the last `.request`, copied out of `input` or `inlineEncoding`.
    func argumentBytes(in input: [UInt8]) -> [[UInt8]] {
        let source = isInline ? inlineEncoding : input
        return arguments.map { Array(source[$0]) }
    }
}

/// Parses `input` and returns the result with the arguments when it is a request.
func respParseRequest(_ input: [UInt8], limits: RESPLimits = RESPLimits()) -> (RequestParseResult, [[UInt8]]) {
    var parser = RequestParser(limits: limits)
    let result = parser.parseBytes(input)
    if case .request = result { return (result, parser.argumentBytes(in: input)) }
    return (result, [])
}

/// Checks what must hold for any input: a complete result is reproduced on exactly its bytes and
/// with anything after them, every shorter prefix is `incomplete` with a bound that is right, and
/// an invalid input never looks valid on a prefix.
func respCheckRequestPrefixes(_ input: [UInt8], limits: RESPLimits = RESPLimits(), sourceLocation: SourceLocation = #_sourceLocation) {
    var parser = RequestParser(limits: limits)
    let full = parser.parseBytes(input)
    var frameLength: Int?
    switch full {
    case .request(let length), .empty(let length):
        frameLength = length
        #expect(length > 0 && length <= input.count, sourceLocation: sourceLocation)
        #expect(parser.parseBytes(Array(input[0 ..< length])) == full, sourceLocation: sourceLocation)
        #expect(parser.parseBytes(Array(input[0 ..< length]) + respBytes("*1\r\n$4\r\nPING\r\n")) == full, sourceLocation: sourceLocation)
    case .incomplete(let atLeast):
        #expect(atLeast > input.count, sourceLocation: sourceLocation)
    case .invalid:
        break
    }
    let end = frameLength ?? input.count
    for cut in 0 ..< end {
        let result = parser.parseBytes(Array(input[0 ..< cut]))
        switch result {
        case .incomplete(let atLeast):
            #expect(atLeast > cut, "bound \(atLeast) not past cut \(cut)", sourceLocation: sourceLocation)
            if let frameLength {
                #expect(atLeast <= frameLength, "bound \(atLeast) beyond frame \(frameLength) at cut \(cut)", sourceLocation: sourceLocation)
            }
        case .invalid:
            #expect(result == full, "prefix of \(cut) bytes gave \(result), whole input \(full)", sourceLocation: sourceLocation)
        default:
            Issue.record("prefix of \(cut) bytes gave \(result)", sourceLocation: sourceLocation)
        }
    }
}

/// Replays `stream` the way a connection does: bytes arrive `chunk` at a time, `parse` is called
/// only once the buffer holds the promised `atLeast`, consumed frames are dropped. Returns the
/// argument lists of the requests and how many times `parse` ran.
func respDrainRequests(_ stream: [UInt8], chunk: Int) -> (requests: [[[UInt8]]], calls: Int, error: RESPProtocolError?) {
    var parser = RequestParser()
    var buffer: [UInt8] = []
    var requests: [[[UInt8]]] = []
    var offset = 0, wanted = 1, calls = 0
    while true {
        if buffer.count < wanted {
            guard offset < stream.count else { return (requests, calls, nil) }
            let next = min(stream.count, offset + chunk)
            buffer.append(contentsOf: stream[offset ..< next])
            offset = next
            continue
        }
        calls += 1
        switch parser.parseBytes(buffer) {
        case .request(let length):
            requests.append(parser.argumentBytes(in: buffer))
            buffer.removeFirst(length)
            wanted = 1
        case .empty(let length):
            buffer.removeFirst(length)
            wanted = 1
        case .incomplete(let atLeast):
            wanted = atLeast
        case .invalid(let error):
            return (requests, calls, error)
        }
    }
}

func respMultibulk(_ args: [[UInt8]]) -> [UInt8] {
    var out = respBytes("*\(args.count)\r\n")
    for arg in args { out += respBytes("$\(arg.count)\r\n") + arg + respBytes("\r\n") }
    return out
}

@Suite("RequestParser")
struct RequestParserTests {
    static let allBytes: [UInt8] = (0 ... 255).map { UInt8($0) }

    static let validFrames: [[UInt8]] = [
        respBytes("*1\r\n$4\r\nPING\r\n"),
        respBytes("*3\r\n$3\r\nSET\r\n$3\r\nkey\r\n$5\r\nvalue\r\n"),
        respBytes("*2\r\n$3\r\nGET\r\n$0\r\n\r\n"),
        respMultibulk([respBytes("SET"), respBytes("bin"), allBytes + respBytes("\r\n$3\r\n*1\r\n")]),
        respBytes("*0\r\n"),
        respBytes("*-1\r\n"),
        respBytes("PING\r\n"),
        respBytes("PING\n"),
        respBytes("\r\n"),
        respBytes("   \t \n"),
        respBytes("SET k \"a b\\x41\\n\" 'it\\'s'\r\n"),
    ]

    @Test func multibulkRequestGivesLengthAndArgumentRanges() {
        let input = respBytes("*3\r\n$3\r\nSET\r\n$3\r\nkey\r\n$5\r\nvalue\r\n")
        var parser = RequestParser()
        #expect(parser.parseBytes(input) == .request(length: input.count))
        #expect(!parser.isInline)
        #expect(parser.arguments == [8 ..< 11, 17 ..< 20, 26 ..< 31])
        #expect(parser.argumentBytes(in: input) == [respBytes("SET"), respBytes("key"), respBytes("value")])
    }

    @Test func emptyRequestsAreConsumedWithoutReply() {
        #expect(respParseRequest(respBytes("*0\r\n")).0 == .empty(length: 4))
        #expect(respParseRequest(respBytes("*-1\r\n")).0 == .empty(length: 5))
        // Counts below -1 are refused (Redis skips them; see RequestParseResult.empty).
        #expect(respParseRequest(respBytes("*-7\r\n$3\r\n")).0 == .invalid(.invalidMultibulkLength))
        #expect(respParseRequest(respBytes("\r\n")).0 == .empty(length: 2))
        #expect(respParseRequest(respBytes("\n")).0 == .empty(length: 1))
        #expect(respParseRequest(respBytes(" \t \r\nPING\r\n")).0 == .empty(length: 5))
    }

    @Test(arguments: validFrames)
    func everyCutOfAValidFrameIsIncompleteThenTheSameResult(frame: [UInt8]) {
        respCheckRequestPrefixes(frame)
    }

    @Test func binaryArgumentWithEveryByteValueAndCRLFInside() {
        let payload = Self.allBytes + respBytes("\r\n") + Self.allBytes.reversed() + respBytes("\n\r")
        let input = respMultibulk([respBytes("SET"), respBytes("k"), payload])
        let (result, args) = respParseRequest(input)
        #expect(result == .request(length: input.count))
        #expect(args == [respBytes("SET"), respBytes("k"), payload])
    }

    @Test func pipelineOfManyFramesInOneBuffer() {
        var stream: [UInt8] = []
        var expected: [[[UInt8]]] = []
        for i in 0 ..< 500 {
            let args = [respBytes("SET"), respBytes("key:\(i)"), Array(repeating: UInt8(i % 256), count: i % 37)]
            if i % 7 == 3 {
                stream += respBytes("SET key:\(i) v\(i)\r\n")
                expected.append([respBytes("SET"), respBytes("key:\(i)"), respBytes("v\(i)")])
            } else {
                stream += respMultibulk(args)
                expected.append(args)
            }
            if i % 50 == 0 { stream += respBytes("*0\r\n\r\n") }
        }
        for chunk in [1, 3, 16, 1000, stream.count] {
            let drained = respDrainRequests(stream, chunk: chunk)
            #expect(drained.error == nil)
            #expect(drained.requests == expected, "chunk \(chunk)")
        }
    }

    @Test func incompleteBoundSkipsToTheEndOfALargeBulk() {
        let header = respBytes("*2\r\n$3\r\nSET\r\n$1000000\r\n")
        var parser = RequestParser()
        #expect(parser.parseBytes(header) == .incomplete(atLeast: header.count + 1_000_000 + 2))
        #expect(parser.parseBytes(header + [UInt8](repeating: 7, count: 500_000)) == .incomplete(atLeast: header.count + 1_000_002))
    }

    @Test func incompleteBoundCountsTheArgumentsStillToCome() {
        // Each missing argument is at least "$0\r\n\r\n".
        #expect(respParseRequest(respBytes("*1000\r\n")).0 == .incomplete(atLeast: 7 + 6 * 1000))
        #expect(respParseRequest(respBytes("*3\r\n$1\r\na\r\n")).0 == .incomplete(atLeast: 11 + 12))
        // A request of many small arguments arriving slowly is not rescanned once per read.
        let args = (0 ..< 20_000).map { respBytes("v\($0 % 10)") }
        let stream = respMultibulk([respBytes("MSET")] + args)
        let drained = respDrainRequests(stream, chunk: 1024)
        #expect(drained.requests.count == 1 && drained.requests[0].count == 20_001)
        #expect(drained.calls < 40, "parse ran \(drained.calls) times for \(stream.count / 1024) reads")
    }

    @Test func countAndBulkLimits() {
        let limits = RESPLimits(maxBulkBytes: 10, maxMultibulkLength: 3, maxInlineBytes: 16)
        #expect(respParseRequest(respBytes("*3\r\n"), limits: limits).0 == .incomplete(atLeast: 4 + 18))
        #expect(respParseRequest(respBytes("*4\r\n"), limits: limits).0 == .invalid(RESPProtocolError("invalid multibulk length")))
        #expect(respParseRequest(respBytes("*1\r\n$10\r\n0123456789\r\n"), limits: limits).0 == .request(length: 21))
        #expect(respParseRequest(respBytes("*1\r\n$11\r\n"), limits: limits).0 == .invalid(RESPProtocolError("invalid bulk length")))
        // The header line counts from its "*" or "$", as Redis's buffer check does.
        #expect(respParseRequest(respBytes("*" + String(repeating: "1", count: 15)), limits: limits).0 == .incomplete(atLeast: 18))
        #expect(respParseRequest(respBytes("*" + String(repeating: "1", count: 16)), limits: limits).0
            == .invalid(RESPProtocolError("too big mbulk count string")))
        #expect(respParseRequest(respBytes("*" + String(repeating: "1", count: 20)), limits: limits).0
            == .invalid(RESPProtocolError("too big mbulk count string")))
        #expect(respParseRequest(respBytes("*1\r\n$" + String(repeating: "1", count: 20)), limits: limits).0
            == .invalid(RESPProtocolError("too big bulk count string")))
        #expect(respParseRequest(respBytes("GET " + String(repeating: "a", count: 13)), limits: limits).0
            == .invalid(RESPProtocolError("too big inline request")))
        #expect(respParseRequest(respBytes("GET " + String(repeating: "a", count: 12)), limits: limits).0 == .incomplete(atLeast: 17))
        #expect(respParseRequest(respBytes("GET " + String(repeating: "a", count: 12) + "\n"), limits: limits).0 == .request(length: 17))
        // Judged on the bytes, not on how they arrived: the line end does not rescue a long line.
        #expect(respParseRequest(respBytes("GET " + String(repeating: "a", count: 13) + "\r\n"), limits: limits).0
            == .invalid(RESPProtocolError("too big inline request")))
    }

    @Test func defaultLimitsAreRedisOnes() {
        let limits = RESPLimits()
        #expect(limits.maxBulkBytes == 512 * 1024 * 1024)
        #expect(limits.maxMultibulkLength == 1024 * 1024)
        #expect(limits.maxInlineBytes == 64 * 1024)
        #expect(respParseRequest(respBytes("*1048576\r\n")).0 == .incomplete(atLeast: 10 + 6 * 1_048_576))
        #expect(respParseRequest(respBytes("*1048577\r\n")).0 == .invalid(RESPProtocolError("invalid multibulk length")))
        // A declared 1 GB bulk is refused from its header, before any of its data.
        #expect(respParseRequest(respBytes("*2\r\n$3\r\nSET\r\n$1073741824\r\n")).0 == .invalid(RESPProtocolError("invalid bulk length")))
        #expect(respParseRequest(respBytes("*1\r\n$536870912\r\n")).0 == .incomplete(atLeast: 16 + 536_870_912 + 2))
        #expect(respParseRequest(respBytes("*1\r\n$536870913\r\n")).0 == .invalid(RESPProtocolError("invalid bulk length")))
        let longInline = [UInt8](repeating: UInt8(ascii: "a"), count: 65536)
        #expect(respParseRequest(longInline).0 == .incomplete(atLeast: 65537))
        #expect(respParseRequest(longInline + [UInt8(ascii: "a")]).0 == .invalid(RESPProtocolError("too big inline request")))
        #expect(respParseRequest(respBytes("*") + [UInt8](repeating: UInt8(ascii: "1"), count: 70000)).0
            == .invalid(RESPProtocolError("too big mbulk count string")))
    }

    @Test func hostileDeclaredSizesSaturateInsteadOfTrapping() {
        let unlimited = RESPLimits(maxBulkBytes: Int.max, maxMultibulkLength: Int.max, maxInlineBytes: 64 * 1024)
        #expect(respParseRequest(respBytes("*9223372036854775807\r\n"), limits: unlimited).0 == .incomplete(atLeast: Int.max))
        #expect(respParseRequest(respBytes("*2\r\n$9223372036854775807\r\nabc"), limits: unlimited).0 == .incomplete(atLeast: Int.max))
        #expect(respParseRequest(respBytes("*1\r\n$9223372036854775806\r\n"), limits: unlimited).0 == .incomplete(atLeast: Int.max))
    }

    static let malformed: [(String, String)] = [
        ("*abc\r\n", "invalid multibulk length"),
        ("*\r\n", "invalid multibulk length"),
        ("*-\r\n", "invalid multibulk length"),
        ("*01\r\n", "invalid multibulk length"),
        ("*+1\r\n", "invalid multibulk length"),
        ("* 1\r\n", "invalid multibulk length"),
        ("*1 \r\n", "invalid multibulk length"),
        ("*-0\r\n", "invalid multibulk length"),
        ("*99999999999999999999\r\n", "invalid multibulk length"),
        ("*1\rX", "invalid multibulk length"),
        ("*1\r\n+OK\r\n", "expected '$', got '+'"),
        ("*2\r\n$1\r\na\r\n:1\r\n", "expected '$', got ':'"),
        ("*1\r\n\r\n", "expected '$', got '\\x0d'"),
        ("*1\r\n$-1\r\n", "invalid bulk length"),
        ("*1\r\n$-0\r\n", "invalid bulk length"),
        ("*1\r\n$\r\n", "invalid bulk length"),
        ("*1\r\n$abc\r\n", "invalid bulk length"),
        ("*1\r\n$01\r\nx\r\n", "invalid bulk length"),
        ("*1\r\n$1 \r\nx\r\n", "invalid bulk length"),
        ("*1\r\n$3\rfoo\r\n", "invalid bulk length"),
        ("*1\r\n$99999999999999999999999\r\n", "invalid bulk length"),
        ("*1\r\n$3\r\nfooXY", "expected CRLF after bulk data"),
        ("*1\r\n$3\r\nfooX", "expected CRLF after bulk data"),
        ("*1\r\n$3\r\nfoo\rX", "expected CRLF after bulk data"),
        ("*1\r\n$3\r\nfoo\n\r", "expected CRLF after bulk data"),
        ("*2\r\n$3\r\nfoobar\r\n", "expected CRLF after bulk data"),
        ("*1\r\n$4\r\nfoo\r\n", "expected CRLF after bulk data"),
        ("SET k \"abc\r\n", "unbalanced quotes in request"),
        ("SET k 'abc\r\n", "unbalanced quotes in request"),
        ("SET k \"abc\"d\r\n", "unbalanced quotes in request"),
        ("SET k 'abc'd\r\n", "unbalanced quotes in request"),
        ("SET k \"abc\\\"\r\n", "unbalanced quotes in request"),
        ("SET k \"abc\\\r\n", "unbalanced quotes in request"),
    ]

    @Test(arguments: malformed)
    func malformedRequestIsRefusedWithRedisWords(input: String, message: String) {
        let bytes = respBytes(input)
        #expect(respParseRequest(bytes).0 == .invalid(RESPProtocolError(message)))
        respCheckRequestPrefixes(bytes)
    }

    @Test func garbageAndMutatedFramesKeepThePrefixProperties() {
        var rng = SplitMix(state: 0xBADC0DE)
        let alphabet = respBytes("*$\r\n-0123456789 \"'\\xab") + [0, 0xff]
        let seeds = Self.validFrames + [respMultibulk([respBytes("GET"), respBytes("k")])]
        let limits = RESPLimits(maxBulkBytes: 100, maxMultibulkLength: 50, maxInlineBytes: 40)
        for _ in 0 ..< 1500 {
            var bytes = seeds[Int.random(in: 0 ..< seeds.count, using: &rng)]
            for _ in 0 ..< Int.random(in: 1 ... 3, using: &rng) {
                let at = Int.random(in: 0 ... bytes.count, using: &rng)
                switch Int.random(in: 0 ..< 3, using: &rng) {
                case 0 where at < bytes.count: bytes[at] = alphabet.randomElement(using: &rng)!
                case 1 where at < bytes.count: bytes.remove(at: at)
                default: bytes.insert(alphabet.randomElement(using: &rng)!, at: at)
                }
            }
            respCheckRequestPrefixes(bytes, limits: limits)
        }
        for _ in 0 ..< 300 {
            let garbage = (0 ..< Int.random(in: 1 ... 60, using: &rng)).map { _ in UInt8.random(in: 0 ... 255, using: &rng) }
            respCheckRequestPrefixes(garbage, limits: limits)
        }
    }

    static let inlineCases: [(String, [[UInt8]])] = [
        ("PING\r\n", [respBytes("PING")]),
        ("PING\n", [respBytes("PING")]),
        ("PING\r\r\n", [respBytes("PING")]),
        ("  SET   key\tvalue  \r\n", [respBytes("SET"), respBytes("key"), respBytes("value")]),
        ("SET k \"hello world\"\r\n", [respBytes("SET"), respBytes("k"), respBytes("hello world")]),
        ("SET k \"a\\nb\\r\\t\\b\\a\\\\\\\"c\\q\"\n", [respBytes("SET"), respBytes("k"), respBytes("a\nb\r\t") + [8, 7] + respBytes("\\\"cq")]),
        ("SET k \"\\x41\\x4a\\x7e\\xff\\x00\"\n", [respBytes("SET"), respBytes("k"), [0x41, 0x4A, 0x7E, 0xFF, 0x00]]),
        ("SET k \"\\x4\" \"\\xZZ\"\n", [respBytes("SET"), respBytes("k"), respBytes("x4"), respBytes("xZZ")]),
        ("SET k 'it\\'s'\n", [respBytes("SET"), respBytes("k"), respBytes("it's")]),
        ("SET k 'a\\nb\"'\n", [respBytes("SET"), respBytes("k"), respBytes("a\\nb\"")]),
        ("SET k \"\" ''\n", [respBytes("SET"), respBytes("k"), [], []]),
        ("SET a\"b c\"\n", [respBytes("SET"), respBytes("ab c")]),
        ("SET \"a\"\t'b'\n", [respBytes("SET"), respBytes("a"), respBytes("b")]),
        ("\u{0B}SET\u{0B}k\n", [respBytes("SET\u{0B}k")]),
        ("GET k\rx\n", [respBytes("GET"), respBytes("k"), respBytes("x")]),
        ("GET caf\u{E9}\n", [respBytes("GET"), respBytes("caf\u{E9}")]),
    ]

    @Test(arguments: inlineCases)
    func inlineRequestsAreSplitLikeSdssplitargs(line: String, expected: [[UInt8]]) {
        let input = respBytes(line)
        var parser = RequestParser()
        #expect(parser.parseBytes(input) == .request(length: input.count))
        #expect(parser.isInline)
        #expect(parser.argumentBytes(in: input) == expected)
        // The re-encoding is a multibulk frame a fresh parser reads back to the same arguments.
        let encoding = parser.inlineEncoding
        #expect(encoding == respMultibulk(expected))
        let (again, args) = respParseRequest(encoding)
        #expect(again == .request(length: encoding.count))
        #expect(args == expected)
        respCheckRequestPrefixes(input)
    }

    @Test func argumentStorageIsReusedAcrossCalls() {
        var parser = RequestParser()
        let big = respMultibulk((0 ..< 64).map { respBytes("a\($0)") })
        #expect(parser.parseBytes(big) == .request(length: big.count))
        let capacity = parser._arguments.capacity
        let small = respBytes("*1\r\n$4\r\nPING\r\n")
        #expect(parser.parseBytes(small) == .request(length: small.count))
        #expect(parser.arguments.count == 1)
        #expect(parser._arguments.capacity == capacity)
        #expect(parser.parseBytes(respBytes("*1\r\n$4\r\nPI")) == .incomplete(atLeast: 14))
        #expect(parser.arguments.isEmpty)
    }
}
