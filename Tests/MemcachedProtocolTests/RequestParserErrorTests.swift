import Testing
import MemcachedProtocol

private let badFormat = "CLIENT_ERROR bad command line format"
private let k250 = String(repeating: "k", count: 250)
private let k251 = String(repeating: "k", count: 251)

@Suite("MemcachedRequestParser: refusals")
struct RequestParserErrorTests {
    @Test func unknownCommandsAndEmptyLinesAreERROR() {
        #expect(parse("bogus k\r\n").0 == err("ERROR", 9))
        #expect(parse("\r\n").0 == err("ERROR", 2))
        #expect(parse("\n").0 == err("ERROR", 1))
        #expect(parse("    \r\n").0 == err("ERROR", 6))
        #expect(parse("m\r\n").0 == err("ERROR", 3))
        #expect(parse("mz k\r\n").0 == err("ERROR", 6))
        #expect(parse("gett k\r\n").0 == err("ERROR", 8))
    }

    @Test func aWrongNumberOfTokensIsERROR() {
        for line in ["get", "gets ", "gat 10", "gats", "set k 0 0", "set k 0 0 1 noreply x", "cas k 0 0 1",
                     "incr k", "decr k 1 noreply x", "touch k", "delete", "delete k 0 noreply x",
                     "verbosity", "verbosity 1 noreply x", "flush_all 1 2 3", "mg", "md", "ma", "ms"] {
            let f = line + "\r\n"
            #expect(parse(f).0 == err("ERROR", f.utf8.count), "\(line)")
        }
    }

    @Test func theDataOfAMalformedStorageLineIsNotSwallowedWhenItsLengthIsUnknown() {
        // "set k 0 0" has no length: memcached also reads the next line as a command.
        #expect(parse("set k 0 0\r\nx\r\n").0 == err("ERROR", 11))
    }

    @Test func keysOverTheLimitAreRefused() {
        #expect(parse("get \(k250)\r\n").0 == .request(length: 256))
        #expect(parse("get \(k251)\r\n").0 == err(badFormat, 257))
        #expect(parse("get a \(k251) b\r\n").0 == err(badFormat, 261))
        #expect(parse("gat 1 \(k251)\r\n").0 == err(badFormat, 259))
        #expect(parse("delete \(k251)\r\n").0 == err(badFormat, 260))
        #expect(parse("incr \(k251) 1\r\n").0 == err(badFormat, 260))
        #expect(parse("touch \(k251) 1\r\n").0 == err(badFormat, 261))
        #expect(parse("mg \(k251) v\r\n").0 == err(badFormat, 258))
        #expect(parse("md \(k251)\r\n").0 == err(badFormat, 256))
        #expect(parse("ma \(k251)\r\n").0 == err(badFormat, 256))
        #expect(parse("me \(k251)\r\n").0 == err(badFormat, 256))
        // The data block of a refused write is swallowed: line + 1 + 2.
        #expect(parse("set \(k251) 0 0 1\r\nx\r\n").0 == err(badFormat, 263 + 3))
        #expect(parse("ms \(k251) 1\r\nx\r\n").0 == err(badFormat, 258 + 3))
    }

    @Test func keysWithControlCharactersAreRefused() {
        #expect(parse("get a\u{01}b\r\n").0 == err(badFormat, 9))
        #expect(parse("get a\u{7f}b\r\n").0 == err(badFormat, 9))
        #expect(parse("get k\r\r\n").0 == err(badFormat, 8))
        #expect(parse("set a\u{1f}b 0 0 1\r\nx\r\n").0 == err(badFormat, 15 + 3))
        #expect(parse("mg a\u{09}b v\r\n").0 == err(badFormat, 10))
        #expect(parse("delete a\u{00}b noreply\r\n").0 == err(badFormat, 20, silent: true))
        // Bytes above 0x7f are fine (UTF-8 keys).
        #expect(parse("get cl\u{e9}\r\n").0 == .request(length: 10))
    }

    @Test func badNumbersOnStorageLines() {
        #expect(parse("set k abc 0 1\r\nx\r\n").0 == err(badFormat, 15 + 3))
        #expect(parse("set k -1 0 1\r\nx\r\n").0 == err(badFormat, 14 + 3))
        // memcached truncates 32-bit flags written with more bits; the proxy refuses them.
        #expect(parse("set k 4294967296 0 1\r\nx\r\n").0 == err(badFormat, 22 + 3))
        #expect(parse("set k 0 x 1\r\nx\r\n").0 == err(badFormat, 13 + 3))
        #expect(parse("set k 0 9223372036854775808 1\r\nx\r\n").0 == err(badFormat, 31 + 3))
        #expect(parse("cas k 0 0 1 -5\r\nx\r\n").0 == err(badFormat, 16 + 3))
        #expect(parse("cas k 0 0 1 18446744073709551616\r\nx\r\n").0 == err(badFormat, 34 + 3))
        // An unreadable length: only the line is consumed (memcached reads the data as a command too).
        #expect(parse("set k 0 0 -1\r\nx\r\n").0 == err(badFormat, 14))
        #expect(parse("set k 0 0 abc\r\nx\r\n").0 == err(badFormat, 15))
        #expect(parse("set k 0 0 2147483646\r\n").0 == err(badFormat, 22))
        #expect(parse("set k 0 0 4294967297\r\nx\r\n").0 == err(badFormat, 22))
        // With noreply, memcached answers nothing.
        #expect(parse("set k x 0 1 noreply\r\nx\r\n").0 == err(badFormat, 21 + 3, silent: true))
    }

