import Testing
import MemcachedProtocol

/// The loud form of `request`, or nil when it is sent as is.
private func loud(_ request: String) -> String? {
    let frame = b(request)
    let (result, parsed) = parse(frame)
    guard case .request = result else {
        Issue.record("\(request.debugDescription) does not parse: \(result)")
        return nil
    }
    var out: [UInt8] = [9, 9]   // appended to, never cleared
    let changed = frame.withUnsafeBytes { MemcachedEncoder.loudFrame(parsed, frame: $0, into: &out) }
    #expect(out.prefix(2) == [9, 9])
    if !changed {
        #expect(out == [9, 9])
        return nil
    }
    return String(decoding: out.dropFirst(2), as: UTF8.self)
}

@Suite("MemcachedEncoder")
struct EncoderTests {
    @Test func removingTheNoreplyTokenLeavesAValidRequest() {
        let cases = [
            ("set k 1 2 3 noreply\r\nabc\r\n", "set k 1 2 3\r\nabc\r\n"),
            ("cas k 1 2 3 4   noreply\r\nabc\r\n", "cas k 1 2 3 4\r\nabc\r\n"),
            ("add k 0 0 1 noreply  \r\nx\r\n", "add k 0 0 1  \r\nx\r\n"),
            ("delete k noreply\r\n", "delete k\r\n"),
            ("delete k 0 noreply\r\n", "delete k 0\r\n"),
            ("incr k 1 noreply\n", "incr k 1\n"),
            ("decr k 1 noreply\r\n", "decr k 1\r\n"),
            ("touch k 10 noreply\r\n", "touch k 10\r\n"),
            ("flush_all noreply\r\n", "flush_all\r\n"),
            ("flush_all 9 noreply\r\n", "flush_all 9\r\n"),
            ("verbosity 1 noreply\r\n", "verbosity 1\r\n"),
        ]
        for (quiet, expected) in cases {
            let (_, parsed) = parse(quiet)
            let token = parsed.noreplyToken!
            var removed = b(quiet)
            removed.removeSubrange(token)
            #expect(String(decoding: removed, as: UTF8.self) == expected)
            #expect(loud(quiet) == expected)
            let (again, reparsed) = parse(removed)
            #expect(again == .request(length: removed.count))
            #expect(!reparsed.noreply && reparsed.noreplyToken == nil)
            #expect(reparsed.command == parsed.command)
        }
    }

    @Test func removingTheQuietFlagLeavesAValidMetaRequest() {
        let cases = [
            ("mg k q\r\n", "mg k\r\n"),
            ("mg k v q k\r\n", "mg k v k\r\n"),
            ("mg k   q   v\r\n", "mg k   v\r\n"),
            ("ms k 3 T10 q\r\nabc\r\n", "ms k 3 T10\r\nabc\r\n"),
            ("ms k 3 q T10\r\na\r\n\r\n", "ms k 3 T10\r\na\r\n\r\n"),
            ("md k qx C1\r\n", "md k C1\r\n"),
            ("ma k q v\n", "ma k v\n"),
        ]
        for (quiet, expected) in cases {
            #expect(loud(quiet) == expected, "\(quiet.debugDescription)")
            let (again, reparsed) = parse(expected)
            #expect(again == .request(length: expected.utf8.count))
            #expect(!reparsed.quiet)
        }
    }

    @Test func loudRequestsAreSentAsIs() {
        for request in ["get k\r\n", "set k 0 0 1\r\nx\r\n", "mg k v\r\n", "mn\r\n", "me k\r\n", "delete k 0\r\n", "set k 0 0 1 junk\r\nx\r\n"] {
            #expect(loud(request) == nil)
        }
    }

    @Test func onlyTheRequestsOwnBytesAreCopied() {
        let stream = b("set k 0 0 1 noreply\r\nx\r\nget next\r\n")
        let (_, parsed) = parse(stream)
        var out: [UInt8] = []
        _ = stream.withUnsafeBytes { MemcachedEncoder.loudFrame(parsed, frame: $0, into: &out) }
        #expect(out == b("set k 0 0 1\r\nx\r\n"))
        #expect(MemcachedEncoder.frameLength(parsed) == 24)
    }

    @Test func setAndTouch() {
        var out: [UInt8] = []
        b("key").withUnsafeBytes { key in
            b("va\r\nl").withUnsafeBytes { value in
                MemcachedEncoder.set(key: key, flags: 4_294_967_295, exptime: -1, value: value, into: &out)
            }
            MemcachedEncoder.touch(key: key, exptime: 1_700_000_000, into: &out)
        }
        #expect(out == b("set key 4294967295 -1 5\r\nva\r\nl\r\ntouch key 1700000000\r\n"))
        out = []
        b("k").withUnsafeBytes { key in
            b("").withUnsafeBytes { MemcachedEncoder.set(key: key, flags: 0, exptime: 0, value: $0, into: &out) }
        }
        #expect(out == b("set k 0 0 0\r\n\r\n"))
    }

    @Test func metaSetEffectKeepsOnlyKeyDataBFAndT() {
        func effect(_ request: String) -> String {
            let frame = b(request)
            let (_, parsed) = parse(frame)
            var out: [UInt8] = []
            frame.withUnsafeBytes { MemcachedEncoder.metaSetEffect(parsed, frame: $0, into: &out) }
            return String(decoding: out, as: UTF8.self)
        }
        #expect(effect("ms k 3 C12 q O1 k T60 I F5 MS\r\nabc\r\n") == "ms k 3 F5 T60\r\nabc\r\n")
        #expect(effect("ms Zm9v 2 b ME q\r\nhi\r\n") == "ms Zm9v 2 b F0 T0\r\nhi\r\n")
        #expect(effect("ms k 0 T-1\r\n\r\n") == "ms k 0 F0 T-1\r\n\r\n")
    }

    @Test func metaTouchEffect() {
        func effect(_ request: String) -> String {
            let frame = b(request)
            let (_, parsed) = parse(frame)
            var out: [UInt8] = []
            frame.withUnsafeBytes { MemcachedEncoder.metaTouchEffect(parsed, frame: $0, into: &out) }
            return String(decoding: out, as: UTF8.self)
        }
        #expect(effect("mg k v q T30 O5 k\r\n") == "mg k T30\r\n")
        #expect(effect("mg Zm9v b T100 v\r\n") == "mg Zm9v b T100\r\n")
    }

    @Test func linesAndStats() {
        var out: [UInt8] = []
        MemcachedEncoder.line("SERVER_ERROR backend unavailable", into: &out)
        MemcachedEncoder.stat("curr_connections", "12", into: &out)
        MemcachedEncoder.line("END", into: &out)
        #expect(out == b("SERVER_ERROR backend unavailable\r\nSTAT curr_connections 12\r\nEND\r\n"))
    }
}
