import Testing
import MemcachedProtocol
import TestSupport

/// The merge of `parts` (strings) for the given per-part keys, as a string, or nil when it
/// returned false; checks that a false left `out` untouched.
private func merge(_ parts: [String], _ keys: [[String]], _ positions: [[Int]], sourceLocation: SourceLocation = #_sourceLocation) -> String? {
    merge(parts.map(b), keys, positions, sourceLocation: sourceLocation).map { String(decoding: $0, as: UTF8.self) }
}

private func merge(_ parts: [[UInt8]], _ keys: [[String]], _ positions: [[Int]], sourceLocation: SourceLocation = #_sourceLocation) -> [UInt8]? {
    let sentinel = b("prefix")
    var out = sentinel
    guard MemcachedGetMerge.merge(parts, keys: keys.map { $0.map(b) }, positions: positions, into: &out) else {
        #expect(out == sentinel, "a failed merge wrote bytes", sourceLocation: sourceLocation)
        return nil
    }
    return Array(out.dropFirst(sentinel.count))
}

private func value(_ key: String, _ data: String, flags: UInt32 = 0, cas: UInt64? = nil) -> String {
    "VALUE \(key) \(flags) \(data.utf8.count)" + (cas.map { " \($0)" } ?? "") + "\r\n\(data)\r\n"
}

@Suite("MemcachedGetMerge")
struct MemcachedGetMergeTests {
    @Test func hitsComeOutInClientOrder() {
        // get a b c d: a and d on one server, b and c on another; c misses.
        let parts = [value("a", "1") + value("d", "4") + "END\r\n", value("b", "2") + "END\r\n"]
        #expect(merge(parts, [["a", "d"], ["b", "c"]], [[0, 3], [1, 2]]) == value("a", "1") + value("b", "2") + value("d", "4") + "END\r\n")
    }