    @Test func tooLargeValuesAreSwallowed() {
        let header = "set k 0 0 1048577\r\n"
        #expect(parse(header).0 == err("SERVER_ERROR object too large for cache", header.utf8.count + 1_048_579))
        #expect(parse("set k 0 0 1048576\r\n").0 == .incomplete(atLeast: 19 + 1_048_578))
        let quiet = "set k 0 0 2000000 noreply\r\n"
        #expect(parse(quiet).0 == err("SERVER_ERROR object too large for cache", quiet.utf8.count + 2_000_002, silent: true))
        // Meta errors are always answered, q or not.
        let ms = "ms k 2000000 q T0\r\n"
        #expect(parse(ms).0 == err("SERVER_ERROR object too large for cache", ms.utf8.count + 2_000_002))
        let small = MemcachedLimits(maxValueBytes: 3)
        #expect(parse("set k 0 0 4\r\nabcd\r\n", limits: small).0 == err("SERVER_ERROR object too large for cache", 19))
        #expect(parse("set k 0 0 3\r\nabc\r\n", limits: small).0 == .request(length: 18))
    }

    @Test func aTooLargeRequestStillNamesItsCommandAndKey() {
        // The session deletes the key of a refused set everywhere, as memcached does: it needs both.
        let (_, set) = parse("set some:key 0 0 2000000\r\n")
        #expect(set.command == .set)
        #expect(text(b("set some:key 0 0 2000000\r\n"), set.keys.first) == "some:key")
        let (_, ms) = parse("ms a2V5 2000000 b T0\r\n")
        #expect(ms.command == .metaSet && ms.base64Key)
        #expect(text(b("ms a2V5 2000000 b T0\r\n"), ms.keys.first) == "a2V5")
    }

    @Test func aDataBlockNotEndedByCRLFIsABadDataChunk() {
        let chunk = "CLIENT_ERROR bad data chunk"
        // memcached reads exactly <bytes> + 2 and checks the last two are "\r\n".
        #expect(parse("set k 0 0 5\r\nhelloXX\r\n").0 == err(chunk, 20))
        #expect(parse("set k 0 0 5\r\nhel\r\nget k\r\n").0 == err(chunk, 20))
        #expect(parse("set k 0 0 5\r\nhello\n").0 == err(chunk, 20))
        // Known as soon as the byte after the data is here.
        #expect(parse("set k 0 0 5\r\nhelloX").0 == err(chunk, 20))
        #expect(parse("set k 0 0 5\r\nhello\rX").0 == err(chunk, 20))
        #expect(parse("set k 0 0 5\r\nhello\r").0 == .incomplete(atLeast: 20))
        #expect(parse("set k 0 0 1 noreply\r\nxyz\r\n").0 == err(chunk, 24, silent: true))
        #expect(parse("ms k 1 q\r\nxyz\r\n").0 == err(chunk, 13))
    }

    @Test func badArgumentsOfOtherTextCommands() {
        #expect(parse("incr k abc\r\n").0 == err("CLIENT_ERROR invalid numeric delta argument", 12))
        #expect(parse("decr k -1\r\n").0 == err("CLIENT_ERROR invalid numeric delta argument", 11))
        #expect(parse("incr k 18446744073709551616\r\n").0 == err("CLIENT_ERROR invalid numeric delta argument", 29))
        #expect(parse("incr k abc noreply\r\n").0 == err("CLIENT_ERROR invalid numeric delta argument", 20, silent: true))
        #expect(parse("touch k abc\r\n").0 == err("CLIENT_ERROR invalid exptime argument", 13))
        #expect(parse("gat abc k\r\n").0 == err("CLIENT_ERROR invalid exptime argument", 11))
        #expect(parse("flush_all abc\r\n").0 == err("CLIENT_ERROR invalid exptime argument", 15))
        #expect(parse("flush_all noreply 1\r\n").0 == err("CLIENT_ERROR invalid exptime argument", 21))
        #expect(parse("flush_all abc noreply\r\n").0 == err("CLIENT_ERROR invalid exptime argument", 23, silent: true))
        #expect(parse("verbosity x\r\n").0 == err(badFormat, 13))
        #expect(parse("verbosity noreply\r\n").0 == err(badFormat, 19, silent: true))
        let usage = "CLIENT_ERROR bad command line format.  Usage: delete <key> [noreply]"
        #expect(parse("delete k 1\r\n").0 == err(usage, 12))
        #expect(parse("delete k junk\r\n").0 == err(usage, 15))
        #expect(parse("delete k 5 noreply\r\n").0 == err(usage, 20, silent: true))
        #expect(parse("delete k noreply 0\r\n").0 == err(usage, 20))
    }

