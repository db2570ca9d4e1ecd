import Foundation
import Testing
import TestSupport
import EventLoop
import Logging
import RedisProtocol
@testable import Proxy
#if canImport(Glibc)
import Glibc
#endif

// MARK: fixtures

private let redisServerPath = ["/usr/bin/redis-server", "/usr/local/bin/redis-server"].first {
    FileManager.default.isExecutableFile(atPath: $0)
}

private func bytes(_ s: String) -> [UInt8] { Array(s.utf8) }

private func command(_ args: String...) -> [UInt8] {
    var out: [UInt8] = []
    RESPEncoder.command(args, into: &out)
    return out
}

/// A loopback TCP socket listening on a free port. Never accepting is enough for a server that
/// takes connections and never answers: the kernel completes the TCP handshake itself.
private final class SilentListener {
    let fd: Int32
    let port: Int

    init() throws {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let ok = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(fd, $0, length) == 0 && listen(fd, 16) == 0 && getsockname(fd, $0, &length) == 0
            }
        }
        guard fd >= 0, ok else {
            if fd >= 0 { close(fd) }
            throw SystemError("listen", errno: errno)
        }
        self.fd = fd
        port = Int(UInt16(bigEndian: address.sin_port))
    }

    deinit { close(fd) }
}

/// A blocking client on a real socket; frames replies with `ReplyFramer`.
private final class BlockingClient {
    let fd: Int32
    private var buffer: [UInt8] = []

    init(port: Int) throws {
        fd = try LoopbackSocket.connect(port: port)
    }

    deinit { close(fd) }

    func call(_ frame: [UInt8]) throws -> [UInt8] {
        var sent = 0
        while sent < frame.count {
            let n = frame[sent...].withUnsafeBytes { send(fd, $0.baseAddress!, $0.count, Int32(MSG_NOSIGNAL)) }
            guard n > 0 else { throw SystemError("send", errno: errno) }
            sent += n
        }
        var framer = ReplyFramer()
        while true {
            if case .reply(let length, _) = buffer.withUnsafeBytes({ framer.frame($0) }) {
                defer { buffer.removeFirst(length) }
                return Array(buffer[0 ..< length])
            }
            var chunk = [UInt8](repeating: 0, count: 65536)
            let n = recv(fd, &chunk, chunk.count, 0)
            guard n > 0 else { throw SystemError("recv", errno: errno) }
            buffer += chunk[0 ..< n]
        }
    }
}

/// A redis-server of its own on a free loopback port, killed by pid (TestSupport's `ChildProcess`).
private final class RedisChild {
    let port: Int
    private var pid: pid_t = 0

    init() throws {
        for _ in 0 ..< 5 {
            let port = Int(try ChildProcess.freePort())
            let pid = try ChildProcess.spawn([redisServerPath!, "--port", "\(port)", "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            for _ in 0 ..< 200 {
                if ChildProcess.hasExited(pid) { break }   // lost the port to someone else
                if let client = try? BlockingClient(port: port),
                   let info = try? client.call(command("INFO", "server")),
                   String(decoding: info, as: UTF8.self).contains("process_id:\(pid)\r\n") {
                    self.port = port
                    self.pid = pid
                    return
                }
                usleep(10_000)
            }
            ChildProcess.kill(pid)
        }
        throw SystemError("redis-server did not come up", errno: ETIMEDOUT)
    }

    /// SIGKILL, then reap.
    func kill() {
        guard pid > 0 else { return }
        ChildProcess.kill(pid)
        pid = 0
    }

    deinit { kill() }
}

/// Records what the connection reports; touched only on the loop.
private final class Recorder: SubscriptionConnectionDelegate, @unchecked Sendable {
    var frames: [[UInt8]] = []
    var failures: [String] = []
    /// Closes the connection from inside the first frame callback, to check nothing follows.
    var closeOnFrame = false

    func subscriptionFrame(_ connection: SubscriptionConnection, frame: UnsafeRawBufferPointer) {
        frames.append(Array(frame))
        if closeOnFrame { connection.close() }
    }

    func subscriptionFailed(_ connection: SubscriptionConnection, reason: String) {
        #expect(!connection.isConnected)
        failures.append(reason)
    }

    func count(_ kind: PubSubFrame) -> Int {
        frames.filter { $0.withUnsafeBytes { Subscriptions.classify($0) } == kind }.count
    }
}

/// One `SubscriptionConnection` on its own loop, with its recorder.
private final class Harness: @unchecked Sendable {
    let loop: DispatchEpollLoop
    let recorder = Recorder()
    let connection: SubscriptionConnection

