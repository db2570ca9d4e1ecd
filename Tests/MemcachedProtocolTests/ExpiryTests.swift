import Testing
import MemcachedProtocol

private let now: Int64 = 1_700_000_000

private func absolute(_ request: String) -> String? {
    b(request).withUnsafeBytes { MemcachedExpiry.absolute($0, nowSeconds: now) }.map { String(decoding: $0, as: UTF8.self) }
}

@Suite("MemcachedExpiry")
struct ExpiryTests {
    @Test func relativeExpiriesOfTextCommandsBecomeAbsolute() {
        #expect(absolute("set k 5 60 3\r\nabc\r\n") == "set k 5 1700000060 3\r\nabc\r\n")
        #expect(absolute("add k 0 1 1 noreply\r\nx\r\n") == "add k 0 1700000001 1 noreply\r\nx\r\n")
        #expect(absolute("replace k 0 2592000 1\r\nx\r\n") == "replace k 0 1702592000 1\r\nx\r\n")
        #expect(absolute("cas k 0 +30 1 99\r\nx\r\n") == "cas k 0 1700000030 1 99\r\nx\r\n")
        #expect(absolute("touch k 10\r\n") == "touch k 1700000010\r\n")
        #expect(absolute("touch k 10 noreply\r\n") == "touch k 1700000010 noreply\r\n")
        #expect(absolute("gat 100 a b\r\n") == "gat 1700000100 a b\r\n")
        #expect(absolute("gats 5 a\r\n") == "gats 1700000005 a\r\n")
        #expect(absolute("flush_all 60 noreply\r\n") == "flush_all 1700000060 noreply\r\n")
    }

    @Test func zeroNegativeAndAbsoluteExpiriesAreLeftAsIs() {
        for request in ["set k 0 0 1\r\nx\r\n", "set k 0 -1 1\r\nx\r\n", "set k 0 2592001 1\r\nx\r\n",
                        "set k 0 1700000500 1\r\nx\r\n", "touch k 0\r\n", "touch k -100\r\n", "gat 0 k\r\n",
                        "flush_all\r\n", "flush_all 0\r\n", "flush_all -5\r\n",
                        // memcached reads these as 32-bit values: -2147483648 and -1, both expired.
                        "set k 0 2147483648 1\r\nx\r\n", "set k 0 9223372036854775807 1\r\nx\r\n"] {
            #expect(absolute(request) == nil, "\(request.debugDescription)")
        }
    }

    @Test func aValueThatWrapsToARelativeOneIsRewrittenByWhatMemcachedReads() {
        // 2^32 + 10 is read as 10 seconds from now.
        #expect(absolute("touch k 4294967306\r\n") == "touch k 1700000010\r\n")
        #expect(MemcachedExpiry.effective(4_294_967_306) == 10)
        #expect(MemcachedExpiry.isRelative(1) && MemcachedExpiry.isRelative(2_592_000))
        #expect(!MemcachedExpiry.isRelative(0) && !MemcachedExpiry.isRelative(-1) && !MemcachedExpiry.isRelative(2_592_001))
    }

    @Test func appendPrependAndOtherCommandsNeedNothing() {
        for request in ["append k 0 60 1\r\nx\r\n", "prepend k 0 60 1\r\nx\r\n", "get k\r\n", "delete k\r\n",
                        "incr k 60\r\n", "mg k v R30\r\n", "mn\r\n", "me k\r\n", "verbosity 5\r\n", "bogus 5\r\n", "set k 0 60 3\r\nab"] {
            #expect(absolute(request) == nil, "\(request.debugDescription)")
        }
    }

    @Test func metaTAndNTokensBecomeAbsolute() {
        #expect(absolute("ms k 3 T60 F1 q\r\nabc\r\n") == "ms k 3 T1700000060 F1 q\r\nabc\r\n")
        #expect(absolute("mg k v T30 N5 R30\r\n") == "mg k v T1700000030 N1700000005 R30\r\n")
        #expect(absolute("ma k N10 J0 T0\r\n") == "ma k N1700000010 J0 T0\r\n")
        #expect(absolute("md k I T15\r\n") == "md k I T1700000015\r\n")
        #expect(absolute("mg Zm9v b T1\r\n") == "mg Zm9v b T1700000001\r\n")
    }

    @Test func metaZeroNegativeAbsoluteOrUnreadableTokensAreLeftAsIs() {
        for request in ["ms k 1 T0\r\nx\r\n", "ms k 1 T-1\r\nx\r\n", "mg k T1800000000\r\n", "mg k Tx\r\n",
                        "mg k v\r\n", "ma k N0\r\n", "mg k T\r\n"] {
            #expect(absolute(request) == nil, "\(request.debugDescription)")
        }
    }
}
