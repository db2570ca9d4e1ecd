import Testing
import RedisProtocol
import TestSupport

/// Random RESP2 replies, at most `maxDepth` arrays deep (hiredis 0.14.1 refuses deeper ones).
enum RESP2Generator {
    static let maxDepth = 6

    static func value(depth: Int = 0, rng: inout SplitMix) -> RESPValue {
        switch Int.random(in: 0 ..< (depth < maxDepth ? 9 : 6), using: &rng) {
        case 0: return .simpleString(text(rng: &rng))
        case 1: return .error("ERR " + text(rng: &rng))
        case 2:
            let special = [0, 1, -1, Int.max, Int.min, Int(Int32.max), Int(Int32.min) - 1]
            return .integer(Bool.random(using: &rng) ? special.randomElement(using: &rng)! : Int.random(in: Int.min ... Int.max, using: &rng))
        case 3, 4: return .bulk(bytes(rng: &rng))
        case 5: return Bool.random(using: &rng) ? .bulk(nil) : .array(nil)
        default:
            let count = Int.random(in: 0 ... 5, using: &rng)
            return .array((0 ..< count).map { _ in value(depth: depth + 1, rng: &rng) })
        }
    }

    static func text(rng: inout SplitMix) -> String {
        let count = Int.random(in: 0 ... 24, using: &rng)
        return String(decoding: (0 ..< count).map { _ in UInt8.random(in: 0x20 ... 0x7E, using: &rng) }, as: UTF8.self)
    }

    /// Binary payloads: mostly short, some long, with CR, LF and CRLF planted in them.
    static func bytes(rng: inout SplitMix) -> [UInt8] {
        let count = Bool.random(using: &rng) ? Int.random(in: 0 ... 12, using: &rng) : Int.random(in: 0 ... 3000, using: &rng)
        var out = (0 ..< count).map { _ in UInt8.random(in: 0 ... 255, using: &rng) }
        if count >= 2, Bool.random(using: &rng) {
            let at = Int.random(in: 0 ..< count - 1, using: &rng)
            out[at] = 13
            out[at + 1] = 10
        }
        return out
    }

    /// hiredis has a single NIL for `$-1` and `*-1`; `HiredisReader` reports it as `.bulk(nil)`.
    static func asHiredisSeesIt(_ value: RESPValue) -> RESPValue {
        switch value {
        case .array(nil): return .bulk(nil)
        case .array(let values?): return .array(values.map(asHiredisSeesIt))
        default: return value
        }
    }
}

@Suite("hiredis differential")
struct HiredisDifferentialTests {
    /// Frames `stream` with `ReplyFramer`, returning each reply's end offset and decoded value.
    static func frameAll(_ stream: [UInt8]) throws -> [(end: Int, value: RESPValue)] {
        var framer = ReplyFramer()
        var out: [(Int, RESPValue)] = []
        var pos = 0
        try stream.withUnsafeBytes { raw in
            while pos < raw.count {
                let rest = UnsafeRawBufferPointer(rebasing: raw[pos...])
                guard case .reply(let length, let type) = framer.frame(rest) else {
                    Issue.record("framer stopped at \(pos): \(framer.frame(rest))")
                    return
                }
                let (value, decoded) = try RESPValue.parse(rest)
                #expect(decoded == length)
                #expect(type == value.encoded.first)
                pos += length
                out.append((pos, value))
            }
        }
        return out
    }

    @Test(arguments: [UInt64(1), 2, 3])
    func framerAndHiredisAgreeOnBoundariesAndValues(seed: UInt64) throws {
        var rng = SplitMix(state: seed)
        let values = (0 ..< 1500).map { _ in RESP2Generator.value(rng: &rng) }
        let stream = values.flatMap(\.encoded)

        let ours = try Self.frameAll(stream)
        #expect(ours.map(\.value) == values)

        let reader = HiredisReader()
        try reader.feed(stream)
        var theirs: [(end: Int, value: RESPValue)] = []
        while let reply = try reader.nextReply() {
            theirs.append((reader.bytesFed - reader.unconsumedByteCount, reply))
        }
        #expect(theirs.count == values.count)
        #expect(ours.map(\.end) == theirs.map(\.end))
        #expect(ours.map { RESP2Generator.asHiredisSeesIt($0.value) } == theirs.map(\.value))
    }

