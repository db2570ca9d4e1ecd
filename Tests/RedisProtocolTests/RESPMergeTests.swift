import Foundation
import Testing
import RedisProtocol
import TestSupport

/// Bytes a merge appended after a sentinel prefix, or nil when it returned false; checks that a
/// false left `out` untouched.
private func merged(sourceLocation: SourceLocation = #_sourceLocation, _ merge: (inout [UInt8]) -> Bool) -> [UInt8]? {
    let sentinel = respBytes("prefix")
    var out = sentinel
    guard merge(&out) else {
        #expect(out == sentinel, "a failed merge wrote bytes", sourceLocation: sourceLocation)
        return nil
    }
    #expect(Array(out.prefix(sentinel.count)) == sentinel, sourceLocation: sourceLocation)
    return Array(out.dropFirst(sentinel.count))
}

private func r(_ parts: String...) -> [[UInt8]] { parts.map(respBytes) }

private func mget(_ parts: [[UInt8]], _ positions: [[Int]], _ count: Int) -> [UInt8]? {
    merged { RESPMerge.byPosition(parts, positions: positions, count: count, into: &$0) }
}

/// Whether `bytes` is exactly one complete reply.
private func framesWhole(_ bytes: [UInt8]) -> Bool {
    var framer = ReplyFramer()
    if case .reply(let length, _) = framer.frameBytes(bytes) { return length == bytes.count }
    return false
}

/// Random raw RESP values of every RESP2 and RESP3 kind, written byte by byte so that forms
/// `RESPValue` cannot encode (streamed strings and aggregates, attributes inside) appear too.
enum RESPMergeGenerator {
    static func element(depth: Int = 0, rng: inout SplitMix) -> [UInt8] {
        func line(_ type: String, _ text: String) -> [UInt8] { respBytes(type + text + "\r\n") }
        func blob(_ type: String, _ data: [UInt8]) -> [UInt8] { respBytes("\(type)\(data.count)\r\n") + data + respBytes("\r\n") }
        func children(_ n: Int) -> [UInt8] { (0 ..< n).flatMap { _ in element(depth: depth + 1, rng: &rng) } }
        let n = Int.random(in: 0 ... 3, using: &rng)
        switch Int.random(in: 0 ..< (depth < 3 ? 22 : 14), using: &rng) {
        case 0: return line("+", "OK")
        case 1: return line("-", "ERR inner error")
        case 2: return line(":", String(Int.random(in: Int.min ... Int.max, using: &rng)))
        case 3, 4: return blob("$", RESP2Generator.bytes(rng: &rng))
        case 5: return line("$", "-1")
        case 6: return line("*", "-1")
        case 7: return line("_", "")
        case 8: return line("#", Bool.random(using: &rng) ? "t" : "f")
        case 9: return line(",", "-3.25e10")
        case 10: return line("(", "3492890328409238509324850943850943825024385")
        case 11: return blob("=", respBytes("txt:") + RESP2Generator.bytes(rng: &rng))
        case 12: return blob("!", respBytes("SYNTAX invalid\r\nsyntax"))
        case 13: return respBytes("$?\r\n;4\r\nHell\r\n;2\r\n\r\n\r\n;0\r\n")
        case 14, 15: return line("*", String(n)) + children(n)
        case 16: return line("~", String(n)) + children(n)
        case 17: return line("%", String(n)) + children(2 * n)
        case 18: return line(">", String(n)) + children(n)
        case 19: return respBytes("*?\r\n") + children(n) + respBytes(".\r\n")
        case 20: return respBytes("%?\r\n") + children(2 * n) + respBytes(".\r\n")
        default: return line("|", String(n)) + children(2 * n) + element(depth: depth + 1, rng: &rng)
        }
    }

    /// A random MGET-like reply of `count` elements, split into `groups` parts by position:
    /// the original reply, the elements, and each part's positions.
    static func split(count: Int, groups: Int, rng: inout SplitMix) -> (whole: [UInt8], elements: [[UInt8]], positions: [[Int]]) {
        let elements = (0 ..< count).map { _ in element(rng: &rng) }
        var positions = [[Int]](repeating: [], count: groups)
        for p in 0 ..< count { positions[Int.random(in: 0 ..< groups, using: &rng)].append(p) }
        return (respBytes("*\(count)\r\n") + elements.flatMap { $0 }, elements, positions)
    }
}