    @Test func metaFlagRefusals() {
        #expect(parse("mg k v v\r\n").0 == err("CLIENT_ERROR duplicate flag", 10))
        #expect(parse("md k q q\r\n").0 == err("CLIENT_ERROR invalid or duplicate flag", 10))
        #expect(parse("ma k T1 T2\r\n").0 == err("CLIENT_ERROR invalid or duplicate flag", 12))
        #expect(parse("mg k \u{80}\r\n").0 == err("CLIENT_ERROR duplicate flag", 9))
        let o31 = "O" + String(repeating: "x", count: 31)
        let o32 = "O" + String(repeating: "x", count: 32)
        #expect(parse("mg k \(o31)\r\n").0 == .request(length: 39))
        #expect(parse("mg k \(o32)\r\n").0 == err("CLIENT_ERROR opaque token too long", 40))
        let l32 = "L" + String(repeating: "x", count: 32)
        #expect(parse("mg k \(l32)\r\n").0 == err("CLIENT_ERROR bad token in command line format", 40))
        // ms refusals swallow the data block.
        #expect(parse("ms k 1 \(o32)\r\nx\r\n").0 == err("CLIENT_ERROR opaque token too long", 42 + 3))
        #expect(parse("ms k 1 c c\r\nx\r\n").0 == err("CLIENT_ERROR duplicate flag", 12 + 3))
        let seventeen = "a c d e f g h i j k l m n o p r s"
        let sixteen = "a c d e f g h i j k l m n o p r"
        #expect(parse("ms k 1 \(seventeen)\r\nx\r\n").0 == err("CLIENT_ERROR options flags too long", 42 + 3))
        #expect(parse("ms k 1 \(sixteen)\r\nx\r\n").0 == .request(length: 40 + 3))
    }

    @Test func metaSetLineRefusals() {
        #expect(parse("ms k\r\n").0 == err(badFormat, 6))
        #expect(parse("ms k abc\r\nx\r\n").0 == err(badFormat, 10))
        #expect(parse("ms k -1\r\n").0 == err(badFormat, 9))
        #expect(parse("ms k 1 T0 Tx\r\nx\r\n").0 == err("CLIENT_ERROR duplicate flag", 14 + 3))
    }

    @Test func badBase64KeysAreRefused() {
        #expect(parse("mg Zm9 b v\r\n").0 == err("CLIENT_ERROR error decoding key", 12))
        #expect(parse("mg Zg= b\r\n").0 == err("CLIENT_ERROR error decoding key", 10))
        #expect(parse("mg ab!c b\r\n").0 == err("CLIENT_ERROR error decoding key", 11))
        // Canonical only: memcached would read these as "f" and "f" again.
        #expect(parse("mg Zh== b\r\n").0 == err("CLIENT_ERROR error decoding key", 11))
        #expect(parse("mg Zg==Zg== b\r\n").0 == err("CLIENT_ERROR error decoding key", 15))
        #expect(parse("ms Zm9 1 b\r\nx\r\n").0 == err("CLIENT_ERROR error decoding key", 12 + 3))
        #expect(parse("md Zm9 b\r\n").0 == err("CLIENT_ERROR invalid or duplicate flag", 10))
        #expect(parse("ma Zm9 b\r\n").0 == err("CLIENT_ERROR invalid or duplicate flag", 10))
        #expect(parse("me foo b\r\n").0 == err(badFormat, 10))
        #expect(parse("me\r\n").0 == err(badFormat, 4))
    }

    @Test func overlongLinesCloseTheConnection() {
        let limits = MemcachedLimits(maxLineBytes: 64, maxCommandLineBytes: 32)
        let tooLong = "CLIENT_ERROR line too long"
        // No line end within maxLineBytes.
        let getLine = b("get " + String(repeating: "k", count: 70))
        #expect(parse(getLine, limits: limits).0 == err(tooLong, 74, close: true))
        // A get may use up to maxLineBytes...
        let get = "get " + String(repeating: "k", count: 40) + " x\r\n"
        #expect(parse(get, limits: limits).0 == .request(length: 48))
        #expect(parse(Array(b(get).prefix(40)), limits: limits).0 == .incomplete(atLeast: 41))
        // ...every other command only maxCommandLineBytes, line end included.
        let gat = "gat 1 " + String(repeating: "k", count: 40) + "\r\n"
        #expect(parse(gat, limits: limits).0 == err(tooLong, 48, close: true))
        #expect(parse(Array(b(gat).prefix(32)), limits: limits).0 == err(tooLong, 32, close: true))
        #expect(parse(Array(b(gat).prefix(31)), limits: limits).0 == .incomplete(atLeast: 32))
        let fits = "mg " + String(repeating: "k", count: 27) + "\r\n"
        #expect(parse(fits, limits: limits).0 == .request(length: 32))
    }

    @Test func aBinaryClientIsDetected() {
        #expect(parse([0x80, 0x00, 0x00]).0 == .binaryProtocol)
        #expect(parse([0x80]).0 == .binaryProtocol)
        #expect(parse([UInt8]()).0 == .incomplete(atLeast: 1))
    }
}
