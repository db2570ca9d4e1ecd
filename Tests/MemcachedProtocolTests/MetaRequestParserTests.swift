import Testing
import MemcachedProtocol

@Suite("MemcachedRequestParser: meta commands")
struct MetaRequestParserTests {
    @Test func metaGetKeepsItsFlagsInOrder() {
        let f = "mg foo v k  T30 Oopaque N30 R30 E123 q\r\n"
        let (r, q) = parse(f)
        #expect(r == .request(length: f.utf8.count))
        #expect(q.command == .metaGet)
        #expect(text(f, q.name) == "mg")
        #expect(keys(f, q) == ["foo"])
        #expect(flags(f, q) == ["v", "k", "T30", "Oopaque", "N30", "R30", "E123", "q"])
        #expect(q.metaFlags.map(\.letter) == Array("vkTONREq".utf8))
        #expect(text(f, q.metaFlags[0].token) == "")
        #expect(text(f, q.metaFlags[3].token) == "opaque")
        #expect(q.quiet && !q.base64Key)
        #expect(q.exptime == 30 && text(f, q.exptimeToken) == "30")
        #expect(q.value == nil && !q.noreply)
        #expect(q.metaFlag(UInt8(ascii: "N")).map { text(f, $0.token)! } == "30")
        #expect(q.metaFlag(UInt8(ascii: "Z")) == nil)
    }

    @Test func metaGetWithoutFlags() {
        let (r, q) = parse("mg k\r\n")
        #expect(r == .request(length: 6) && q.metaFlags.isEmpty && !q.quiet)
    }

    @Test func metaSetReadsItsDataAndFlags() {
        let f = "ms key 5 T60 F7 C99 q I MS\r\nhello\r\n"
        let (r, q) = parse(f)
        #expect(r == .request(length: f.utf8.count))
        #expect(q.command == .metaSet)
        #expect(keys(f, q) == ["key"])
        #expect(text(f, q.value) == "hello")
        #expect(flags(f, q) == ["T60", "F7", "C99", "q", "I", "MS"])
        #expect(q.exptime == 60 && q.clientFlags == 7 && q.casUnique == 99 && q.quiet)
        #expect(q.headerLength == f.utf8.count - 7)
    }

    @Test func metaSetWithoutFlagsAndEmptyData() {
        let f = "ms k 0\r\n\r\n"
        let (r, q) = parse(f)
        #expect(r == .request(length: 10))
        #expect(q.value == 8 ..< 8 && q.metaFlags.isEmpty)
    }

    @Test func metaDeleteAndArithmetic() {
        let f = "md k q C5 I T30\r\n"
        let (r, q) = parse(f)
        #expect(r == .request(length: f.utf8.count))
        #expect(q.command == .metaDelete && q.quiet && q.casUnique == 5 && q.exptime == 30)

        let g = "ma n D10 MD N0 J5 v\r\n"
        let (r2, q2) = parse(g)
        #expect(r2 == .request(length: g.utf8.count))
        #expect(q2.command == .metaArithmetic && q2.delta == 10 && !q2.quiet)
        #expect(flags(g, q2) == ["D10", "MD", "N0", "J5", "v"])
        // ma's delta defaults to 1.
        #expect(parse("ma n\r\n").1.delta == 1)
    }

    @Test func metaNoopAndDebug() {
        let (r, q) = parse("mn\r\n")
        #expect(r == .request(length: 4) && q.command == .metaNoop && q.keys.isEmpty)
        let f = "me foo\r\n"
        let (r2, q2) = parse(f)
        #expect(r2 == .request(length: 8) && q2.command == .metaDebug && keys(f, q2) == ["foo"] && !q2.base64Key)
        let g = "me Zm9v b\r\n"
        let (r3, q3) = parse(g)
        #expect(r3 == .request(length: 11) && q3.base64Key && keys(g, q3) == ["Zm9v"])
    }

    @Test func base64KeysAreKeptAsSentAndValidated() {
        let f = "mg Zm9vYmFy b v\r\n"
        let (r, q) = parse(f)
        #expect(r == .request(length: f.utf8.count))
        #expect(q.base64Key && keys(f, q) == ["Zm9vYmFy"])
        // A binary key: control characters are fine once decoded.
        let g = "ms AAEC 1 b\r\nx\r\n"
        #expect(parse(g).0 == .request(length: g.utf8.count))
    }

    @Test func aDecodedKeyOverTheLimitIsRefused() {
        // 12 base64 characters decode to 9 bytes.
        let limits = MemcachedLimits(maxKeyLength: 8)
        #expect(parseError("mg Zm9vYmFyYmF6 b\r\n", limits: limits)?.reply == "CLIENT_ERROR bad command line format")
        #expect(parse("mg Zm9vYmFy b\r\n", limits: limits).0 == .request(length: 15))
    }

    @Test func metaQuietFlagMayCarryAToken() {
        let (_, q) = parse("mg k qx\r\n")
        #expect(q.quiet)
    }
}
