import Testing
import MemcachedProtocol

/// Requests whose every prefix is fed to the parser: each must be "incomplete" with a bound that
/// is more than the prefix and no more than the frame, until the whole frame is there; never a
/// different answer.
private let frames: [String] = [
    "get k\r\n",
    "gets a b c\r\n",
    "gat 10 k1 k2\r\n",
    "gats 0 k\n",
    "set key 5 60 5\r\nhello\r\n",
    "set key 0 0 0\r\n\r\n",
    "add k 0 0 2 noreply\r\n\r\n\r\n",
    "replace k 1 2 3\r\nabc\r\n",
    "append k 0 0 1\r\nx\r\n",
    "prepend k 0 0 1\r\nx\r\n",
    "cas k 0 0 3 77\r\n\r\n\r\r\n",
    "delete k 0 noreply\r\n",
    "incr k 5\r\n",
    "decr k 5 noreply\r\n",
    "touch k 100\r\n",
    "flush_all 10 noreply\r\n",
    "version\r\n",
    "verbosity 1\r\n",
    "stats items\r\n",
    "quit\r\n",
    "mg foo v k T30 Oop q\r\n",
    "ms foo 4 T10 F3 q\r\nab\r\n\r\n",
    "ms Zm9v 1 b\r\nx\r\n",
    "md foo q I\r\n",
    "ma foo D5 v\r\n",
    "mn\r\n",
    "me foo\r\n",
    "shutdown graceful\r\n",
]

/// Requests refused somewhere past their first byte: every prefix is "incomplete" or already the
/// same refusal.
private let refused: [String] = [
    "set k 0 0 5\r\nhelloXX\r\n",
    "set k 0 0 5 noreply\r\nhel\r\nget k\r\n",
    "ms k 2 q\r\nabc\r\n",
    "set k 0 0 99999999\r\n",
    "set k abc 0 1\r\nx\r\n",
    "mg k v v\r\n",
    "bogus\r\n",
    "\r\n",
]

@Suite("MemcachedRequestParser: split points")
struct RequestParserSplitTests {
    @Test(arguments: frames)
    func everyPrefixIsIncompleteUntilTheWholeFrame(_ request: String) {
        let whole = b(request)
        let (full, _) = parse(whole)
        #expect(full == .request(length: whole.count))
        // Followed by more requests, it is framed the same.
        #expect(parse(whole + b("get next\r\nmn\r\n")).0 == full)
        for cut in 0 ..< whole.count {
            let result = parse(Array(whole[..<cut])).0
            guard case .incomplete(let atLeast) = result else {
                Issue.record("\(request.debugDescription) cut at \(cut): \(result)")
                continue
            }
            #expect(atLeast > cut && atLeast <= whole.count, "\(request.debugDescription) cut at \(cut): \(atLeast)")
        }
    }

    @Test(arguments: refused)
    func everyPrefixOfARefusedRequestIsIncompleteOrTheSameRefusal(_ request: String) {
        let whole = b(request)
        let (full, _) = parse(whole)
        guard case .error(let error) = full else {
            Issue.record("\(request.debugDescription) parsed as \(full)")
            return
        }
        for cut in 0 ..< whole.count {
            let result = parse(Array(whole[..<cut])).0
            if result == full { continue }
            guard case .incomplete(let atLeast) = result else {
                Issue.record("\(request.debugDescription) cut at \(cut): \(result)")
                continue
            }
            #expect(atLeast > cut && atLeast <= Swift.max(error.consume, whole.count))
        }
    }

    @Test func theBoundCoversTheWholeDataBlockOnceTheLineIsKnown() {
        let header = "set k 0 0 1000\r\n"
        #expect(parse(header).0 == .incomplete(atLeast: header.utf8.count + 1002))
        #expect(parse(header + String(repeating: "x", count: 500)).0 == .incomplete(atLeast: header.utf8.count + 1002))
        let ms = "ms k 1000 T0\r\n"
        #expect(parse(ms).0 == .incomplete(atLeast: ms.utf8.count + 1002))
    }

    @Test func feedingByteByByteFramesAPipelineExactly() {
        let stream = b(frames.joined())
        var parser = MemcachedRequestParser()
        var buffer: [UInt8] = []
        var framed: [Int] = []
        var wanted = 1
        for byte in stream {
            buffer.append(byte)
            guard buffer.count >= wanted else { continue }
            while !buffer.isEmpty {
                let result = buffer.withUnsafeBytes { parser.parse($0) }
                if case .request(let length) = result {
                    framed.append(length)
                    buffer.removeFirst(length)
                    wanted = 1
                } else if case .incomplete(let atLeast) = result {
                    wanted = atLeast
                    break
                } else {
                    Issue.record("unexpected \(result)")
                    return
                }
            }
        }
        #expect(buffer.isEmpty)
        #expect(framed == frames.map { $0.utf8.count })
    }
}
