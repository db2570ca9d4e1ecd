import Testing
import MemcachedProtocol

@Suite("MemcachedRequestParser: text commands")
struct RequestParserTests {
    @Test func getAndGetsTakeEveryKey() {
        let f = "get a bb ccc\r\n"
        let (r, q) = parse(f)
        #expect(r == .request(length: f.utf8.count))
        #expect(q.command == .get)
        #expect(text(f, q.name) == "get")
        #expect(q.headerLength == f.utf8.count)
        #expect(keys(f, q) == ["a", "bb", "ccc"])
        #expect(q.value == nil && !q.noreply && q.exptimeToken == nil)

        let g = "gets   k1  k2 \r\n"
        let (r2, q2) = parse(g)
        #expect(r2 == .request(length: g.utf8.count))
        #expect(q2.command == .gets)
        #expect(keys(g, q2) == ["k1", "k2"])
    }

    @Test func bareNewlineAndLeadingSpacesAreAccepted() {
        let f = "  get k\n"
        let (r, q) = parse(f)
        #expect(r == .request(length: 8))
        #expect(q.headerLength == 8)
        #expect(keys(f, q) == ["k"])
        #expect(text(f, q.name) == "get")
    }

    @Test func gatAndGatsReadTheirExptimeFirst() {
        let f = "gat 30 a b\r\n"
        let (r, q) = parse(f)
        #expect(r == .request(length: f.utf8.count))
        #expect(q.command == .gat)
        #expect(q.exptime == 30)
        #expect(text(f, q.exptimeToken) == "30")
        #expect(keys(f, q) == ["a", "b"])

        let g = "gats -1 k\r\n"
        let (_, q2) = parse(g)
        #expect(q2.command == .gats)
        #expect(q2.exptime == -1)
        #expect(keys(g, q2) == ["k"])
    }

    @Test func everyStorageCommandReadsItsFieldsAndData() {
        for name in ["set", "add", "replace", "append", "prepend"] {
            let f = "\(name) key 42 3600 5\r\nhello\r\n"
            let (r, q) = parse(f)
            #expect(r == .request(length: f.utf8.count), "\(name)")
            #expect(text(f, q.name) == name)
            #expect(keys(f, q) == ["key"])
            #expect(q.clientFlags == 42)
            #expect(q.exptime == 3600)
            #expect(text(f, q.exptimeToken) == "3600")
            #expect(text(f, q.value) == "hello")
            #expect(q.headerLength == f.utf8.count - 7)
            #expect(!q.noreply && q.noreplyToken == nil)
        }
        let (_, set) = parse("set k 0 0 1\r\nx\r\n")
        #expect(set.command == .set)
        #expect(parse("add k 0 0 1\r\nx\r\n").1.command == .add)
        #expect(parse("replace k 0 0 1\r\nx\r\n").1.command == .replace)
        #expect(parse("append k 0 0 1\r\nx\r\n").1.command == .append)
        #expect(parse("prepend k 0 0 1\r\nx\r\n").1.command == .prepend)
    }

    @Test func casReadsItsUnique() {
        let f = "cas k 1 0 3 18446744073709551615 noreply\r\nabc\r\n"
        let (r, q) = parse(f)
        #expect(r == .request(length: f.utf8.count))
        #expect(q.command == .cas)
        #expect(q.casUnique == UInt64.max)
        #expect(q.noreply)
        #expect(text(f, q.noreplyToken) == " noreply")
        #expect(text(f, q.value) == "abc")
    }

    @Test func dataMayHoldAnyByteAndBeEmpty() {
        let data: [UInt8] = [0, 13, 10, 255, 32, 13]
        let f = b("set k 0 0 6\r\n") + data + b("\r\n")
        let (r, q) = parse(f)
        #expect(r == .request(length: f.count))
        #expect(Array(f[q.value!]) == data)

        let e = "set k 0 0 0\r\n\r\n"
        let (r2, q2) = parse(e)
        #expect(r2 == .request(length: e.utf8.count))
        #expect(q2.value == 13 ..< 13)
    }

