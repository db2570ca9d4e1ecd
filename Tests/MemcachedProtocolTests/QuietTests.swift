import Testing
import MemcachedProtocol

private func suppresses(_ command: MemcachedCommand, quiet: Bool = false, noreply: Bool = false, _ reply: String) -> Bool {
    b(reply).withUnsafeBytes { MemcachedQuiet.suppresses(command, quiet: quiet, noreply: noreply, reply: $0) }
}

/// The table memcached 1.6.18 follows (see the differential test for the check against it).
@Suite("MemcachedQuiet")
struct QuietTests {
    @Test func textNoreplyHidesEveryReplyErrorsIncluded() {
        for command: MemcachedCommand in [.set, .add, .replace, .append, .prepend, .cas, .delete, .incr, .decr, .touch, .flushAll, .verbosity] {
            for reply in ["STORED\r\n", "NOT_STORED\r\n", "EXISTS\r\n", "NOT_FOUND\r\n", "DELETED\r\n", "TOUCHED\r\n", "OK\r\n", "42\r\n",
                          "ERROR\r\n", "CLIENT_ERROR cannot increment or decrement non-numeric value\r\n",
                          "SERVER_ERROR object too large for cache\r\n"] {
                #expect(suppresses(command, noreply: true, reply), "\(command) \(reply.debugDescription)")
                #expect(!suppresses(command, reply))
            }
        }
    }

    @Test func metaGetHidesOnlyAMiss() {
        #expect(suppresses(.metaGet, quiet: true, "EN\r\n"))
        #expect(suppresses(.metaGet, quiet: true, "EN Oop kfoo\r\n"))
        #expect(!suppresses(.metaGet, quiet: true, "HD\r\n"))
        #expect(!suppresses(.metaGet, quiet: true, "VA 1 f0\r\nx\r\n"))
        #expect(!suppresses(.metaGet, quiet: true, "CLIENT_ERROR bad command line format\r\n"))
        #expect(!suppresses(.metaGet, "EN\r\n"))
    }

    @Test func metaSetAndDeleteHideOnlySuccess() {
        for command: MemcachedCommand in [.metaSet, .metaDelete] {
            #expect(suppresses(command, quiet: true, "HD\r\n"))
            #expect(suppresses(command, quiet: true, "HD c12 Oop\r\n"))
            for shown in ["NS\r\n", "EX\r\n", "NF\r\n", "CLIENT_ERROR bad data chunk\r\n", "SERVER_ERROR object too large for cache\r\n"] {
                #expect(!suppresses(command, quiet: true, shown), "\(command) \(shown.debugDescription)")
            }
            #expect(!suppresses(command, "HD\r\n"))
        }
    }

    @Test func metaArithmeticHidesSuccessWithOrWithoutItsValue() {
        #expect(suppresses(.metaArithmetic, quiet: true, "HD\r\n"))
        #expect(suppresses(.metaArithmetic, quiet: true, "VA 2 c5\r\n11\r\n"))
        for shown in ["NF\r\n", "NS\r\n", "EX\r\n", "CLIENT_ERROR cannot increment or decrement non-numeric value\r\n"] {
            #expect(!suppresses(.metaArithmetic, quiet: true, shown))
        }
    }

    @Test func noopDebugAndRetrievalHaveNoQuietMode() {
        #expect(!suppresses(.metaNoop, quiet: true, "MN\r\n"))
        #expect(!suppresses(.metaDebug, quiet: true, "EN\r\n"))
        #expect(!suppresses(.get, quiet: true, "END\r\n"))
        // A two-letter code must stand alone.
        #expect(!suppresses(.metaGet, quiet: true, "ENX\r\n"))
    }
}
