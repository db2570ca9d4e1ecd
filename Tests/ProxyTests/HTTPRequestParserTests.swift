import Testing
@testable import Proxy

private func parse(_ text: String) -> HTTPRequestParser.Result {
    var parser = HTTPRequestParser()
    return parser.parse(Array(text.utf8))
}

private func request(_ text: String) -> HTTPRequest? {
    guard case .complete(let request, _) = parse(text) else { return nil }
    return request
}

/// The status of a rejected request, nil when it was not rejected.
private func errorStatus(_ text: String) -> Int? {
    errorStatus(Array(text.utf8))
}

private func errorStatus(_ bytes: [UInt8]) -> Int? {
    var parser = HTTPRequestParser()
    guard case .error(let status, _) = parser.parse(bytes) else { return nil }
    return status
}

/// A request whose head is exactly `size` bytes: padded with one `x-pad` header.
private func head(ofSize size: Int, version: String = "HTTP/1.1") -> String {
    let fixed = "GET / \(version)\r\nHost: a\r\nx-pad: \r\n\r\n"
    return "GET / \(version)\r\nHost: a\r\nx-pad: " + String(repeating: "p", count: size - fixed.utf8.count) + "\r\n\r\n"
}

@Suite struct HTTPRequestParserTests {
    // MARK: complete requests