    @Test func numbersReadAsMemcachedReadsThem() {
        // strtoul/strtol accept "+", leading zeros, and for exptime any 64-bit value.
        let (_, q) = parse("set k +5 -0 01\r\nz\r\n")
        #expect(q.clientFlags == 5 && q.exptime == 0)
        let (_, q2) = parse("set k 4294967295 9223372036854775807 1\r\nz\r\n")
        #expect(q2.clientFlags == UInt32.max && q2.exptime == Int64.max)
        let (_, q3) = parse("set k 0 -9223372036854775808 1\r\nz\r\n")
        #expect(q3.exptime == Int64.min)
    }

    @Test func anExtraTokenThatIsNotNoreplyIsIgnored() {
        let f = "set k 0 0 1 junk\r\nx\r\n"
        let (r, q) = parse(f)
        #expect(r == .request(length: f.utf8.count))
        #expect(!q.noreply && q.noreplyToken == nil)
        #expect(parse("incr k 1 junk\r\n").1.noreply == false)
        #expect(parse("touch k 1 junk\r\n").0 == .request(length: 16))
    }

    @Test func deleteAcceptsTheLegacyZeroHoldTime() {
        for f in ["delete k\r\n", "delete k 0\r\n", "delete k noreply\r\n", "delete k 0 noreply\r\n"] {
            let (r, q) = parse(f)
            #expect(r == .request(length: f.utf8.count), "\(f)")
            #expect(q.command == .delete)
            #expect(keys(f, q) == ["k"])
            #expect(q.noreply == f.contains("noreply"))
            #expect(text(f, q.noreplyToken) == (f.contains("noreply") ? " noreply" : nil))
        }
    }

    @Test func incrDecrReadTheirDelta() {
        let f = "incr counter 18446744073709551615\r\n"
        let (r, q) = parse(f)
        #expect(r == .request(length: f.utf8.count))
        #expect(q.command == .incr && q.delta == UInt64.max)
        #expect(keys(f, q) == ["counter"])
        let g = "decr c 7 noreply\r\n"
        let (_, q2) = parse(g)
        #expect(q2.command == .decr && q2.delta == 7 && q2.noreply)
        #expect(text(g, q2.noreplyToken) == " noreply")
    }

    @Test func touchReadsItsExptime() {
        let f = "touch k 86400 noreply\r\n"
        let (r, q) = parse(f)
        #expect(r == .request(length: f.utf8.count))
        #expect(q.command == .touch && q.exptime == 86400 && q.noreply)
        #expect(text(f, q.exptimeToken) == "86400")
    }

    @Test func flushAllTakesAnOptionalDelayAndNoreply() {
        var (r, q) = parse("flush_all\r\n")
        #expect(r == .request(length: 11) && q.command == .flushAll && q.exptimeToken == nil && !q.noreply)
        (r, q) = parse("flush_all 10\r\n")
        #expect(q.exptime == 10 && text("flush_all 10\r\n", q.exptimeToken) == "10")
        (r, q) = parse("flush_all noreply\r\n")
        #expect(q.noreply && q.exptimeToken == nil && text("flush_all noreply\r\n", q.noreplyToken) == " noreply")
        (r, q) = parse("flush_all 0 noreply\r\n")
        #expect(q.noreply && q.exptime == 0)
        // As in memcached, a second argument other than noreply is ignored.
        (r, q) = parse("flush_all 5 7\r\n")
        #expect(r == .request(length: 15) && q.exptime == 5 && !q.noreply)
    }

    @Test func versionVerbosityStatsQuit() {
        #expect(parse("version\r\n").1.command == .version)
        #expect(parse("version x\r\n").0 == .request(length: 11))
        #expect(parse("quit\r\n").1.command == .quit)
        let (r, q) = parse("verbosity 1 noreply\r\n")
        #expect(r == .request(length: 21) && q.command == .verbosity && q.noreply)
        let f = "stats slabs  detail\r\n"
        let (r2, q2) = parse(f)
        #expect(r2 == .request(length: f.utf8.count) && q2.command == .stats)
        #expect(q2.arguments.map { text(f, $0)! } == ["slabs", "detail"])
        #expect(q2.keys.isEmpty)
        #expect(parse("stats\r\n").1.arguments.isEmpty)
    }

