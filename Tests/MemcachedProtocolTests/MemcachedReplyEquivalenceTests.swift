import MemcachedProtocol
import Testing

@Suite("MemcachedReplyEquivalence")
struct MemcachedReplyEquivalenceTests {
    func same(_ a: String, _ b: String) -> Bool {
        Array(a.utf8).withUnsafeBytes { x in Array(b.utf8).withUnsafeBytes { y in MemcachedReplyEquivalence.same(x, y) } }
    }

    @Test func casAndAccessTimesDoNotMatter() {
        #expect(same("VALUE k 5 3 101\r\nabc\r\nEND\r\n", "VALUE k 5 3 977\r\nabc\r\nEND\r\n"))
        #expect(same("VA 3 f5 c101 t-1\r\nabc\r\n", "VA 3 f5 c977 t-1\r\nabc\r\n"))
        #expect(same("HD c1 h0 l3\r\n", "HD c2 h1 l9\r\n"))
        #expect(same("END\r\n", "END\r\n"))
        #expect(same("EN\r\n", "EN\r\n"))
    }

    @Test func valuesFlagsAndPresenceDo() {
        #expect(!same("VALUE k 5 3\r\nabc\r\nEND\r\n", "VALUE k 5 3\r\nabd\r\nEND\r\n"))
        #expect(!same("VALUE k 5 3\r\nabc\r\nEND\r\n", "VALUE k 6 3\r\nabc\r\nEND\r\n"))
        #expect(!same("VALUE k 5 3\r\nabc\r\nEND\r\n", "END\r\n"))
        #expect(!same("VA 3 f5\r\nabc\r\n", "VA 3 f6\r\nabc\r\n"))
        #expect(!same("VA 3 f5\r\nabc\r\n", "VA 4 f5\r\nabcd\r\n"))
        #expect(!same("VA 3 f5\r\nabc\r\n", "EN\r\n"))
        #expect(!same("SERVER_ERROR out of memory\r\n", "END\r\n"))
    }

    @Test func dataThatLooksLikeALineIsData() {
        #expect(same("VALUE k 0 7\r\nEND\r\nx\r\nEND\r\n", "VALUE k 0 7 9\r\nEND\r\nx\r\nEND\r\n"))
        #expect(!same("VALUE k 0 7\r\nEND\r\nx\r\nEND\r\n", "VALUE k 0 7\r\nEND\r\ny\r\nEND\r\n"))
    }

    @Test func unparsableRepliesCompareByteForByte() {
        #expect(same("VALUE k 0 9\r\nab", "VALUE k 0 9\r\nab"))
        #expect(!same("VALUE k 0 9\r\nab", "VALUE k 0 9\r\nac"))
    }
}
