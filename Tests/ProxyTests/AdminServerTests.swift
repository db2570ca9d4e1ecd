import Foundation
import Testing
import EventLoop
import Logging
@testable import Proxy
#if canImport(Glibc)
import Glibc
#endif

// MARK: fixtures

/// Answers the admin endpoints from plain fields; touched only on the admin loop once the server runs.
private final class FakeHandler: AdminHandler, @unchecked Sendable {
    var metrics: [UInt8] = Array("# TYPE metacluster_up gauge\nmetacluster_up 1\n".utf8)
    var snapshot = sampleStatus()
    var healthy = true
    var reloadOutcome: (applied: Bool, message: String) = (true, "configuration reloaded")
    var reloads = 0

    func metricsText() -> [UInt8] { metrics }
    func status() -> ProxyStatus { snapshot }
    func isHealthy() -> Bool { healthy }
    func reload() -> (applied: Bool, message: String) {
        reloads += 1
        return reloadOutcome
    }
}

private func sampleStatus() -> ProxyStatus {
    func cluster(_ name: String, local: Bool, state: String, rank: Int, latency: Int64?) -> ProxyStatus.Cluster {
        ProxyStatus.Cluster(
            name: name, local: local, state: state, servers: 3, serversDown: state == "up" ? 0 : 1, latencyMicros: latency,
            readRank: rank, backlog: 12, backlogOldestSeconds: 7, needsResync: false, requests: 1_234_567, errors: 3, missedWrites: 40, droppedWrites: 2, replayedWrites: 38,
            divergentReplies: 1, rejectedWrites: 0, unknownOutcomes: 5, repairedKeys: 4, verifiedReads: 2000, verifyMismatches: 3, verifyErrors: 1)
    }
    return ProxyStatus(
        version: "1.4.0", uptimeSeconds: 93_784, writeAck: "local", configPath: "/etc/metacluster/\"main\".json",
        lastReload: .init(atUnixSeconds: 1_700_000_000, applied: false, message: "clusters[1].redis: bad address\n\"x\""),
        listeners: [
            .init(name: "redis", address: "0.0.0.0:6380", clients: 17, protocolErrors: 2),
            .init(name: "admin", address: "127.0.0.1:9100", clients: 1, protocolErrors: 0),
        ],
        protocols: [
            .init(name: "redis", readOrder: ["paris", "<london>"], clusters: [
                cluster("paris", local: true, state: "up", rank: 1, latency: 412),
                cluster("<london>", local: false, state: "degraded", rank: 2, latency: 12_345),
                cluster("tokyo", local: false, state: "down", rank: 0, latency: nil),
            ]),
            .init(name: "memcached", readOrder: [], clusters: []),
        ])
}

/// A running admin server on its own loop; closed (on the loop) and the loop shut down by `stop`.
private final class Harness {
    let loop: DispatchEpollLoop
    let handler = FakeHandler()
    let server: AdminServer
    let port: Int

    init(idleTimeout: Duration = AdminServer.defaultIdleTimeout, maxConnections: Int = AdminServer.defaultMaxConnections) throws {
        let loop = try DispatchEpollLoop(index: 0)
        let server = AdminServer(
            address: try SocketAddress(host: "127.0.0.1", port: 0), loop: loop, handler: handler,
            logger: Logger(label: "admin-test"), idleTimeout: idleTimeout, maxConnections: maxConnections,
            lingerTimeout: .milliseconds(300))
        self.loop = loop
        self.server = server
        port = try loop.runAndWait {
            try server.start()
            return server.boundAddress!.port
        }
    }

    func onLoop<T>(_ body: () throws -> T) rethrows -> T {
        try loop.runAndWait(body)
    }

    func stop() {
        let server = self.server
        loop.runAndWait { server.close() }
        loop.shutdown()
    }
}

private struct Response {
    var status: Int
    var headers: [String: String]
    var body: [UInt8]
    var text: String { String(decoding: body, as: UTF8.self) }
}

/// A blocking test client on a real TCP socket.
private final class Client {
    let fd: Int32
    private var buffer: [UInt8] = []

