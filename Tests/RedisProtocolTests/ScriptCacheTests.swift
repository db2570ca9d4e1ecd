import Testing
import RedisProtocol
import TestSupport

@Suite struct ScriptCacheTests {
    private func bytes(_ s: String) -> [UInt8] { Array(s.utf8) }
    private func sha(_ s: String) -> [UInt8] { Array(SHA1.hex(Array(s.utf8)).utf8) }

    @Test func learnsBodiesByTheirDigest() {
        var cache = ScriptCache()
        let digest = cache.learn(bytes("return 1"))
        #expect(digest == SHA1.digest(bytes("return 1")))
        #expect(cache.body(sha: sha("return 1")) == bytes("return 1"))
        #expect(cache.body(sha: Array(SHA1.hex(bytes("return 1")).uppercased().utf8)) == bytes("return 1"))
        #expect(cache.body(digest: digest) == bytes("return 1"))
        #expect(cache.body(sha: sha("return 2")) == nil)
        #expect(cache.body(sha: bytes("not a digest")) == nil)
        #expect(cache.count == 1)
        #expect(cache.bytes == 8)
    }

    @Test func aBodyLearnedTwiceIsKeptOnce() {
        var cache = ScriptCache()
        cache.learn(bytes("return 1"))
        cache.learn(bytes("return 1")[...])
        #expect(cache.count == 1)
        #expect(cache.bytes == 8)
    }

    @Test func theLeastRecentlyUsedGoesFirstWhenFull() {
        var cache = ScriptCache(maxScripts: 3, maxBytes: 1 << 20)
        for s in ["return 'a'", "return 'b'", "return 'c'"] { cache.learn(bytes(s)) }
        // Looking up 'a' and learning 'b' again make 'c' the oldest.
        #expect(cache.body(sha: sha("return 'a'")) != nil)
        cache.learn(bytes("return 'b'"))
        cache.learn(bytes("return 'd'"))
        #expect(cache.count == 3)
        #expect(cache.body(sha: sha("return 'c'")) == nil)
        for s in ["return 'a'", "return 'b'", "return 'd'"] { #expect(cache.body(sha: sha(s)) == bytes(s)) }
    }

    @Test func bodiesAreBoundedInBytes() {
        var cache = ScriptCache(maxScripts: 100, maxBytes: 25)
        cache.learn(bytes("return 100")) // 10 bytes
        cache.learn(bytes("return 200")) // 10 bytes
        cache.learn(bytes("return 3000")) // 11: the first must go
        #expect(cache.bytes == 21)
        #expect(cache.body(sha: sha("return 100")) == nil)
        #expect(cache.body(sha: sha("return 200")) != nil)
        // Larger than the whole cache: not kept, and nothing else is evicted for it.
        let huge = String(repeating: "x", count: 26)
        cache.learn(bytes(huge))
        #expect(cache.body(sha: sha(huge)) == nil)
        #expect(cache.count == 2)
        #expect(cache.bytes == 21)
    }

    @Test func removeAllAndSyncForget() {
        var cache = ScriptCache()
        cache.learn(bytes("return 1"))
        cache.removeAll()
        #expect(cache.count == 0 && cache.bytes == 0)
        #expect(cache.body(sha: sha("return 1")) == nil)
        // Usable again after a flush.
        cache.learn(bytes("return 1"))
        cache.sync(flushes: 0)
        #expect(cache.count == 1)
        cache.sync(flushes: 1)
        #expect(cache.count == 0)
        cache.learn(bytes("return 2"))
        cache.sync(flushes: 1)
        #expect(cache.body(sha: sha("return 2")) == bytes("return 2"))
    }

    /// Random learns and lookups against a plain model (a recency-ordered list): the cache holds
    /// exactly the model's scripts, within both bounds.
    @Test(arguments: [(3, 1 << 20), (50, 200), (8, 60)])
    func matchesAModel(maxScripts: Int, maxBytes: Int) {
        var random = SplitMix(state: UInt64(maxScripts * 7919 + maxBytes))
        var cache = ScriptCache(maxScripts: maxScripts, maxBytes: maxBytes)
        var model: [[UInt8]] = [] // oldest first
        let universe = (0 ..< 40).map { i in bytes("return '\(String(repeating: "v", count: i % 13))\(i)'") }
        for step in 0 ..< 3000 {
            let body = universe.randomElement(using: &random)!
            if Bool.random(using: &random) {
                cache.learn(body)
                if let i = model.firstIndex(of: body) {
                    model.remove(at: i)
                    model.append(body)
                } else if body.count <= maxBytes {
                    while model.count >= maxScripts || model.reduce(0, { $0 + $1.count }) + body.count > maxBytes {
                        model.removeFirst()
                    }
                    model.append(body)
                }
            } else {
                let found = cache.body(sha: Array(SHA1.hex(body).utf8))
                #expect(found == (model.contains(body) ? body : nil), "step \(step)")
                if let i = model.firstIndex(of: body) {
                    model.remove(at: i)
                    model.append(body)
                }
            }
            #expect(cache.count == model.count)
            #expect(cache.bytes == model.reduce(0) { $0 + $1.count })
            #expect(cache.count <= maxScripts && cache.bytes <= maxBytes)
            if step == 1500 {
                cache.removeAll()
                model.removeAll()
            }
        }
    }
}

@Suite struct ScriptFramesTests {
    private func isNoScript(_ s: String) -> Bool { Array(s.utf8).withUnsafeBytes { ScriptFrames.isNoScript($0) } }