    @Test func duplicateKeysAreAnsweredAtEachPosition() {
        // get a b a, split as [a, a] and [b].
        let parts = [value("a", "x") + value("a", "x") + "END\r\n", value("b", "y") + "END\r\n"]
        #expect(merge(parts, [["a", "a"], ["b"]], [[0, 2], [1]]) == value("a", "x") + value("b", "y") + value("a", "x") + "END\r\n")
        // get a b a b c b, split as [a, a, c] and [b, b, b]: c misses.
        let parts2 = [value("a", "x") + value("a", "x") + "END\r\n", value("b", "y") + value("b", "y") + value("b", "y") + "END\r\n"]
        #expect(merge(parts2, [["a", "a", "c"], ["b", "b", "b"]], [[0, 2, 4], [1, 3, 5]])
            == value("a", "x") + value("b", "y") + value("a", "x") + value("b", "y") + value("b", "y") + "END\r\n")
    }

    @Test func allMissesAndNoParts() {
        #expect(merge(["END\r\n", "END\r\n"], [["a"], ["b", "c"]], [[1], [0, 2]]) == "END\r\n")
        #expect(merge([String](), [], []) == "END\r\n")
    }

    @Test func dataIsTakenByItsDeclaredLength() {
        let tricky = "\r\nEND\r\nVALUE b 0 1\r\nz\r\n"
        let parts = [value("a", tricky, flags: 7) + "END\r\n", value("b", "END\r\n") + "END\r\n"]
        #expect(merge(parts, [["a"], ["b"]], [[1], [0]]) == value("b", "END\r\n") + value("a", tricky, flags: 7) + "END\r\n")
        // Binary data, every byte value, and an empty value.
        let binary = (0 ... 255).map { UInt8($0) } + b("\r\nEND\r\n")
        let part = b("VALUE k 1 \(binary.count)\r\n") + binary + b("\r\nVALUE e 2 0\r\n\r\nEND\r\n")
        #expect(merge([part, b("END\r\n")], [["k", "e"], ["m"]], [[0, 2], [1]]) == Array(part))
    }

    @Test func getsCasIsKept() {
        let parts = [value("a", "1", flags: 4294967295, cas: 18446744073709551615) + "END\r\n", value("b", "2", cas: 5) + "END\r\n"]
        #expect(merge(parts, [["a"], ["b"]], [[1], [0]])
            == value("b", "2", cas: 5) + value("a", "1", flags: 4294967295, cas: 18446744073709551615) + "END\r\n")
    }

    @Test func errorsAreRelayedVerbatim() {
        let hit = value("a", "1") + "END\r\n"
        for error in ["SERVER_ERROR out of memory\r\n", "CLIENT_ERROR bad command line format\r\n", "ERROR\r\n",
                      value("b", "2") + "SERVER_ERROR out of memory writing get response\r\n"] {
            #expect(merge([hit, error], [["a"], ["b"]], [[0], [1]]) == error)
        }
        // The first error part, whichever part it is; misses and hits elsewhere do not matter then.
        #expect(merge(["END\r\n", "ERROR\r\n", "SERVER_ERROR busy\r\n"], [["a"], ["b"], ["c"]], [[0], [1], [2]]) == "ERROR\r\n")
        #expect(merge([hit, "SERVER_ERROR busy\r\n", "ERROR\r\n"], [["a"], ["b"], ["c"]], [[0], [1], [2]]) == "SERVER_ERROR busy\r\n")
    }

    @Test func malformedPartsAreRefused() {
        let keys = [["a", "b"], ["c"]]
        let positions = [[0, 2], [1]]
        let ok = value("a", "1") + value("b", "2") + "END\r\n"
        #expect(merge([ok, "END\r\n"], keys, positions) != nil)
        for bad in [
            value("x", "1") + "END\r\n",                        // a key not requested
            value("b", "2") + value("a", "1") + "END\r\n",      // out of request order
            value("a", "1") + value("a", "1") + "END\r\n",      // more answers than asked
            value("a", "1") + value("b", "2"),                  // no END
            value("a", "1") + "END\r\nEND\r\n",                 // trailing bytes
            "VALUE a 0 5\r\n1\r\nEND\r\n",                      // data shorter than declared
            "VALUE a 0 1\r\n1\r\n\r\nEND\r\n",
            "VALUE a 0\r\n1\r\nEND\r\n", "VALUE  a 0 1\r\n1\r\nEND\r\n", "VALUE a 0 1\n1\r\nEND\r\n",
            "STORED\r\n", "STAT pid 1\r\nEND\r\n", "VA 1\r\nx\r\n", "12\r\n", "", "END",
        ] {
            #expect(merge([bad, "END\r\n"], keys, positions) == nil, "\(bad)")
            // Malformed beats an error elsewhere: that server's stream is out of step.
            #expect(merge([bad, "SERVER_ERROR x\r\n"], keys, positions) == nil, "\(bad)")
        }
        // The three arrays must agree in shape.
        #expect(merge([ok, "END\r\n"], [["a", "b"]], positions) == nil)
        #expect(merge([ok, "END\r\n"], keys, [[0, 2]]) == nil)
        #expect(merge([ok, "END\r\n"], [["a", "b"], ["c", "d"]], positions) == nil)
    }

    /// What one server holding every key answers to the whole get equals the merge of what the
    /// servers holding a random split of the keys answer.
    @Test(arguments: [1, 2, 3, 4] as [UInt64])
    func mergeEqualsTheSingleServerReply(seed: UInt64) {
        var rng = SplitMix(state: seed)
        let universe = (0 ..< 8).map { "key\($0)" }
        for _ in 0 ..< 300 {
            // Each key hits or misses, with data that may look like protocol.
            var stored: [String: [UInt8]] = [:]
            for key in universe where Bool.random(using: &rng) {
                stored[key] = Bool.random(using: &rng)
                    ? b("END\r\nVALUE \(key) 0 1\r\n")
                    : (0 ..< Int.random(in: 0 ... 40, using: &rng)).map { _ in UInt8.random(in: 0 ... 255, using: &rng) }
            }
            func reply(_ keys: [String]) -> [UInt8] {
                var out: [UInt8] = []
                for key in keys {
                    guard let data = stored[key] else { continue }
                    out += b("VALUE \(key) 3 \(data.count)\r\n") + data + b("\r\n")
                }
                return out + b("END\r\n")
            }
            let request = (0 ..< Int.random(in: 0 ... 12, using: &rng)).map { _ in universe.randomElement(using: &rng)! }
            // A key's server is fixed by the key, as in a real shard map.
            let servers = Int.random(in: 1 ... 4, using: &rng)
            let serverOf = Dictionary(uniqueKeysWithValues: universe.map { ($0, Int.random(in: 0 ..< servers, using: &rng)) })
            var keys = [[String]](repeating: [], count: servers)
            var positions = [[Int]](repeating: [], count: servers)
            for (p, key) in request.enumerated() {
                keys[serverOf[key]!].append(key)
                positions[serverOf[key]!].append(p)
            }
            #expect(merge(keys.map(reply), keys, positions) == reply(request))
        }
    }
}