@Suite("RESPMerge")
struct RESPMergeTests {
    @Test func byPositionInterleavesInClientOrder() {
        // MGET a b c d: a and d on one server, b and c on another.
        let parts = r("*2\r\n$1\r\nA\r\n$-1\r\n", "*2\r\n$2\r\nBB\r\n$0\r\n\r\n")
        #expect(mget(parts, [[0, 3], [1, 2]], 4) == respBytes("*4\r\n$1\r\nA\r\n$2\r\nBB\r\n$0\r\n\r\n$-1\r\n"))
        // RESP3 nulls, and a duplicate key (MGET a b a) answered twice by its server.
        #expect(mget(r("*2\r\n_\r\n_\r\n", "*1\r\n$1\r\nb\r\n"), [[0, 2], [1]], 3) == respBytes("*3\r\n_\r\n$1\r\nb\r\n_\r\n"))
        // A part holding no position answers an empty array; no parts at all give an empty array.
        #expect(mget(r("*0\r\n", "*1\r\n:1\r\n"), [[], [0]], 1) == respBytes("*1\r\n:1\r\n"))
        #expect(mget([], [], 0) == respBytes("*0\r\n"))
    }

    @Test func byPositionCopiesAnyElementWhole() {
        let nested = "*2\r\n%1\r\n+k\r\n*1\r\n=7\r\ntxt:a\r\n\r\n|1\r\n+ttl\r\n:3\r\n#t\r\n"
        let streamed = "$?\r\n;2\r\nab\r\n;0\r\n"
        let parts = r("*2\r\n" + nested + "*-1\r\n", "*3\r\n" + streamed + "(12345678901234567890\r\n,1.5\r\n")
        let expected = "*5\r\n" + nested + streamed + "(12345678901234567890\r\n" + ",1.5\r\n" + "*-1\r\n"
        #expect(mget(parts, [[0, 4], [1, 2, 3]], 5) == respBytes(expected))
    }

    @Test func byPositionTopLevelAttributesAndStreamedPartsAndSets() {
        let parts = r("|1\r\n+key-popularity\r\n%1\r\n$1\r\na\r\n,0.19\r\n*1\r\n$1\r\nx\r\n", "*?\r\n$1\r\ny\r\n_\r\n.\r\n")
        #expect(mget(parts, [[1], [0, 2]], 3) == respBytes("*3\r\n$1\r\ny\r\n$1\r\nx\r\n_\r\n"))
        #expect(mget(r("~1\r\n+a\r\n", "*1\r\n+b\r\n"), [[1], [0]], 2) == respBytes("~2\r\n+b\r\n+a\r\n"))
    }

    @Test func byPositionErrorsWinVerbatim() {
        let error = "-ERR max number of clients reached\r\n"
        #expect(mget(r("*1\r\n+a\r\n", error, "-LATER\r\n"), [[0], [1], [2]], 3) == respBytes(error))
        #expect(mget(r("!9\r\nERR x\r\nyz\r\n", error), [[0], [1]], 2) == respBytes("!9\r\nERR x\r\nyz\r\n"))
        // An error with an attribute is relayed with it; a wrong shape elsewhere does not matter.
        let annotated = "|1\r\n+a\r\n+b\r\n-MOVED 3999 127.0.0.1:6381\r\n"
        #expect(mget(r("*5\r\n", annotated), [[0], [1]], 2) == nil)
        #expect(mget(r("+OK\r\n", annotated), [[0], [1]], 2) == respBytes(annotated))
    }

    @Test func byPositionRefusesWrongShapes() {
        let ok = r("*1\r\n+a\r\n", "*1\r\n+b\r\n")
        #expect(mget(ok, [[0], [1]], 2) != nil)
        #expect(mget(ok, [[0, 1], [2]], 3) == nil)          // element count differs from positions
        #expect(mget(ok, [[0], [0]], 2) == nil)             // position held twice, 1 by nobody
        #expect(mget(ok, [[0], [1]], 3) == nil)             // position 2 answered by nobody
        #expect(mget(ok, [[0], [2]], 2) == nil)             // out of range
        #expect(mget(ok, [[0], [-1]], 2) == nil)
        #expect(mget(ok, [[0]], 1) == nil)                  // positions for fewer parts
        #expect(mget(ok, [[0], [1]], -1) == nil)
        #expect(mget(r("*1\r\n+a\r\n", "*-1\r\n"), [[0], [1]], 2) == nil)
        #expect(mget(r("*1\r\n+a\r\n", "+OK\r\n"), [[0], [1]], 2) == nil)
        #expect(mget(r("*1\r\n+a\r\n", "%1\r\n+b\r\n+c\r\n"), [[0], [1]], 2) == nil)
        #expect(mget(r("*1\r\n+a\r\n", ">1\r\n+b\r\n"), [[0], [1]], 2) == nil)     // a push is no reply
    }