    init(port: Int, handshake: [UInt8]? = nil, request: Duration = .seconds(2), pingInterval: Duration = .seconds(1)) throws {
        loop = try DispatchEpollLoop(index: 0)
        connection = SubscriptionConnection(
            endpoint: Endpoint(host: "127.0.0.1", port: port), loop: loop, handshake: handshake,
            timeouts: TimeoutConfig(connect: .seconds(1), request: request), pingInterval: pingInterval,
            delegate: recorder, logger: Logger(label: "subscription-test"))
    }

    func onLoop<T>(_ body: () throws -> T) rethrows -> T { try loop.runAndWait(body) }

    func send(_ frame: [UInt8]) {
        onLoop { frame.withUnsafeBytes { connection.send($0) } }
    }

    /// Polls `condition` on the loop until it holds or `seconds` pass; returns whether it held.
    func wait(seconds: Double = 5, _ condition: (Recorder) -> Bool) -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            if onLoop({ condition(recorder) }) { return true }
            usleep(5_000)
        }
        return onLoop { condition(recorder) }
    }

    func stop() {
        onLoop { connection.close() }
        loop.shutdown()
    }
}

// MARK: tests

@Suite("SubscriptionConnection", .timeLimit(.minutes(1)))
struct SubscriptionConnectionTests {
    @Test(.enabled(if: redisServerPath != nil), arguments: [2, 3])
    func relaysEveryFrameAfterTheHandshakeFromARealServer(protocolVersion: Int) throws {
        let server = try RedisChild()
        defer { server.kill() }   // also keeps it alive to the end: Swift may release it after its last use
        let harness = try Harness(port: server.port, handshake: protocolVersion == 3 ? command("HELLO", "3") : nil)
        defer { harness.stop() }
        // Sent before connect(): it waits, and goes after the handshake.
        harness.send(command("SUBSCRIBE", "news"))
        harness.onLoop { harness.connection.connect() }
        #expect(harness.wait { $0.frames.count == 1 })
        #expect(harness.onLoop { harness.connection.isConnected })
        var model = Subscriptions()
        let confirmation = model.subscribe(.channel, [bytes("news")], protocolVersion: protocolVersion)
        // The handshake's reply (HELLO's map) is swallowed: the first frame is the confirmation.
        #expect(harness.onLoop { harness.recorder.frames } == [confirmation])

        let publisher = try BlockingClient(port: server.port)
        #expect(try publisher.call(command("PUBLISH", "news", "hello")) == bytes(":1\r\n"))
        #expect(harness.wait { $0.frames.count == 2 })
        let head = protocolVersion == 3 ? ">" : "*"
        #expect(harness.onLoop { harness.recorder.frames.last } == bytes("\(head)3\r\n$7\r\nmessage\r\n$4\r\nnews\r\n$5\r\nhello\r\n"))
        // A frame larger than a read buffer arrives whole.
        let large = String(repeating: "x", count: 300_000)
        #expect(try publisher.call(command("PUBLISH", "news", large)) == bytes(":1\r\n"))
        #expect(harness.wait { $0.frames.count == 3 })
        #expect(harness.onLoop { harness.recorder.frames.last } == bytes("\(head)3\r\n$7\r\nmessage\r\n$4\r\nnews\r\n$300000\r\n\(large)\r\n"))
        #expect(harness.onLoop { harness.recorder.failures } == [])
    }

    @Test(.enabled(if: redisServerPath != nil), arguments: [2, 3])
    func idleSubscriptionStaysUpOnPings(protocolVersion: Int) throws {
        let server = try RedisChild()
        defer { server.kill() }   // also keeps it alive to the end: Swift may release it after its last use
        let harness = try Harness(port: server.port, handshake: protocolVersion == 3 ? command("HELLO", "3") : nil,
                                  request: .milliseconds(400), pingInterval: .milliseconds(40))
        defer { harness.stop() }
        harness.onLoop { harness.connection.connect() }
        harness.send(command("SUBSCRIBE", "quiet"))
        // Two request timeouts pass at least with no message: only the pongs keep it alive.
        #expect(harness.wait(seconds: 10) { $0.count(.pong) >= 20 })
        #expect(harness.onLoop { harness.recorder.failures } == [])
        #expect(harness.onLoop { harness.connection.isConnected })
    }

