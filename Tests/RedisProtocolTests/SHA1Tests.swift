import Foundation
import Testing
import RedisProtocol
import TestSupport

@Suite struct SHA1Tests {
    /// FIPS 180-2 appendix A and the NIST example vectors.
    @Test(arguments: [
        ("", "da39a3ee5e6b4b0d3255bfef95601890afd80709"),
        ("abc", "a9993e364706816aba3e25717850c26c9cd0d89d"),
        ("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq", "84983e441c3bd26ebaae4aa1f95129e5e54670f1"),
        ("abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu",
         "a49b2446a02c645bf419f995b67091253a04a259"),
        ("The quick brown fox jumps over the lazy dog", "2fd4e1c67a2d28fced849ee1bb76e7391b93eb12"),
    ])
    func fipsVectors(message: String, expected: String) {
        #expect(SHA1.hex(Array(message.utf8)) == expected)
        #expect(SHA1.hex(message.utf8) == expected)
    }

    @Test func oneMillionAs() {
        #expect(SHA1.hex([UInt8](repeating: UInt8(ascii: "a"), count: 1_000_000)) == "34aa973cd4c4daa4f61eeb2bdbad27316534016f")
    }

    /// The same digest whatever collection holds the bytes (contiguous or not).
    @Test func collectionsAgree() {
        var random = SplitMix(state: 7)
        for length in [0, 1, 55, 56, 63, 64, 65, 119, 120, 128, 1000] {
            let bytes = (0 ..< length).map { _ in UInt8.random(in: 0 ... 255, using: &random) }
            let expected = SHA1.hex(bytes)
            #expect(bytes.withUnsafeBytes { SHA1.digest($0).hex } == expected)
            #expect(SHA1.hex(bytes.lazy.map { $0 }) == expected)
            #expect(SHA1.hex(bytes[...]) == expected)
        }
    }

    @Test func digestHexRoundTrips() throws {
        let digest = SHA1.digest(Array("abc".utf8))
        #expect(SHA1.Digest(hex: Array(digest.hex.utf8)) == digest)
        #expect(SHA1.Digest(hex: Array(digest.hex.uppercased().utf8)) == digest)
        #expect(SHA1.Digest(hex: Array("a9993e364706816aba3e25717850c26c9cd0d89d".utf8))?.h4 == 0x9cd0_d89d)
        #expect(SHA1.Digest(hex: Array("a9993e364706816aba3e25717850c26c9cd0d89".utf8)) == nil)
        #expect(SHA1.Digest(hex: Array("a9993e364706816aba3e25717850c26c9cd0d89dd".utf8)) == nil)
        #expect(SHA1.Digest(hex: Array("g9993e364706816aba3e25717850c26c9cd0d89d".utf8)) == nil)
        #expect(SHA1.Digest(hex: Array("".utf8)) == nil)
    }
}

/// What a real redis-server's `SCRIPT LOAD` answers for bodies of every length around the block
/// boundaries, holding any byte, equals `SHA1.hex` (skipped without redis-server).
@Suite("SHA1 against redis-server", .enabled(if: CommandTableRealRedisTests.redisServer != nil), .timeLimit(.minutes(1)))
struct SHA1RealRedisTests {
    @Test func scriptLoadAnswersTheDigest() throws {
        let server = try RedisTestServer()
        defer { server.stop() }
        let redis = try RESPMergeRealRedisTests.Connection(port: server.port)
        var random = SplitMix(state: 2024)
        // A Lua comment holds any byte but a line break: every body is a valid script.
        let commentBytes = (0 ... 255).map(UInt8.init).filter { $0 != 10 && $0 != 13 }
        for length in Array(0 ..< 140) + [500, 4096, 65_537] {
            let body = Array("return 1 --".utf8) + (0 ..< length).map { _ in commentBytes.randomElement(using: &random)! }
            let reply = try redis.call([Array("SCRIPT".utf8), Array("LOAD".utf8), body])
            #expect(reply == Array("$40\r\n\(SHA1.hex(body))\r\n".utf8), "body of \(body.count) bytes")
        }
    }
}