    @Test func byPositionRefusesMalformedPartsEvenBesideAnError() {
        for bad in ["*2\r\n+a\r\n", "*1\r\n+a\r\n+b\r\n", "*1\r\n+a", "", "x\r\n", "*1\r\n$3\r\nab\r\n", "*01\r\n+a\r\n"] {
            #expect(mget(r("-ERR x\r\n", bad), [[0], [1]], 2) == nil, "\(bad)")
            #expect(mget(r(bad, "*1\r\n+a\r\n"), [[0], [1]], 2) == nil, "\(bad)")
        }
    }

    @Test(arguments: [1, 2, 3, 4, 5, 6, 7, 8] as [UInt64])
    func byPositionRoundTripsARandomSplit(seed: UInt64) {
        var rng = SplitMix(state: seed)
        for _ in 0 ..< 200 {
            let count = Int.random(in: 0 ... 25, using: &rng)
            let (whole, elements, positions) = RESPMergeGenerator.split(count: count, groups: Int.random(in: 1 ... 5, using: &rng), rng: &rng)
            #expect(framesWhole(whole))
            let parts = positions.map { ps -> [UInt8] in
                let body = ps.flatMap { elements[$0] }
                // Some parts come streamed, some behind an attribute: neither changes the merge.
                switch Int.random(in: 0 ..< 4, using: &rng) {
                case 0: return respBytes("*?\r\n") + body + respBytes(".\r\n")
                case 1: return respBytes("|1\r\n+a\r\n:1\r\n*\(ps.count)\r\n") + body
                default: return respBytes("*\(ps.count)\r\n") + body
                }
            }
            #expect(mget(parts, positions, count) == whole)

            // Contiguous groups concatenate back to the original too.
            var chunks: [[UInt8]] = []
            var start = 0
            while start < count {
                let end = Int.random(in: start + 1 ... count, using: &rng)
                chunks.append(respBytes("*\(end - start)\r\n") + elements[start ..< end].flatMap { $0 })
                start = end
            }
            #expect(merged { RESPMerge.concatenate(chunks, into: &$0) } == whole)
        }
    }