    @Test func simpleGet() {
        let text = "GET /metrics HTTP/1.1\r\nHost: localhost:9100\r\nUser-Agent: curl/8.5\r\nAccept: */*\r\n\r\n"
        #expect(parse(text) == .complete(HTTPRequest(
            method: "GET", path: "/metrics", query: nil, version: .init(major: 1, minor: 1),
            headers: [
                .init(name: "host", value: "localhost:9100"), .init(name: "user-agent", value: "curl/8.5"),
                .init(name: "accept", value: "*/*"),
            ],
            body: [], keepAlive: true), consumed: text.utf8.count))
    }

    @Test(arguments: [
        ("/status", "/status", nil),
        ("/status?", "/status", ""),
        ("/status?pretty=1&x", "/status", "pretty=1&x"),
        ("/a?b?c", "/a", "b?c"),
        ("/%73tatus", "/%73tatus", nil),
        ("http://example.com:8080/metrics?x=1", "/metrics", "x=1"),
        ("HTTPS://example.com", "/", nil),
        ("http://example.com?q", "/", "q"),
        ("*", "*", nil),
    ] as [(String, String, String?)])
    func targetForms(target: String, path: String, query: String?) {
        let r = request("OPTIONS \(target) HTTP/1.1\r\nHost: a\r\n\r\n")
        #expect(r?.path == path)
        #expect(r?.query == query)
    }

    @Test func headerNamesAreLowerCasedAndValuesTrimmed() throws {
        let r = try #require(request("GET / HTTP/1.1\r\nHOST: a\r\nX-Thing:\t  two words \t\r\nx-thing: again\r\nEmpty:\r\n\r\n"))
        #expect(r.headers.map(\.name) == ["host", "x-thing", "x-thing", "empty"])
        #expect(r.header("x-thing") == "two words")
        #expect(r.headerValues("x-thing") == ["two words", "again"])
        #expect(r.header("empty") == "")
        #expect(r.header("missing") == nil)
    }

    @Test func nonASCIIHeaderBytesAreAccepted() {
        #expect(request("GET / HTTP/1.1\r\nHost: a\r\nX-Name: caf\u{e9}\r\n\r\n")?.header("x-name") == "caf\u{e9}")
    }

    @Test func bareLineFeedsEndLines() {
        let text = "GET /health HTTP/1.1\nHost: a\nX-A: b\n\n"
        #expect(parse(text) == .complete(HTTPRequest(
            method: "GET", path: "/health", query: nil, version: .init(major: 1, minor: 1),
            headers: [.init(name: "host", value: "a"), .init(name: "x-a", value: "b")], body: [], keepAlive: true),
            consumed: text.utf8.count))
    }

    @Test func emptyLinesBeforeTheRequestLineAreSkipped() {
        let text = "\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n"
        guard case .complete(let r, let consumed) = parse(text) else {
            Issue.record("not complete")
            return
        }
        #expect(r.path == "/")
        #expect(consumed == text.utf8.count)
    }

    @Test func http10NeedsNoHost() {
        #expect(request("GET / HTTP/1.0\r\n\r\n")?.version == .init(major: 1, minor: 0))
    }

    @Test func laterMinorVersionsAreServedAsHTTP11() {
        let r = request("GET / HTTP/1.7\r\nHost: a\r\n\r\n")
        #expect(r?.version == .init(major: 1, minor: 7))
        #expect(r?.keepAlive == true)
    }

    // MARK: keep-alive

    @Test(arguments: [
        ("HTTP/1.1", nil, true),
        ("HTTP/1.1", "close", false),
        ("HTTP/1.1", "Close", false),
        ("HTTP/1.1", "keep-alive, close", false),
        ("HTTP/1.1", "keep-alive", true),
        ("HTTP/1.1", "Upgrade", true),
        ("HTTP/1.0", nil, false),
        ("HTTP/1.0", "keep-alive", true),
        ("HTTP/1.0", "Keep-Alive", true),
        ("HTTP/1.0", "keep-alive, close", false),
    ] as [(String, String?, Bool)])
    func keepAlive(version: String, connection: String?, expected: Bool) {
        let header = connection.map { "Connection: \($0)\r\n" } ?? ""
        #expect(request("GET / \(version)\r\nHost: a\r\n\(header)\r\n")?.keepAlive == expected)
    }

    @Test func connectionTokensAcrossSeveralHeaders() {
        #expect(request("GET / HTTP/1.1\r\nHost: a\r\nConnection: te\r\nConnection: close\r\n\r\n")?.keepAlive == false)
    }

    // MARK: bodies

    @Test func contentLengthBody() {
        let text = "POST /reload HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhelloGET"
        guard case .complete(let r, let consumed) = parse(text) else {
            Issue.record("not complete")
            return
        }
        #expect(r.body == Array("hello".utf8))
        #expect(consumed == text.utf8.count - 3)
    }

    @Test func bodyWaitsForAllItsBytes() {
        var parser = HTTPRequestParser()
        let head = Array("POST /reload HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\n\r\n".utf8)
        #expect(parser.parse(head) == .incomplete)
        #expect(parser.parse(head + Array("abc".utf8)) == .incomplete)
        guard case .complete(let r, let consumed) = parser.parse(head + Array("abcd".utf8)) else {
            Issue.record("not complete")
            return
        }
        #expect(r.body == Array("abcd".utf8))
        #expect(consumed == head.count + 4)
    }

    @Test(arguments: ["0", "00", "5, 5", "5,5", " 5 "])
    func acceptedContentLengths(value: String) {
        let r = request("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: \(value)\r\n\r\nhello")
        #expect(r != nil)
        #expect(r?.body.count == (value.contains("5") ? 5 : 0))
    }

    @Test func repeatedEqualContentLengthHeaders() {
        #expect(request("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\nhi")?.body == Array("hi".utf8))
    }

    @Test(arguments: ["abc", "-1", "+1", "1.0", "", "5, 6", "5,", "0x10"])
    func malformedContentLength(value: String) {
        #expect(errorStatus("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: \(value)\r\n\r\n") == 400)
    }

    @Test func conflictingContentLengthHeaders() {
        #expect(errorStatus("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab") == 400)
    }

    @Test func bodyLimit() {
        let max = HTTPRequestParser.defaultMaxBodyBytes
        #expect(max == 64 * 1024)
        let body = [UInt8](repeating: UInt8(ascii: "b"), count: max)
        var parser = HTTPRequestParser()
        guard case .complete(let r, _) = parser.parse(Array("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: \(max)\r\n\r\n".utf8) + body) else {
            Issue.record("a body of exactly the limit was not accepted")
            return
        }
        #expect(r.body.count == max)
        #expect(errorStatus("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: \(max + 1)\r\n\r\n") == 413)
        #expect(errorStatus("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 99999999999999999999999999\r\n\r\n") == 413)
    }

    @Test(arguments: [
        ("HTTP/1.1", "chunked", 411),
        ("HTTP/1.1", "gzip, chunked", 411),
        ("HTTP/1.1", "Chunked", 411),
        ("HTTP/1.1", "gzip", 400),
        ("HTTP/1.1", "chunked, gzip", 400),
        ("HTTP/1.0", "chunked", 400),
    ])
    func transferEncodingIsRefused(version: String, coding: String, status: Int) {
        #expect(errorStatus("POST / \(version)\r\nHost: a\r\nTransfer-Encoding: \(coding)\r\n\r\n") == status)
        // Also next to a Content-Length (request smuggling shape).
        #expect(errorStatus("POST / \(version)\r\nHost: a\r\nContent-Length: 3\r\nTransfer-Encoding: \(coding)\r\n\r\nabc") == status)
    }

    @Test func expectations() {
        #expect(request("POST / HTTP/1.1\r\nHost: a\r\nExpect: 100-Continue\r\nContent-Length: 1\r\n\r\nx")?.body == [UInt8(ascii: "x")])
        #expect(errorStatus("POST / HTTP/1.1\r\nHost: a\r\nExpect: something-else\r\n\r\n") == 417)
    }

    // MARK: pipelining and incremental input

    @Test func pipelinedRequestsParseOneAtATime() {
        let text = "GET /a HTTP/1.1\r\nHost: a\r\n\r\nPOST /b HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n\r\nokHEAD /c HTTP/1.1\r\nHost: a\r\n\r\n"
        var bytes = Array(text.utf8)
        var parser = HTTPRequestParser()
        var seen: [String] = []
        while case .complete(let r, let consumed) = parser.parse(bytes) {
            seen.append("\(r.method) \(r.path) \(r.body.count)")
            bytes.removeFirst(consumed)
        }
        #expect(seen == ["GET /a 0", "POST /b 2", "HEAD /c 0"])
        #expect(bytes.isEmpty)
    }

    @Test(arguments: [
        "GET /status?x=1 HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
        "POST /reload HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabc",
        "\r\nGET / HTTP/1.0\nConnection: keep-alive\n\n",
    ])
    func byteByByteGivesTheSameRequest(text: String) {
        let bytes = Array(text.utf8)
        var whole = HTTPRequestParser()
        let expected = whole.parse(bytes)
        guard case .complete = expected else {
            Issue.record("not complete at once: \(expected)")
            return
        }
        var parser = HTTPRequestParser()
        for n in 1..<bytes.count {
            let result = parser.parse(Array(bytes[0..<n]))
            #expect(result == .incomplete, "after \(n) bytes")
        }
        #expect(parser.parse(bytes) == expected)
    }

    @Test func parserResetsAfterEachRequest() {
        var parser = HTTPRequestParser()
        let one = Array("GET /one HTTP/1.1\r\nHost: a\r\n\r\n".utf8)
        let two = Array("GET /two HTTP/1.1\r\nHost: a\r\n\r\n".utf8)
        guard case .complete(let first, _) = parser.parse(one), case .complete(let second, _) = parser.parse(two) else {
            Issue.record("not complete")
            return
        }
        #expect(first.path == "/one")
        #expect(second.path == "/two")
    }

    // MARK: limits

    @Test func headLimitIsInclusive() {
        let max = HTTPRequestParser.defaultMaxHeadBytes
        #expect(max == 16 * 1024)
        #expect(request(head(ofSize: max)) != nil)
        #expect(errorStatus(head(ofSize: max + 1)) == 431)
    }

    @Test func headLimitCountsLeadingEmptyLines() {
        let max = HTTPRequestParser.defaultMaxHeadBytes
        #expect(errorStatus("\r\n" + head(ofSize: max - 1)) == 431)
        #expect(errorStatus(String(repeating: "\r\n", count: max / 2)) == 431)
        #expect(parse(String(repeating: "\r\n", count: max / 2 - 1)) == .incomplete)
    }

    @Test func unterminatedHeadIsIncompleteUntilTheLimit() {
        let max = HTTPRequestParser.defaultMaxHeadBytes
        let start = "GET / HTTP/1.1\r\nHost: a\r\nX: "
        #expect(parse(start + String(repeating: "y", count: max - 1 - start.utf8.count)) == .incomplete)
        #expect(errorStatus(start + String(repeating: "y", count: max - start.utf8.count)) == 431)
    }

    @Test func longRequestLine() {
        let max = HTTPRequestParser.defaultMaxHeadBytes
        let path = "/" + String(repeating: "a", count: max)
        #expect(errorStatus("GET \(path) HTTP/1.1\r\nHost: a\r\n\r\n") == 414)
        #expect(parse("GET /" + String(repeating: "a", count: max - 10)) == .incomplete)
    }

    @Test func smallerLimits() {
        var parser = HTTPRequestParser(maxHeadBytes: 64, maxBodyBytes: 2)
        #expect(parser.parse(Array("GET / HTTP/1.1\r\nHost: a\r\nX: \(String(repeating: "x", count: 40))\r\n\r\n".utf8)) ==
            .error(status: 431, reason: "request head larger than 64 bytes"))
        #expect(parser.parse(Array("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\n".utf8)) ==
            .error(status: 413, reason: "request body larger than 2 bytes"))
    }

    // MARK: malformed

    @Test(arguments: [
        ("GET / http/1.1\r\nHost: a\r\n\r\n", 400),
        ("GET / HTTP/1\r\nHost: a\r\n\r\n", 400),
        ("GET / HTTP/1.10\r\nHost: a\r\n\r\n", 400),
        ("GET / HTTP/2.0\r\nHost: a\r\n\r\n", 505),
        ("GET / HTTP/0.9\r\nHost: a\r\n\r\n", 505),
        ("GET /\r\n\r\n", 400),
        ("GET  / HTTP/1.1\r\nHost: a\r\n\r\n", 400),
        ("GET / HTTP/1.1 \r\nHost: a\r\n\r\n", 400),
        (" GET / HTTP/1.1\r\nHost: a\r\n\r\n", 400),
        ("G(T / HTTP/1.1\r\nHost: a\r\n\r\n", 400),
        ("GET status HTTP/1.1\r\nHost: a\r\n\r\n", 400),
        ("GET ftp://a/b HTTP/1.1\r\nHost: a\r\n\r\n", 400),
        ("GET http:///x HTTP/1.1\r\nHost: a\r\n\r\n", 400),
        ("GET /a\u{7F}b HTTP/1.1\r\nHost: a\r\n\r\n", 400),
        ("GET /caf\u{e9} HTTP/1.1\r\nHost: a\r\n\r\n", 400),
        ("GET / HTTP/1.1\rHost: a\r\n\r\n", 400),
        ("GET / HTTP/1.1\r\nHost: a\r\nNoColon\r\n\r\n", 400),
        ("GET / HTTP/1.1\r\nHost: a\r\nX-A : b\r\n\r\n", 400),
        ("GET / HTTP/1.1\r\nHost: a\r\n: b\r\n\r\n", 400),
        ("GET / HTTP/1.1\r\nHost: a\r\nX(A): b\r\n\r\n", 400),
        ("GET / HTTP/1.1\r\nHost: a\r\nX-A: b\r\n  folded\r\n\r\n", 400),
        ("GET / HTTP/1.1\r\nHost: a\r\nX-A: b\rc\r\n\r\n", 400),
        ("GET / HTTP/1.1\r\nHost: a\r\nX-A: b\u{0}c\r\n\r\n", 400),
        ("GET / HTTP/1.1\r\nHost: a\r\nX-A: b\u{7F}\r\n\r\n", 400),
        ("GET / HTTP/1.1\r\n\r\n", 400),
        ("GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400),
        ("GET / HTTP/1.0\r\nHost: a\r\nHost: b\r\n\r\n", 400),
    ])
    func rejected(text: String, status: Int) {
        #expect(errorStatus(text) == status)
    }

    @Test func nonHTTPInputIsRejectedBeforeALineEnds() {
        // A TLS ClientHello and a redis command: answered at once, not after the head limit or a timeout.
        #expect(errorStatus([0x16, 0x03, 0x01, 0x02, 0x00]) == 400)
        #expect(errorStatus("*1\r") == 400)
        #expect(parse("GET") == .incomplete)
        #expect(parse("GET /") == .incomplete)
    }

    @Test func errorsCarryAReason() {
        guard case .error(let status, let reason) = parse("GET / HTTP/1.1\r\n\r\n") else {
            Issue.record("accepted")
            return
        }
        #expect(status == 400)
        #expect(reason.contains("Host"))
    }
}
