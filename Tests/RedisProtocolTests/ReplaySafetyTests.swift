import RedisProtocol
import Testing

@Suite("ReplaySafety")
struct ReplaySafetyTests {
    func safe(_ args: String...) -> Bool {
        var frame = "*\(args.count)\r\n"
        for a in args { frame += "$\(a.utf8.count)\r\n\(a)\r\n" }
        return Array(frame.utf8).withUnsafeBytes { ReplaySafety.isSafeToRepeat($0) }
    }

    @Test func idempotentWritesAreSafe() {
        #expect(safe("SET", "k", "v"))
        #expect(safe("set", "k", "v", "PXAT", "1700000000000"))
        #expect(safe("DEL", "a", "b"))
        #expect(safe("HSET", "h", "f", "v"))
        #expect(safe("SADD", "s", "m"))
        #expect(safe("ZADD", "z", "1", "m"))
        #expect(safe("PEXPIREAT", "k", "1700000000000"))
        #expect(safe("MSET", "a", "1", "b", "2"))
        #expect(safe("SREM", "s", "m"))
    }

    @Test func writesThatChangeTheDataAgainAreNot() {
        for name in ["INCR", "incrby", "DECR", "APPEND", "LPUSH", "RPUSH", "HINCRBY", "ZINCRBY", "LPOP", "EVAL", "PUBLISH", "XADD"] {
            #expect(!safe(name, "k", "1"), "\(name)")
        }
    }

    @Test func unknownAndMalformedFramesAreNot() {
        #expect(!safe("MODULE.SOMETHING", "k"))
        #expect(!Array("GARBAGE\r\n".utf8).withUnsafeBytes { ReplaySafety.isSafeToRepeat($0) })
        #expect(!Array("*1\r\n$9\r\nSET\r\n".utf8).withUnsafeBytes { ReplaySafety.isSafeToRepeat($0) })
        #expect(![UInt8]().withUnsafeBytes { ReplaySafety.isSafeToRepeat($0) })
    }
}