    @Test(arguments: [11, 12, 13, 14] as [UInt64])
    func malformedPartsAreRefusedWithoutTrapping(seed: UInt64) {
        var rng = SplitMix(state: seed)
        for _ in 0 ..< 150 {
            let count = Int.random(in: 1 ... 12, using: &rng)
            let (_, elements, positions) = RESPMergeGenerator.split(count: count, groups: 3, rng: &rng)
            var parts = positions.map { ps in respBytes("*\(ps.count)\r\n") + ps.flatMap { elements[$0] } }
            let victim = Int.random(in: 0 ..< parts.count, using: &rng)
            let original = parts[victim]
            // RESP is prefix-free: a cut reply is never a whole one; nor is one with bytes after it.
            parts[victim] = Array(original[0 ..< Int.random(in: 0 ..< original.count, using: &rng)])
            #expect(mget(parts, positions, count) == nil)
            #expect(merged { RESPMerge.concatenate(parts, into: &$0) } == nil)
            #expect(merged { RESPMerge.agreed(parts, into: &$0) } == nil)
            #expect(merged { RESPMerge.sum(parts, into: &$0) } == nil)
            parts[victim] = original + respBytes("+OK\r\n")
            #expect(mget(parts, positions, count) == nil)
            // Flipped bytes: anything may come out, but a merged reply is still one whole reply.
            parts[victim] = original
            for _ in 0 ..< 3 {
                parts[victim][Int.random(in: 0 ..< original.count, using: &rng)] = UInt8.random(in: 0 ... 255, using: &rng)
            }
            for result in [mget(parts, positions, count), merged { RESPMerge.concatenate(parts, into: &$0) },
                           merged { RESPMerge.agreed(parts, into: &$0) }, merged { RESPMerge.sum(parts, into: &$0) }] {
                if let result { #expect(framesWhole(result)) }
            }
            _ = parts[victim].withUnsafeBytes { RESPMerge.scanReply($0) }
        }
    }

    @Test func sumAddsIntegers() {
        #expect(merged { RESPMerge.sum(r(":1\r\n", ":0\r\n", ":41\r\n"), into: &$0) } == respBytes(":42\r\n"))
        #expect(merged { RESPMerge.sum(r(":-3\r\n", "|1\r\n+a\r\n+b\r\n:5\r\n"), into: &$0) } == respBytes(":2\r\n"))
        #expect(merged { RESPMerge.sum([], into: &$0) } == respBytes(":0\r\n"))
        #expect(merged { RESPMerge.sum(r(":1\r\n", "-ERR wrong\r\n", "-ERR second\r\n"), into: &$0) } == respBytes("-ERR wrong\r\n"))
        #expect(merged { RESPMerge.sum(r(":1\r\n", "+OK\r\n"), into: &$0) } == nil)
        #expect(merged { RESPMerge.sum(r(":1\r\n", "(5\r\n"), into: &$0) } == nil)
        #expect(merged { RESPMerge.sum(r(":1\r\n", ":x\r\n"), into: &$0) } == nil)
        #expect(merged { RESPMerge.sum(r(":1\r\n", ":01\r\n"), into: &$0) } == nil)
        #expect(merged { RESPMerge.sum(r(":\(Int.max)\r\n", ":1\r\n"), into: &$0) } == nil)
        #expect(merged { RESPMerge.sum(r(":1\r\n", ":2"), into: &$0) } == nil)
    }

    @Test func agreedRelaysTheCommonReplyOrTheFirstError() {
        #expect(merged { RESPMerge.agreed(r("+OK\r\n", "+OK\r\n"), into: &$0) } == respBytes("+OK\r\n"))
        #expect(merged { RESPMerge.agreed(r("+OK\r\n", "+QUEUED\r\n"), into: &$0) } == respBytes("+OK\r\n"))
        #expect(merged { RESPMerge.agreed(r("+OK\r\n", "-ERR a\r\n", "!1\r\nb\r\n"), into: &$0) } == respBytes("-ERR a\r\n"))
        #expect(merged { RESPMerge.agreed(r("+OK\r\n", "!1\r\nb\r\n"), into: &$0) } == respBytes("!1\r\nb\r\n"))
        #expect(merged { RESPMerge.agreed(r("+OK\r\n", "+OK"), into: &$0) } == nil)
        #expect(merged { RESPMerge.agreed(r("+OK\r\n", ">1\r\n+x\r\n"), into: &$0) } == nil)
        #expect(merged { RESPMerge.agreed([], into: &$0) } == nil)
    }

    @Test func concatenateJoinsArraysAndSets() {
        #expect(merged { RESPMerge.concatenate(r("*2\r\n$1\r\na\r\n$1\r\nb\r\n", "*0\r\n", "*1\r\n$1\r\nc\r\n"), into: &$0) }
            == respBytes("*3\r\n$1\r\na\r\n$1\r\nb\r\n$1\r\nc\r\n"))
        #expect(merged { RESPMerge.concatenate(r("~1\r\n+a\r\n", "*1\r\n+b\r\n", "~?\r\n+c\r\n.\r\n"), into: &$0) } == respBytes("~3\r\n+a\r\n+b\r\n+c\r\n"))
        #expect(merged { RESPMerge.concatenate(r("*-1\r\n", "|1\r\n+a\r\n+b\r\n*1\r\n+c\r\n"), into: &$0) } == respBytes("*1\r\n+c\r\n"))
        #expect(merged { RESPMerge.concatenate([], into: &$0) } == respBytes("*0\r\n"))
        #expect(merged { RESPMerge.concatenate(r("*1\r\n+a\r\n", "-ERR x\r\n"), into: &$0) } == respBytes("-ERR x\r\n"))
        #expect(merged { RESPMerge.concatenate(r("*1\r\n+a\r\n", "+OK\r\n"), into: &$0) } == nil)
        #expect(merged { RESPMerge.concatenate(r("*1\r\n+a\r\n", "%0\r\n"), into: &$0) } == nil)
        #expect(merged { RESPMerge.concatenate(r("*1\r\n+a\r\n", "~-1\r\n"), into: &$0) } == nil)
    }