    init(port: Int) throws {
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var timeout = timeval(tv_sec: 5, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = UInt16(port).bigEndian
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let rc = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        if rc != 0 {
            close(fd)
            throw SystemError("connect", errno: errno)
        }
    }

    deinit { close(fd) }

    func send(_ text: String) {
        let bytes = Array(text.utf8)
        var sent = 0
        while sent < bytes.count {
            let n = bytes[sent...].withUnsafeBytes { Glibc.send(fd, $0.baseAddress!, $0.count, Int32(MSG_NOSIGNAL)) }
            guard n > 0 else { return }
            sent += n
        }
    }

    /// Reads more bytes into the buffer; false at end of stream, error or timeout.
    private func fill() -> Bool {
        var chunk = [UInt8](repeating: 0, count: 65536)
        let n = recv(fd, &chunk, chunk.count, 0)
        guard n > 0 else { return false }
        buffer += chunk[0..<n]
        return true
    }

    /// The next response; `head` for the answer to a HEAD request (no body follows).
    func response(head: Bool = false) -> Response? {
        let separator = Array("\r\n\r\n".utf8)
        var end: Int?
        while true {
            if buffer.count >= 4, let i = (0...(buffer.count - 4)).first(where: { Array(buffer[$0..<($0 + 4)]) == separator }) {
                end = i
                break
            }
            if !fill() { return nil }
        }
        let lines = String(decoding: buffer[0..<end!], as: UTF8.self).components(separatedBy: "\r\n")
        let statusParts = lines[0].split(separator: " ", maxSplits: 2)
        guard statusParts.count >= 2, statusParts[0] == "HTTP/1.1", let status = Int(statusParts[1]) else { return nil }
        var headers: [String: String] = [:]
        for line in lines.dropFirst() {
            guard let colon = line.firstIndex(of: ":") else { return nil }
            headers[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
        }
        buffer.removeFirst(end! + 4)
        let length = head ? 0 : Int(headers["content-length"] ?? "") ?? 0
        while buffer.count < length {
            if !fill() { return nil }
        }
        let body = Array(buffer[0..<length])
        buffer.removeFirst(length)
        return Response(status: status, headers: headers, body: body)
    }

    /// True when the server closes the connection (end of stream) with nothing more to read.
    func closedByServer() -> Bool {
        var byte: UInt8 = 0
        return buffer.isEmpty && recv(fd, &byte, 1, 0) == 0
    }
}

private func get(_ path: String, method: String = "GET", extra: String = "") -> String {
    "\(method) \(path) HTTP/1.1\r\nHost: localhost\r\n\(extra)\r\n"
}

// MARK: server tests

@Suite(.serialized) struct AdminServerTests {
    @Test func metrics() throws {
        let h = try Harness()
        defer { h.stop() }
        let client = try Client(port: h.port)
        client.send(get("/metrics"))
        let r = try #require(client.response())
        #expect(r.status == 200)
        #expect(r.headers["content-type"] == "text/plain; version=0.0.4; charset=utf-8")
        #expect(r.body == h.handler.metrics)
        #expect(r.headers["content-length"] == "\(h.handler.metrics.count)")
        #expect(r.headers["cache-control"] == "no-store")
        #expect(r.headers["connection"] == nil)
        #expect(r.headers["date"]?.hasSuffix(" GMT") == true)
    }

    @Test func statusIsTheSnapshotAsJSON() throws {
        let h = try Harness()
        defer { h.stop() }
        let client = try Client(port: h.port)
        client.send(get("/status?pretty=1"))
        let r = try #require(client.response())
        #expect(r.status == 200)
        #expect(r.headers["content-type"] == "application/json")
        #expect(r.body == sampleStatus().jsonBytes())
        let json = try #require(try JSONSerialization.jsonObject(with: Data(r.body)) as? [String: Any])
        #expect(json["version"] as? String == "1.4.0")
    }

    @Test func statusPage() throws {
        let h = try Harness()
        defer { h.stop() }
        let client = try Client(port: h.port)
        client.send(get("/"))
        let r = try #require(client.response())
        #expect(r.status == 200)
        #expect(r.headers["content-type"] == "text/html; charset=utf-8")
        #expect(r.headers["content-security-policy"] == StatusPage.contentSecurityPolicy)
        #expect(r.body == StatusPage.render(sampleStatus()))
    }

    @Test func health() throws {
        let h = try Harness()
        defer { h.stop() }
        let client = try Client(port: h.port)
        client.send(get("/health"))
        let up = try #require(client.response())
        #expect(up.status == 200)
        #expect(up.text == "ok\n")
        h.onLoop { h.handler.healthy = false }
        client.send(get("/health"))
        let down = try #require(client.response())
        #expect(down.status == 503)
        #expect(down.text == "unhealthy\n")
        #expect(down.headers["cache-control"] == "no-store")
    }

    @Test func reload() throws {
        let h = try Harness()
        defer { h.stop() }
        let client = try Client(port: h.port)
        client.send(get("/reload", method: "POST", extra: "Content-Length: 0\r\n"))
        let applied = try #require(client.response())
        #expect(applied.status == 200)
        #expect(applied.text == "configuration reloaded\n")
        h.onLoop { h.handler.reloadOutcome = (false, "clusters[0]: unknown key \"x\"\n") }
        client.send(get("/reload", method: "POST", extra: "Content-Length: 4\r\n") + "body")
        let refused = try #require(client.response())
        #expect(refused.status == 409)
        #expect(refused.text == "clusters[0]: unknown key \"x\"\n")
        #expect(h.onLoop { h.handler.reloads } == 2)
    }

    @Test(arguments: ["/metrics", "/status", "/", "/health"])
    func headAnswersLikeGetWithoutABody(path: String) throws {
        let h = try Harness()
        defer { h.stop() }
        let client = try Client(port: h.port)
        client.send(get(path) + get(path, method: "HEAD") + get("/health"))
        let full = try #require(client.response())
        let head = try #require(client.response(head: true))
        #expect(head.status == full.status)
        #expect(head.headers["content-type"] == full.headers["content-type"])
        #expect(head.headers["content-length"] == "\(full.body.count)")
        // Had the HEAD answer carried a body, this would read it as a status line.
        #expect(client.response()?.text == "ok\n")
    }

    @Test func unknownPathAndWrongMethods() throws {
        let h = try Harness()
        defer { h.stop() }
        let client = try Client(port: h.port)
        client.send(get("/nope") + get("/metrics/") + get("/metrics", method: "POST") + get("/reload") + get("/", method: "DELETE"))
        let notFound = try #require(client.response())
        #expect(notFound.status == 404)
        #expect(client.response()?.status == 404)
        let postMetrics = try #require(client.response())
        #expect(postMetrics.status == 405)
        #expect(postMetrics.headers["allow"] == "GET, HEAD")
        let getReload = try #require(client.response())
        #expect(getReload.status == 405)
        #expect(getReload.headers["allow"] == "POST")
        #expect(client.response()?.headers["allow"] == "GET, HEAD")
        #expect(h.onLoop { h.handler.reloads } == 0)
    }

    @Test func pipelinedRequestsAreAnsweredInOrderOnAKeptAliveConnection() throws {
        let h = try Harness()
        defer { h.stop() }
        let client = try Client(port: h.port)
        client.send(get("/health") + get("/metrics"))
        let first = try #require(client.response())
        let second = try #require(client.response())
        #expect(first.text == "ok\n")
        #expect(second.body == h.handler.metrics)
        // Still open for a third.
        client.send(get("/nope"))
        #expect(client.response()?.status == 404)
    }

    @Test func manyPipelinedLargeResponsesAreAllWritten() throws {
        let h = try Harness()
        defer { h.stop() }
        h.onLoop { h.handler.metrics = (0..<300_000).map { UInt8(ascii: "a") + UInt8($0 % 26) } }
        let client = try Client(port: h.port)
        // 30 × 300 KB is past the output high-water mark: parsing must pause and resume.
        client.send(String(repeating: get("/metrics"), count: 30))
        for i in 0..<30 {
            let r = try #require(client.response(), "response \(i)")
            #expect(r.body.count == 300_000)
        }
    }

    @Test func connectionCloseIsHonoured() throws {
        let h = try Harness()
        defer { h.stop() }
        let client = try Client(port: h.port)
        client.send(get("/health", extra: "Connection: close\r\n") + get("/metrics"))
        let r = try #require(client.response())
        #expect(r.text == "ok\n")
        #expect(r.headers["connection"] == "close")
        #expect(client.closedByServer())
    }

    @Test func http10ClosesUnlessAskedToKeepAlive() throws {
        let h = try Harness()
        defer { h.stop() }
        let keep = try Client(port: h.port)
        keep.send("GET /health HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
        #expect(keep.response()?.headers["connection"] == "keep-alive")
        keep.send("GET /health HTTP/1.0\r\n\r\n")
        let last = try #require(keep.response())
        #expect(last.headers["connection"] == "close")
        #expect(keep.closedByServer())
    }

    @Test(arguments: ["GET /health HTTP/1.1\r\n\r\n", "NOT HTTP AT ALL\r\n\r\n", "\u{16}\u{3}\u{1}"])
    func malformedRequestGets400AndAClose(request: String) throws {
        let h = try Harness()
        defer { h.stop() }
        let client = try Client(port: h.port)
        client.send(request)
        let r = try #require(client.response())
        #expect(r.status == 400)
        #expect(r.headers["connection"] == "close")
        #expect(r.headers["content-length"] == "\(r.body.count)")
        #expect(client.closedByServer())
    }

    @Test func oversizedHeadGets431() throws {
        let h = try Harness()
        defer { h.stop() }
        let client = try Client(port: h.port)
        client.send("GET / HTTP/1.1\r\nHost: a\r\nX-Big: " + String(repeating: "b", count: 20_000) + "\r\n\r\n")
        #expect(client.response()?.status == 431)
        #expect(client.closedByServer())
    }

    @Test func errorResponseSurvivesABodyStillArriving() throws {
        let h = try Harness()
        defer { h.stop() }
        let client = try Client(port: h.port)
        // Refused at the head; the server must read on (and drop) the body rather than reset the
        // connection under its 413.
        client.send("POST /reload HTTP/1.1\r\nHost: a\r\nContent-Length: 400000\r\n\r\n" + String(repeating: "z", count: 400_000))
        let r = try #require(client.response())
        #expect(r.status == 413)
        #expect(client.closedByServer())
        #expect(h.onLoop { h.handler.reloads } == 0)
    }

    @Test func halfClosedClientGetsItsAnswers() throws {
        let h = try Harness()
        defer { h.stop() }
        let client = try Client(port: h.port)
        client.send(get("/health") + get("/nope") + "GET /partial")
        shutdown(client.fd, Int32(SHUT_WR))
        #expect(client.response()?.status == 200)
        #expect(client.response()?.status == 404)
        #expect(client.closedByServer())
    }

    @Test func requestSplitAcrossWrites() throws {
        let h = try Harness()
        defer { h.stop() }
        let client = try Client(port: h.port)
        for piece in ["GE", "T /hea", "lth HTTP/1.1\r", "\nHost: local", "host\r\n", "\r", "\n"] {
            client.send(piece)
            usleep(20_000)
        }
        #expect(client.response()?.text == "ok\n")
        client.send("POST /reload HTTP/1.1\r\nHost: a\r\nContent-Length: 6\r\n\r\nab")
        usleep(20_000)
        client.send("cdef")
        #expect(client.response()?.status == 200)
    }

    @Test func idleConnectionsAreClosed() throws {
        let h = try Harness(idleTimeout: .milliseconds(200))
        defer { h.stop() }
        let idle = try Client(port: h.port)
        idle.send(get("/health"))
        #expect(idle.response()?.status == 200)
        let partial = try Client(port: h.port)
        partial.send("GET /health HTTP/1.1\r\nHo")
        let started = Date()
        #expect(idle.closedByServer())
        #expect(Date().timeIntervalSince(started) < 2)
        // A request left half-sent is answered with 408 before the close.
        let timedOut = try #require(partial.response())
        #expect(timedOut.status == 408)
        #expect(partial.closedByServer())
        #expect(h.onLoop { h.server.connectionCount } == 0)
    }

    @Test func connectionLimit() throws {
        let h = try Harness(maxConnections: 2)
        defer { h.stop() }
        let a = try Client(port: h.port)
        let b = try Client(port: h.port)
        for client in [a, b] {
            client.send(get("/health"))
            #expect(client.response()?.status == 200)
        }
        let refused = try Client(port: h.port)
        let r = try #require(refused.response())
        #expect(r.status == 503)
        #expect(refused.closedByServer())
        // Once a connection goes, a new one is served.
        a.send(get("/health", extra: "Connection: close\r\n"))
        _ = a.response()
        #expect(a.closedByServer())
        let c = try Client(port: h.port)
        c.send(get("/health"))
        #expect(c.response()?.status == 200)
    }

    @Test func closeStopsListeningAndClosesConnections() throws {
        let h = try Harness()
        let client = try Client(port: h.port)
        client.send(get("/health"))
        #expect(client.response()?.status == 200)
        h.onLoop { h.server.close() }
        #expect(client.closedByServer())
        #expect(throws: SystemError.self) { try Client(port: h.port) }
        #expect(h.onLoop { h.server.boundAddress } == nil)
        h.stop()
    }
}

// MARK: JSON and page

@Suite struct ProxyStatusJSONTests {
    @Test func shape() {
        var status = sampleStatus()
        status.protocols = [.init(name: "redis", readOrder: ["a"], clusters: [status.protocols[0].clusters[2]])]
        status.listeners = [status.listeners[0]]
        status.configPath = nil
        let expected = #"{"version":"1.4.0","uptimeSeconds":93784,"writeAck":"local","configPath":null,"#
            + #""lastReload":{"atUnixSeconds":1700000000,"applied":false,"message":"clusters[1].redis: bad address\n\"x\""},"#
            + #""listeners":[{"name":"redis","address":"0.0.0.0:6380","clients":17,"protocolErrors":2}],"#
            + #""protocols":[{"name":"redis","readOrder":["a"],"clusters":[{"name":"tokyo","local":false,"state":"down","#
            + #""servers":3,"serversDown":1,"latencyMicros":null,"readRank":0,"backlog":12,"backlogOldestSeconds":7,"needsResync":false,"requests":1234567,"errors":3,"#
            + #""missedWrites":40,"droppedWrites":2,"replayedWrites":38,"divergentReplies":1,"rejectedWrites":0,"unknownOutcomes":5,"#
            + #""repairedKeys":4,"verifiedReads":2000,"verifyMismatches":3,"verifyErrors":1}]}]}"#
        #expect(String(decoding: status.jsonBytes(), as: UTF8.self) == expected)
    }

    @Test func noReloadYetIsNull() {
        var status = sampleStatus()
        status.lastReload = nil
        #expect(String(decoding: status.jsonBytes(), as: UTF8.self).contains(#""lastReload":null,"#))
    }

    @Test func stringsAreEscapedPerRFC8259() throws {
        var status = sampleStatus()
        status.version = "q\" b\\ n\n r\r t\t \u{8}\u{c}\u{1}\u{1f}\u{7f} é 🚀 </script>"
        let text = String(decoding: status.jsonBytes(), as: UTF8.self)
        #expect(text.hasPrefix(#"{"version":"q\" b\\ n\n r\r t\t \b\f\u0001\u001f"# + "\u{7f} é 🚀 </script>\","))
        let json = try #require(try JSONSerialization.jsonObject(with: Data(status.jsonBytes())) as? [String: Any])
        #expect(json["version"] as? String == status.version)
    }

    /// Every stored property of the snapshot and its parts appears as a key: a field added to
    /// `ProxyStatus` without its JSON fails here.
    @Test func keysAreExactlyTheFieldNames() throws {
        let status = sampleStatus()
        let json = try #require(try JSONSerialization.jsonObject(with: Data(status.jsonBytes())) as? [String: Any])
        func fields(_ value: Any) -> Set<String> { Set(Mirror(reflecting: value).children.compactMap(\.label)) }
        #expect(Set(json.keys) == fields(status))
        #expect(Set((json["lastReload"] as? [String: Any] ?? [:]).keys) == fields(status.lastReload!))
        #expect(Set(((json["listeners"] as? [[String: Any]])?.first ?? [:]).keys) == fields(status.listeners[0]))
        let view = try #require((json["protocols"] as? [[String: Any]])?.first)
        #expect(Set(view.keys) == fields(status.protocols[0]))
        #expect(Set(((view["clusters"] as? [[String: Any]])?.first ?? [:]).keys) == fields(status.protocols[0].clusters[0]))
    }
}

@Suite struct StatusPageTests {
    private var page: String { String(decoding: StatusPage.render(sampleStatus()), as: UTF8.self) }

    @Test func serverRendersTheTables() {
        let page = page
        #expect(page.hasPrefix("<!doctype html>"))
        #expect(page.contains(#"<td class="l">paris <span class="tag">local</span></td><td class="l"><span class="state up">up</span></td><td>0/3</td><td>412 µs</td><td>1</td><td>12</td><td>7s</td><td>40</td><td>2</td><td>5</td><td>4</td><td>38</td><td>1,234,567</td><td>3</td><td>2,000</td><td>0.15 %</td>"#))
        #expect(page.contains(#"<span class="state degraded">degraded</span></td><td>1/3</td><td>12.3 ms</td><td>2</td>"#))
        #expect(page.contains(#"<span class="state down">down</span></td><td>1/3</td><td>–</td><td>–</td>"#))
        #expect(page.contains("Read order: <b>paris</b> → <b>&#60;london&#62;</b>"))
        #expect(page.contains("none: no cluster can serve reads"))
        #expect(page.contains("<span>version 1.4.0</span><span>up 1d 2h 3m</span>"))
        #expect(page.contains(#"<td class="l">redis</td><td class="l">0.0.0.0:6380</td><td>17</td><td>2</td>"#))
        #expect(page.contains("2023-11-14 22:13:20 UTC · <span class=\"bad\">not applied</span> · clusters[1].redis: bad address\n&#34;x&#34;"))
    }

    @Test func configuredTextIsEscaped() {
        #expect(!page.contains("<london>"))
        #expect(page.contains("&#60;london&#62;"))
    }

    @Test func selfContainedAndLive() {
        let page = page
        #expect(!page.contains("src="))
        #expect(!page.contains("http://"))
        #expect(!page.contains("https://"))
        #expect(page.contains("<noscript>"))
        #expect(page.contains(#"fetch("/status""#))
        #expect(page.contains("setTimeout(refresh, 2000)"))
    }

    @Test func formatting() {
        #expect(StatusPage.number(0) == "0")
        #expect(StatusPage.number(999) == "999")
        #expect(StatusPage.number(1000) == "1,000")
        #expect(StatusPage.number(-1_234_567) == "-1,234,567")
        #expect(StatusPage.latency(999) == "999 µs")
        #expect(StatusPage.latency(1005) == "1.01 ms")
        #expect(StatusPage.latency(9999) == "10.00 ms")
        #expect(StatusPage.latency(123_456) == "123.5 ms")
        #expect(StatusPage.fixed(1, 3, digits: 2) == "0.33")
        #expect(StatusPage.mismatchRate(0, verified: 0) == "–")
        #expect(StatusPage.mismatchRate(0, verified: 10) == "0.00 %")
        #expect(StatusPage.mismatchRate(3, verified: 120_000) == "&#60;0.01 %")
        #expect(StatusPage.mismatchRate(1, verified: 3) == "33.33 %")
        #expect(StatusPage.duration(59) == "59s")
        #expect(StatusPage.duration(61) == "1m 1s")
        #expect(StatusPage.duration(3661) == "1h 1m 1s")
        #expect(StatusPage.esc(#"<a href="x">'&'</a>"#) == "&#60;a href=&#34;x&#34;&#62;&#39;&#38;&#39;&#60;/a&#62;")
    }
}

@Suite struct UTCDateTests {
    @Test(arguments: [
        (0 as Int64, "Thu, 01 Jan 1970 00:00:00 GMT"),
        (784_111_777, "Sun, 06 Nov 1994 08:49:37 GMT"),
        (951_782_400, "Tue, 29 Feb 2000 00:00:00 GMT"),
        (1_700_000_000, "Tue, 14 Nov 2023 22:13:20 GMT"),
        (4_107_542_399, "Sun, 28 Feb 2100 23:59:59 GMT"),
        (-1, "Wed, 31 Dec 1969 23:59:59 GMT"),
    ])
    func imfFixdate(seconds: Int64, expected: String) {
        #expect(UTCDate(unixSeconds: seconds).imfFixdate == expected)
    }

    @Test func text() {
        #expect(UTCDate(unixSeconds: 1_700_000_000).text == "2023-11-14 22:13:20 UTC")
    }
}