    @Test func recognisesNoScript() {
        #expect(isNoScript("-NOSCRIPT No matching script. Please use EVAL.\r\n"))
        #expect(isNoScript("!47\r\nNOSCRIPT No matching script. Please use EVAL.\r\n"))
        #expect(!isNoScript("-ERR unknown command\r\n"))
        #expect(!isNoScript("-NOSCRIP\r\n"))
        #expect(!isNoScript("+NOSCRIPT\r\n"))
        #expect(!isNoScript("$8\r\nNOSCRIPT\r\n"))
        #expect(!isNoScript(""))
    }

    @Test func loadFrame() {
        #expect(ScriptFrames.load(body: Array("return 1".utf8)) == Array("*3\r\n$6\r\nSCRIPT\r\n$4\r\nLOAD\r\n$8\r\nreturn 1\r\n".utf8))
    }
}

/// `ScriptFrames` against what a real redis-server sends and takes (skipped without redis-server).
@Suite("ScriptFrames against redis-server", .enabled(if: CommandTableRealRedisTests.redisServer != nil), .timeLimit(.minutes(1)))
struct ScriptFramesRealRedisTests {
    @Test(arguments: [2, 3])
    func noScriptThenLoadThenRun(protocolVersion: Int) throws {
        let server = try RedisTestServer()
        defer { server.stop() }
        let redis = try RESPMergeRealRedisTests.Connection(port: server.port)
        _ = try redis.call("HELLO", String(protocolVersion))
        let body = Array("return ARGV[1] .. '!'".utf8)
        let sha = SHA1.hex(body)
        let missing = try redis.call("EVALSHA", sha, "0", "hi")
        #expect(missing.withUnsafeBytes { ScriptFrames.isNoScript($0) })
        // An error other than NOSCRIPT is not mistaken for it.
        let other = try redis.call("EVALSHA", sha, "notanumber", "hi")
        #expect(other.first == RESPType.error && !other.withUnsafeBytes { ScriptFrames.isNoScript($0) })
        try redis.write(ScriptFrames.load(body: body))
        #expect(try redis.reply() == Array("$40\r\n\(sha)\r\n".utf8))
        #expect(try redis.call("EVALSHA", sha, "0", "hi") == Array("$3\r\nhi!\r\n".utf8))
    }
}