    @Test(.enabled(if: redisServerPath != nil))
    func killedServerFailsOnce() throws {
        let server = try RedisChild()
        defer { server.kill() }   // also keeps it alive to the end: Swift may release it after its last use
        let harness = try Harness(port: server.port)
        defer { harness.stop() }
        harness.onLoop { harness.connection.connect() }
        harness.send(command("SUBSCRIBE", "news"))
        #expect(harness.wait { $0.frames.count == 1 })
        server.kill()
        #expect(harness.wait { !$0.failures.isEmpty })
        #expect(harness.onLoop { harness.connection.isConnected } == false)
        usleep(100_000)
        // Nothing after the failure, and sending or closing now is harmless.
        harness.send(command("PING"))
        harness.onLoop { harness.connection.close() }
        #expect(harness.onLoop { harness.recorder.failures.count } == 1)
    }

    @Test func silentServerFailsAfterThePingTimeout() throws {
        let listener = try SilentListener()
        defer { withExtendedLifetime(listener) {} }
        let harness = try Harness(port: listener.port, request: .milliseconds(200), pingInterval: .milliseconds(100))
        defer { harness.stop() }
        let start = Date()
        harness.onLoop { harness.connection.connect() }
        harness.send(command("SUBSCRIBE", "news"))
        #expect(harness.wait { !$0.failures.isEmpty })
        let elapsed = Date().timeIntervalSince(start)
        // One ping interval until the PING, then the request timeout.
        #expect(elapsed >= 0.28, "\(elapsed)")
        #expect(elapsed < 2, "\(elapsed)")
        let failures = harness.onLoop { harness.recorder.failures }
        #expect(failures.count == 1)
        #expect(failures.first?.contains("PING") == true, "\(failures)")
    }

    @Test(.enabled(if: redisServerPath != nil))
    func refusedHandshakeFailsWithoutQuotingItsArguments() throws {
        let server = try RedisChild()
        defer { server.kill() }   // also keeps it alive to the end: Swift may release it after its last use
        for (handshake, expected) in [(command("HELO", "default", "s3cret"), "ERR unknown command"), (command("HELLO", "4"), "NOPROTO")] {
            let harness = try Harness(port: server.port, handshake: handshake)
            harness.onLoop { harness.connection.connect() }
            harness.send(command("SUBSCRIBE", "news"))
            #expect(harness.wait { !$0.failures.isEmpty })
            let failures = harness.onLoop { harness.recorder.failures }
            #expect(failures.count == 1)
            let reason = failures.first ?? ""
            #expect(reason.hasPrefix("server refused the handshake: \(expected)"), "\(reason)")
            #expect(!reason.contains("s3cret") && !reason.contains("default"), "\(reason)")
            #expect(harness.onLoop { harness.recorder.frames } == [])
            harness.stop()
        }
    }

    @Test func refusedConnectFails() throws {
        let port = Int(try ChildProcess.freePort())
        let harness = try Harness(port: port)
        defer { harness.stop() }
        harness.onLoop { harness.connection.connect() }
        #expect(harness.wait { !$0.failures.isEmpty })
        #expect(harness.onLoop { harness.recorder.failures.count } == 1)
    }

    @Test func unresolvableHostFailsAfterConnectReturns() throws {
        let loop = try DispatchEpollLoop(index: 0)
        defer { loop.shutdown() }
        let recorder = Recorder()
        let connection = SubscriptionConnection(
            endpoint: Endpoint(host: "no-such-host.invalid", port: 6379), loop: loop, handshake: nil,
            timeouts: TimeoutConfig(), pingInterval: .seconds(1), delegate: recorder, logger: Logger(label: "subscription-test"))
        let reportedInsideConnect = loop.runAndWait {
            connection.connect()
            return !recorder.failures.isEmpty
        }
        #expect(!reportedInsideConnect)
        #expect(loop.runAndWait { recorder.failures.count } == 1)
        loop.runAndWait { connection.close() }
    }

    @Test(.enabled(if: redisServerPath != nil))
    func closeIsSilentEvenFromInsideAFrame() throws {
        let server = try RedisChild()
        defer { server.kill() }   // also keeps it alive to the end: Swift may release it after its last use
        let harness = try Harness(port: server.port, request: .milliseconds(100), pingInterval: .milliseconds(30))
        harness.onLoop { harness.recorder.closeOnFrame = true }
        harness.onLoop { harness.connection.connect() }
        // Two confirmations, most likely in one read: the second is not delivered after the close.
        harness.send(command("SUBSCRIBE", "a", "b"))
        #expect(harness.wait { $0.frames.count == 1 })
        server.kill()
        usleep(300_000)   // longer than a ping interval plus the request timeout
        #expect(harness.onLoop { harness.recorder.frames.count } == 1)
        #expect(harness.onLoop { harness.recorder.failures } == [])
        harness.onLoop { harness.connection.close() }
        harness.stop()
    }
}