    @Test(arguments: [UInt64(11), 12, 13])
    func framerAndHiredisAgreeWhenFedInRandomChunks(seed: UInt64) throws {
        var rng = SplitMix(state: seed)
        let values = (0 ..< 1000).map { _ in RESP2Generator.value(rng: &rng) }
        let stream = values.flatMap(\.encoded)

        // Both sides get the same chunks; ours honours `atLeast` as a connection would.
        let reader = HiredisReader()
        var framer = ReplyFramer()
        var buffer: [UInt8] = []
        var wanted = 1
        var ours: [RESPValue] = []
        var theirs: [RESPValue] = []
        var offset = 0
        while offset < stream.count {
            let end = min(stream.count, offset + Int.random(in: 1 ... 700, using: &rng))
            let chunk = Array(stream[offset ..< end])
            offset = end
            try reader.feed(chunk)
            while let reply = try reader.nextReply() { theirs.append(reply) }
            buffer += chunk
            while buffer.count >= wanted {
                switch framer.frameBytes(buffer) {
                case .reply(let length, _):
                    ours.append(try RESPValue.parse(Array(buffer[0 ..< length])).0)
                    buffer.removeFirst(length)
                    wanted = 1
                case .incomplete(let atLeast):
                    #expect(atLeast > buffer.count)
                    wanted = atLeast
                case .invalid(let why):
                    Issue.record("framer refused a valid stream: \(why)")
                    return
                }
            }
        }
        #expect(buffer.isEmpty)
        #expect(ours == values)
        #expect(ours.map(RESP2Generator.asHiredisSeesIt) == theirs)
    }

    @Test func hiredisWithoutReplyFunctionsFramesTheSameReplies() throws {
        var rng = SplitMix(state: 99)
        let values = (0 ..< 500).map { _ in RESP2Generator.value(rng: &rng) }
        let reader = HiredisReader(buildsValues: false)
        try reader.feed(values.flatMap(\.encoded))
        var types: [Int32] = []
        while let type = try reader.nextReplyType() { types.append(type) }
        let expected: [Int32] = values.map {
            switch $0 {
            case .simpleString: 5
            case .error: 6
            case .integer: 3
            case .bulk(nil), .array(nil): 4
            case .bulk: 1
            default: 2
            }
        }
        #expect(types == expected)
    }

    @Test func hiredisFormattedCommandsParseToTheSameArguments() {
        var rng = SplitMix(state: 7)
        for _ in 0 ..< 500 {
            let args = (0 ..< Int.random(in: 1 ... 8, using: &rng)).map { _ in RESP2Generator.bytes(rng: &rng) }
            let formatted = hiredisFormatCommand(args)
            let (result, parsed) = respParseRequest(formatted)
            #expect(result == .request(length: formatted.count))
            #expect(parsed == args)

            let strings = (0 ..< Int.random(in: 1 ... 5, using: &rng)).map { _ in RESP2Generator.text(rng: &rng) }
            var encoded: [UInt8] = []
            RESPEncoder.command(strings, into: &encoded)
            #expect(hiredisFormatCommand(strings.map { Array($0.utf8) }) == encoded)
        }
        #expect(hiredisFormatCommand([[], []]) == respBytes("*2\r\n$0\r\n\r\n$0\r\n\r\n"))
    }

    // The limits documented in HiredisReference.swift, pinned so a hiredis upgrade shows up here.

    @Test func hiredisRefusesNestingThatTheFramerAccepts() throws {
        func nested(_ depth: Int) -> [UInt8] { respBytes(String(repeating: "*1\r\n", count: depth) + ":1\r\n") }
        let ok = HiredisReader()
        try ok.feed(nested(8))
        #expect(try ok.nextReply() != nil)

        let tooDeep = HiredisReader()
        try tooDeep.feed(nested(9))
        #expect(throws: HiredisReaderError("No support for nested multi bulk replies with depth > 7")) { try tooDeep.nextReply() }
        var framer = ReplyFramer()
        #expect(framer.frameBytes(nested(12)) == .reply(length: 52, type: RESPType.array))
    }

    @Test func hiredisRefusesRESP3AndStaysBroken() throws {
        let reader = HiredisReader()
        try reader.feed(respBytes("+OK\r\n_\r\n"))
        #expect(try reader.nextReply() == .simpleString("OK"))
        #expect(throws: HiredisReaderError.self) { try reader.nextReply() }
        // Broken for good: even a valid reply is refused now.
        #expect(throws: HiredisReaderError.self) { try reader.feed(respBytes("+OK\r\n")) }
        #expect(throws: HiredisReaderError.self) { try reader.nextReply() }
    }

    @Test func hiredisIsLenientWhereTheFramerIsStrict() throws {
        // hiredis skips the two bytes after bulk data without looking at them.
        let reader = HiredisReader()
        try reader.feed(respBytes("$3\r\nfooXY:1\r\n"))
        #expect(try reader.nextReply() == .bulk(respBytes("foo")))
        #expect(try reader.nextReply() == .integer(1))
        var framer = ReplyFramer()
        #expect(framer.frameBytes(respBytes("$3\r\nfooXY:1\r\n")) == .invalid("missing CRLF after bulk data at offset 7"))
        // Where both are strict they agree: lengths are string2ll numbers, -1 is the only negative.
        for bad in ["$-5\r\n", "$+1\r\nx\r\n", "$01\r\nx\r\n", "*-2\r\n", "*1x\r\n", ":1x\r\n", "?\r\n"] {
            let strict = HiredisReader()
            try strict.feed(respBytes(bad))
            #expect(throws: HiredisReaderError.self, "\(bad.debugDescription)") { try strict.nextReply() }
            #expect(throws: (any Error).self, "\(bad.debugDescription)") { try RESPValue.parse(respBytes(bad)) }
        }
    }
}