    @Test func adminCommandsAreRefusedNotUnknown() {
        for name in ["shutdown", "slabs reassign 1 2", "lru tune 1", "lru_crawler crawl all", "watch",
                     "cache_memlimit 100", "misbehave", "debugtime 5", "extstore item_age 1", "bget k", "refresh_certs"] {
            let f = "\(name)\r\n"
            let (r, q) = parse(f)
            #expect(r == .request(length: f.utf8.count), "\(name)")
            #expect(q.command == .refused, "\(name)")
            #expect(!q.noreply)
        }
        let (_, q) = parse("cache_memlimit 100 noreply\r\n")
        #expect(q.command == .refused && q.noreply && text("cache_memlimit 100 noreply\r\n", q.noreplyToken) == " noreply")
    }

    @Test func namesAreCaseSensitive() {
        #expect(parse("GET k\r\n").0 == err("ERROR", 7))
        #expect(parse("Set k 0 0 1\r\nx\r\n").0 == err("ERROR", 13))
        #expect(parse("MG k v\r\n").0 == err("ERROR", 8))
    }

    @Test func aTabIsPartOfAToken() {
        // memcached splits on spaces only: "get\tk" is one (unknown) word.
        #expect(parse("get\tk\r\n").0 == err("ERROR", 7))
    }

    @Test func pipelinedRequestsAreTakenOneAtATime() {
        let stream = b("set a 0 0 2\r\nxy\r\nget a b\r\nms k 3 T10 q\r\nabc\r\nmn\r\ndelete a noreply\r\n")
        var parser = MemcachedRequestParser()
        var offset = 0
        var seen: [(MemcachedCommand, String?)] = []
        while offset < stream.count {
            let result = stream.withUnsafeBytes { parser.parse(UnsafeRawBufferPointer(rebasing: $0[offset...])) }
            guard case .request(let length) = result else {
                Issue.record("unexpected \(result) at \(offset)")
                return
            }
            let frame = Array(stream[offset ..< offset + length])
            seen.append((parser.request.command, text(frame, parser.request.value)))
            offset += length
        }
        #expect(seen.map(\.0) == [.set, .get, .metaSet, .metaNoop, .delete])
        #expect(seen.map(\.1) == ["xy", nil, "abc", nil, nil])
    }

    @Test func theRequestIsResetBetweenParses() {
        var parser = MemcachedRequestParser()
        _ = b("cas k 1 2 1 9 noreply\r\nx\r\n").withUnsafeBytes { parser.parse($0) }
        #expect(parser.request.noreply && parser.request.casUnique == 9)
        _ = b("mg k q T5 F1 C2 b\r\n").withUnsafeBytes { parser.parse($0) }
        #expect(parser.request.quiet)
        let result = b("get a\r\n").withUnsafeBytes { parser.parse($0) }
        #expect(result == .request(length: 7))
        let q = parser.request
        #expect(q.command == .get && q.keys == [4 ..< 5])
        #expect(!q.noreply && q.noreplyToken == nil && q.casUnique == 0 && q.clientFlags == 0 && q.exptime == 0)
        #expect(q.exptimeToken == nil && q.value == nil && q.metaFlags.isEmpty && !q.quiet && !q.base64Key && q.delta == 0)
    }

    @Test func manyLongKeysParseWithoutGrowingTheKeyArrayAgain() {
        let keyList = (0 ..< 100).map { i in String(repeating: "k", count: 247) + String(format3(i)) }
        let f = "get " + keyList.joined(separator: " ") + "\r\n"
        let input = b(f)
        var parser = MemcachedRequestParser()
        var capacity = 0
        for round in 0 ..< 3 {
            let result = input.withUnsafeBytes { parser.parse($0) }
            #expect(result == .request(length: input.count))
            #expect(parser.request.keys.count == 100)
            #expect(parser.request.keys.last.map { text(input, $0)! } == keyList.last)
            if round == 0 {
                capacity = parser.request.keys.capacity
            } else {
                // The same storage is reused: no reallocation once grown.
                #expect(parser.request.keys.capacity == capacity)
            }
        }
    }
}

private func format3(_ i: Int) -> String {
    let s = String(i)
    return String(repeating: "0", count: 3 - s.count) + s
}
