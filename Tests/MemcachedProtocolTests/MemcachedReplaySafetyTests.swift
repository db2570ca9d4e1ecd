import MemcachedProtocol
import Testing

@Suite("MemcachedReplaySafety")
struct MemcachedReplaySafetyTests {
    func safe(_ text: String) -> Bool {
        Array(text.utf8).withUnsafeBytes { MemcachedReplaySafety.isSafeToRepeat($0) }
    }

    @Test func storageDeleteAndTouchAreSafe() {
        #expect(safe("set k 0 0 1\r\nx\r\n"))
        #expect(safe("add k 0 0 1\r\nx\r\n"))
        #expect(safe("replace k 0 0 1\r\nx\r\n"))
        #expect(safe("delete k\r\n"))
        #expect(safe("touch k 100\r\n"))
        #expect(safe("md k\r\n"))
        #expect(safe("ms k 1 T0\r\nx\r\n"))
        #expect(safe("ms k 1 MS\r\nx\r\n"))
    }

    @Test func arithmeticAndAppendsAreNot() {
        #expect(!safe("incr k 1\r\n"))
        #expect(!safe("decr k 1\r\n"))
        #expect(!safe("append k 0 0 1\r\nx\r\n"))
        #expect(!safe("prepend k 0 0 1\r\nx\r\n"))
        #expect(!safe("ma k\r\n"))
        #expect(!safe("ms k 1 MA\r\nx\r\n"))
        #expect(!safe("ms k 1 T0 Mp\r\nx\r\n"))
        #expect(!safe("bogus\r\n"))
    }
}