    private func scan(_ s: String) -> (cursor: UInt64, keys: String)? {
        let bytes = respBytes(s)
        guard let (cursor, keys) = bytes.withUnsafeBytes({ RESPMerge.scanReply($0) }) else { return nil }
        return (cursor, String(decoding: bytes[keys], as: UTF8.self))
    }

    @Test func scanReplyFindsCursorAndKeys() {
        let keys = "*2\r\n$1\r\na\r\n$3\r\nb\r\n\r\n"
        #expect(scan("*2\r\n$2\r\n17\r\n" + keys).map { [String($0.cursor), $0.keys] } == ["17", keys])
        #expect(scan("*2\r\n$1\r\n0\r\n*0\r\n").map { [String($0.cursor), $0.keys] } == ["0", "*0\r\n"])
        #expect(scan("*2\r\n$20\r\n18446744073709551615\r\n*0\r\n")?.cursor == UInt64.max)
        #expect(scan("|1\r\n+a\r\n+b\r\n*2\r\n$1\r\n5\r\n*?\r\n+k\r\n.\r\n").map { [String($0.cursor), $0.keys] } == ["5", "*?\r\n+k\r\n.\r\n"])
        for bad in ["*2\r\n$20\r\n18446744073709551616\r\n*0\r\n", "*2\r\n$0\r\n\r\n*0\r\n", "*2\r\n$2\r\n1a\r\n*0\r\n",
                    "*2\r\n$2\r\n-1\r\n*0\r\n", "*2\r\n:1\r\n*0\r\n", "*2\r\n$-1\r\n*0\r\n", "*3\r\n$1\r\n0\r\n*0\r\n+x\r\n",
                    "*2\r\n$1\r\n0\r\n*-1\r\n", "*2\r\n$1\r\n0\r\n~0\r\n", "*2\r\n$1\r\n0\r\n+x\r\n", "*2\r\n$1\r\n0\r\n*0\r\n+x\r\n",
                    "*2\r\n$1\r\n0\r\n*1\r\n", "-ERR x\r\n", "*?\r\n$1\r\n0\r\n*0\r\n.\r\n", "", "*2\r\n$21\r\n000000000000000000001\r\n*0\r\n"] {
            #expect(scan(bad) == nil, "\(bad)")
        }
    }

    @Test func scanReplyWritesWhatItReads() {
        let keys = respBytes("*1\r\n$1\r\nk\r\n")
        for cursor: UInt64 in [0, 9, 10, 1234, UInt64(Int.max) + 1, UInt64.max] {
            var out: [UInt8] = []
            keys.withUnsafeBytes { RESPMerge.scanReply(cursor: cursor, keys: $0, into: &out) }
            #expect(out == respBytes("*2\r\n$\(String(cursor).utf8.count)\r\n\(cursor)\r\n") + keys)
            let parsed = out.withUnsafeBytes { RESPMerge.scanReply($0) }
            #expect(parsed?.cursor == cursor)
            #expect(parsed.map { Array(out[$0.keys]) } == keys)
        }
    }
}

/// The merge of what a real redis-server answers to random splits of a multi-key command equals
/// what it answers to the whole command, in RESP2 and RESP3 (skipped without redis-server).
@Suite("RESPMerge against redis-server", .enabled(if: CommandTableRealRedisTests.redisServer != nil), .timeLimit(.minutes(1)))
struct RESPMergeRealRedisTests {
    /// A blocking connection that frames each reply with `ReplyFramer`.
    final class Connection {
        let fd: Int32
        var buffer: [UInt8] = []

        init(port: Int) throws {
            fd = try LoopbackSocket.connect(port: port)
        }

        deinit { close(fd) }

        func call(_ args: [[UInt8]]) throws -> [UInt8] {
            try write(respMultibulk(args))
            return try reply()
        }

        /// Sends raw bytes (several requests at once, for a pipeline); `reply` reads their replies.
        func write(_ bytes: [UInt8]) throws {
            var sent = 0
            while sent < bytes.count {
                let n = bytes.withUnsafeBytes { send(fd, $0.baseAddress! + sent, $0.count - sent, Int32(MSG_NOSIGNAL)) }
                guard n > 0 else { throw POSIXError(.EPIPE) }
                sent += n
            }
        }