/// The merge of what a real memcached answers to random splits of a get equals what it answers
/// to the whole get (skipped without memcached, see `MemcachedServer`).
@Suite("MemcachedGetMerge against memcached", .enabled(if: MemcachedServer.binary != nil), .timeLimit(.minutes(1)))
struct MemcachedGetMergeDifferentialTests {
    @Test(arguments: ["get", "gets", "gat 0", "gats 0"])
    func splitGetsMergeToTheWholeGet(command: String) throws {
        let server = try MemcachedServer()
        defer { server.stop() }
        let connection = try server.client()
        let universe = (0 ..< 10).map { "k\($0)" }
        // Six keys stored, four missing; data that looks like protocol, binary, empty.
        let stored: [(String, [UInt8])] = [
            ("k0", b("hello")), ("k2", b("\r\nEND\r\nVALUE k3 0 1\r\nx\r\n")), ("k3", []), ("k5", (0 ... 255).map { UInt8($0) }),
            ("k7", b("END\r\n")), ("k8", Array(repeating: 0x7A, count: 100_000)),
        ]
        for (i, (key, data)) in stored.enumerated() {
            let reply = try connection.exchange(b("set \(key) \(i * 1000) 0 \(data.count)\r\n") + data + b("\r\n"))
            #expect(reply == [b("STORED\r\n")])
        }
        var rng = SplitMix(state: UInt64(command.utf8.count))
        for _ in 0 ..< 100 {
            let request = (0 ..< Int.random(in: 1 ... 12, using: &rng)).map { _ in universe.randomElement(using: &rng)! }
            let whole = try connection.exchange(b("\(command) \(request.joined(separator: " "))\r\n"))
            let servers = Int.random(in: 1 ... 4, using: &rng)
            let serverOf = Dictionary(uniqueKeysWithValues: universe.map { ($0, Int.random(in: 0 ..< servers, using: &rng)) })
            var keys = [[String]](repeating: [], count: servers)
            var positions = [[Int]](repeating: [], count: servers)
            for (p, key) in request.enumerated() {
                keys[serverOf[key]!].append(key)
                positions[serverOf[key]!].append(p)
            }
            // A real proxy sends no sub-request for a group without keys; an empty get is an error.
            let groups = keys.indices.filter { !keys[$0].isEmpty }
            var parts: [[UInt8]] = []
            for g in groups {
                let replies = try connection.exchange(b("\(command) \(keys[g].joined(separator: " "))\r\n"))
                #expect(replies.count == 1)
                parts.append(replies.first ?? [])
            }
            #expect(whole.count == 1)
            #expect(merge(parts, groups.map { keys[$0] }, groups.map { positions[$0] }) == whole.first, "\(command) \(request)")
        }
    }
}