        /// The next whole reply.
        func reply() throws -> [UInt8] {
            var framer = ReplyFramer()
            while true {
                if case .reply(let length, _) = framer.frameBytes(buffer) {
                    defer { buffer.removeFirst(length) }
                    return Array(buffer[0 ..< length])
                }
                var chunk = [UInt8](repeating: 0, count: 65536)
                let n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress!, $0.count, 0) }
                guard n > 0 else { throw POSIXError(.ETIMEDOUT) }
                buffer += chunk[0 ..< n]
            }
        }

        func call(_ words: String...) throws -> [UInt8] { try call(words.map(respBytes)) }
    }

    @Test(arguments: [2, 3])
    func splitCommandsMergeToTheWholeCommand(protocolVersion: Int) throws {
        let port = Int(try ChildProcess.freePort())
        let server = Process()
        server.executableURL = URL(fileURLWithPath: CommandTableRealRedisTests.redisServer!)
        server.arguments = ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
        server.standardOutput = FileHandle.nullDevice
        server.standardError = FileHandle.nullDevice
        try server.run()
        // SIGKILL by pid, as in `CommandTableRealRedisTests`: SIGTERM may be blocked in the child.
        defer {
            kill(server.processIdentifier, SIGKILL)
            server.waitUntilExit()
        }
        var connection: Connection?
        for _ in 0 ..< 100 where connection == nil {
            connection = try? Connection(port: port)
            if connection == nil { usleep(50_000) }
        }
        let redis = try #require(connection)
        // HELLO answers a map in RESP3, a flat array in RESP2: the replies below are in that protocol.
        #expect(try redis.call("HELLO", String(protocolVersion)).first == (protocolVersion == 3 ? RESPType.map : RESPType.array))
        let universe = (0 ..< 10).map { "k\($0)" }
        let binary = (0 ... 255).map { UInt8($0) } + respBytes("\r\n*1\r\n")
        #expect(try redis.call([respBytes("MSET"), respBytes("k0"), binary, respBytes("k1"), [], respBytes("k3"), respBytes("x")]) == respBytes("+OK\r\n"))
        _ = try redis.call("RPUSH", "k5", "a")   // MGET answers a null for a key of another type

        var rng = SplitMix(state: UInt64(protocolVersion))
        for _ in 0 ..< 100 {
            let request = (0 ..< Int.random(in: 1 ... 12, using: &rng)).map { _ in universe.randomElement(using: &rng)! }
            let servers = Int.random(in: 1 ... 4, using: &rng)
            let serverOf = Dictionary(uniqueKeysWithValues: universe.map { ($0, Int.random(in: 0 ..< servers, using: &rng)) })
            var keys = [[String]](repeating: [], count: servers)
            var positions = [[Int]](repeating: [], count: servers)
            for (p, key) in request.enumerated() {
                keys[serverOf[key]!].append(key)
                positions[serverOf[key]!].append(p)
            }
            let groups = keys.indices.filter { !keys[$0].isEmpty }
            func parts(_ command: String) throws -> [[UInt8]] {
                try groups.map { try redis.call(([command] + keys[$0]).map(respBytes)) }
            }
            let whole = try redis.call((["MGET"] + request).map(respBytes))
            #expect(mget(try parts("MGET"), groups.map { positions[$0] }, request.count) == whole, "MGET \(request)")
            let existsParts = try parts("EXISTS")
            #expect(merged { RESPMerge.sum(existsParts, into: &$0) } == (try redis.call((["EXISTS"] + request).map(respBytes))), "EXISTS \(request)")
        }
        // An error from one server is relayed as it sent it.
        let error = try redis.call("INCR", "k5")
        #expect(error.first == RESPType.error)
        let deleted = [try redis.call("DEL", "k9"), error]
        #expect(merged { RESPMerge.sum(deleted, into: &$0) } == error)
        let set = [try redis.call("SET", "k9", "v"), try redis.call("SET", "k8", "v")]
        #expect(merged { RESPMerge.agreed(set, into: &$0) } == respBytes("+OK\r\n"))
        let del = [try redis.call("DEL", "k9"), try redis.call("DEL", "k8", "k9")]
        #expect(merged { RESPMerge.sum(del, into: &$0) } == respBytes(":2\r\n"))
        // SCAN replies parse, and rebuild byte for byte.
        let scan = try redis.call("SCAN", "0", "COUNT", "3")
        let parsed = try #require(scan.withUnsafeBytes { RESPMerge.scanReply($0) })
        var rebuilt: [UInt8] = []
        scan[parsed.keys].withUnsafeBytes { RESPMerge.scanReply(cursor: parsed.cursor, keys: $0, into: &rebuilt) }
        #expect(rebuilt == scan)
    }
}
