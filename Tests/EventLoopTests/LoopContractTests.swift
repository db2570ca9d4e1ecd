import Dispatch
import Foundation
import Testing
@testable import EventLoop
#if canImport(Glibc)
import Glibc
#endif

/// The loop contract, run against every backend.
enum Backend: String, CaseIterable, Sendable {
    case dispatch
    case libev
    /// libev polling for a while after busy wake-ups instead of blocking at once.
    case libevSpinning

    func make(index: Int = 0) throws -> any EventLoop {
        switch self {
        case .dispatch: try DispatchEpollLoop(index: index)
        case .libev: try LibevLoop(index: index)
        case .libevSpinning: try LibevLoop(index: index, spinMicros: 200)
        }
    }
}

/// Collects callbacks from a loop for a test to wait on.
final class Probe: @unchecked Sendable {
    private let lock = NSLock()
    private var items: [String] = []
    private let semaphore = DispatchSemaphore(value: 0)

    func record(_ s: String) {
        lock.lock(); items.append(s); lock.unlock()
        semaphore.signal()
    }

    func wait(count: Int, timeout: TimeInterval = 5) -> [String] {
        let deadline = Date().addingTimeInterval(timeout)
        while true {
            lock.lock(); let n = items.count; lock.unlock()
            if n >= count || Date() > deadline { break }
            _ = semaphore.wait(timeout: .now() + .milliseconds(50))
        }
        lock.lock(); defer { lock.unlock() }
        return items
    }
}

func socketPair() -> (Int32, Int32) {
    var fds: [Int32] = [0, 0]
    let rc = socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue), 0, &fds)
    precondition(rc == 0)
    return (fds[0], fds[1])
}

/// Reads from a blocking-free socket until `count` bytes arrived or `timeout` passed.
func readAll(_ fd: Int32, count: Int, timeout: TimeInterval = 10) -> [UInt8] {
    var got: [UInt8] = []
    got.reserveCapacity(count)
    var buffer = [UInt8](repeating: 0, count: 1 << 16)
    let deadline = Date().addingTimeInterval(timeout)
    while got.count < count && Date() < deadline {
        let n = read(fd, &buffer, buffer.count)
        if n > 0 { got += buffer[0..<n] } else { usleep(500) }
    }
    return got
}

final class RecordingDelegate: ChannelDelegate, @unchecked Sendable {
    let probe: Probe
    var received: [UInt8] = []
    var echo = false
    init(probe: Probe) { self.probe = probe }
    func channelConnected(_ channel: SocketChannel) { probe.record("connected") }
    func channelRead(_ channel: SocketChannel) {
        let bytes = Array(channel.input.readable)
        channel.input.consume(bytes.count)
        received += bytes
        if echo { bytes.withUnsafeBytes { channel.send($0) } }
        probe.record("read:\(bytes.count)")
    }
    func channelInputClosed(_ channel: SocketChannel) { probe.record("eof"); channel.close() }
    func channelDrained(_ channel: SocketChannel) { probe.record("drained") }
    func channelClosed(_ channel: SocketChannel, error: Error?) { probe.record("closed:\(error.map { "\($0)" } ?? "nil")") }
}

@Suite struct LoopContractTests {
    @Test(arguments: Backend.allCases)
    func executeRunsOnTheLoopInOrder(backend: Backend) throws {
        let loop = try backend.make()
        defer { loop.shutdown() }
        let probe = Probe()
        for i in 0..<100 { loop.execute { probe.record("\(i)") } }
        #expect(probe.wait(count: 100) == (0..<100).map(String.init))
    }

    @Test(arguments: Backend.allCases)
    func runAndWaitReturnsThrowsAndFlushesAsOneBatch(backend: Backend) throws {
        let loop = try backend.make()
        defer { loop.shutdown() }
        struct Refused: Error {}
        final class Flushed: BatchFlushable, @unchecked Sendable {
            var count = 0
            func flushAtEndOfBatch() { count += 1 }
        }
        let flushed = Flushed()
        var order: [String] = []
        let value = loop.runAndWait { () -> Int in
            loop.flushAtEndOfBatch(flushed)
            loop.deferToEndOfBatch { order.append("deferred") }
            order.append("body")
            return 42
        }
        #expect(value == 42)
        // The body's batch ended before runAndWait returned: deferred work first, then the flush.
        #expect(order == ["body", "deferred"])
        #expect(flushed.count == 1)
        #expect(throws: Refused.self) { try loop.runAndWait { () throws(Refused) in throw Refused() } }
    }

    @Test(arguments: Backend.allCases)
    func nothingRunsAfterShutdown(backend: Backend) throws {
        let loop = try backend.make()
        let probe = Probe()
        let (a, b) = socketPair()
        defer { close(a); close(b) }
        final class Recorder: IOHandler, @unchecked Sendable {
            let probe: Probe
            init(probe: Probe) { self.probe = probe }
            func handle(_ events: IOEvents) { probe.record("io") }
        }
        let recorder = Recorder(probe: probe)
        loop.runAndWait {
            try! loop.register(a, interest: .read, handler: recorder)
            loop.schedule(after: .milliseconds(50), repeating: nil) { probe.record("timer") }
        }
        loop.shutdown()
        loop.execute { probe.record("task") }
        _ = write(b, "x", 1)
        #expect(probe.wait(count: 1, timeout: 0.2).isEmpty)
    }

    @Test(arguments: Backend.allCases)
    func oneShotAndRepeatingTimers(backend: Backend) throws {
        let loop = try backend.make()
        defer { loop.shutdown() }
        let probe = Probe()
        let start = DispatchTime.now()
        loop.execute {
            loop.schedule(after: .milliseconds(30), repeating: nil) { probe.record("once") }
            var ticks = 0
            var timer: LoopTimer?
            timer = loop.schedule(after: .milliseconds(5), repeating: .milliseconds(5)) {
                ticks += 1
                probe.record("tick")
                if ticks == 3 { timer?.cancel() }
            }
        }
        let seen = probe.wait(count: 4)
        let elapsedMs = Double(DispatchTime.now().uptimeNanoseconds - start.uptimeNanoseconds) / 1e6
        #expect(seen.filter { $0 == "tick" }.count == 3)
        #expect(seen.contains("once"))
        #expect(elapsedMs >= 25)
        // A cancelled repeating timer stays quiet.
        Thread.sleep(forTimeInterval: 0.05)
        #expect(probe.wait(count: 0).filter { $0 == "tick" }.count == 3)
    }

    @Test(arguments: Backend.allCases)
    func channelEchoesAndWritesAreBatched(backend: Backend) throws {
        let loop = try backend.make()
        defer { loop.shutdown() }
        let (a, b) = socketPair()
        defer { close(b) }
        let probe = Probe()
        let delegate = RecordingDelegate(probe: probe)
        delegate.echo = true
        loop.execute { _ = try! SocketChannel.adopt(fd: a, loop: loop, delegate: delegate) }
        let message = Array("hello loop".utf8)
        #expect(write(b, message, message.count) == message.count)
        _ = probe.wait(count: 1)
        #expect(readAll(b, count: message.count) == message)
    }

    @Test(arguments: Backend.allCases)
    func largeOutputWaitsForWritabilityAndArrivesWhole(backend: Backend) throws {
        let loop = try backend.make()
        defer { loop.shutdown() }
        let (a, b) = socketPair()
        defer { close(b) }
        let probe = Probe()
        let delegate = RecordingDelegate(probe: probe)
        // Far beyond the socket buffer, so the first write must hit EAGAIN and arm write interest.
        let payload = (0..<(2 << 20)).map { UInt8(truncatingIfNeeded: $0 &* 31) }
        loop.execute {
            let channel = try! SocketChannel.adopt(fd: a, loop: loop, delegate: delegate)
            payload.withUnsafeBytes { channel.send($0) }
            channel.notifyWhenDrained()
        }
        let got = readAll(b, count: payload.count)
        #expect(got.count == payload.count)
        #expect(got == payload)
        #expect(probe.wait(count: 1).contains("drained"))
    }

    @Test(arguments: Backend.allCases)
    func peerCloseIsReportedAndChannelCloses(backend: Backend) throws {
        let loop = try backend.make()
        defer { loop.shutdown() }
        let (a, b) = socketPair()
        let probe = Probe()
        let delegate = RecordingDelegate(probe: probe)
        loop.execute { _ = try! SocketChannel.adopt(fd: a, loop: loop, delegate: delegate) }
        close(b)
        let seen = probe.wait(count: 2)
        #expect(seen.contains("eof"))
        #expect(seen.contains("closed:nil"))
    }

    /// A descriptor unregistered earlier in a batch must not get that batch's later events, even when
    /// it is registered again (as a reused descriptor number would be) within the same batch.
    /// The same fd is re-registered rather than closed and reused: tests run in parallel in one
    /// process, and juggling raw descriptor numbers would race with other tests' sockets.
    @Test(arguments: Backend.allCases)
    func staleEventsForAReregisteredDescriptorAreDropped(backend: Backend) throws {
        let loop = try backend.make()
        defer { loop.shutdown() }
        let probe = Probe()
        let (a1, b1) = socketPair()
        let (a2, b2) = socketPair()
        defer { close(a1); close(b1); close(a2); close(b2) }

        final class Recorder: IOHandler, @unchecked Sendable {
            let probe: Probe; let name: String; var action: (() -> Void)?
            init(probe: Probe, name: String) { self.probe = probe; self.name = name }
            func handle(_ events: IOEvents) {
                probe.record(name)
                action?()
                action = nil
            }
        }
        let first = Recorder(probe: probe, name: "first")
        let second = Recorder(probe: probe, name: "second")
        let replacement = Recorder(probe: probe, name: "replacement")
        // Whichever of the two fires first re-registers the other with a new handler and no interest,
        // so the other's already-fetched event is stale and must be dropped.
        first.action = {
            probe.record("swap")
            loop.unregister(a2)
            try! loop.register(a2, interest: [], handler: replacement)
            loop.unregister(a1)
        }
        second.action = {
            probe.record("swap")
            loop.unregister(a1)
            try! loop.register(a1, interest: [], handler: replacement)
            loop.unregister(a2)
        }
        // Both become readable before the loop is told to watch them, so one batch holds both events.
        _ = write(b1, "x", 1)
        _ = write(b2, "x", 1)
        loop.execute {
            try! loop.register(a1, interest: .read, handler: first)
            try! loop.register(a2, interest: .read, handler: second)
        }
        let seen = probe.wait(count: 3, timeout: 0.5)
        #expect(seen.filter { $0 == "swap" }.count == 1)
        #expect(!seen.contains("replacement"))
        #expect(seen.filter { $0 == "first" || $0 == "second" }.count == 1)
    }

    @Test(arguments: Backend.allCases)
    func connectToAClosedPortFailsWithTheCallsName(backend: Backend) throws {
        let loop = try backend.make()
        defer { loop.shutdown() }
        // Bind then close to find a port with nothing listening.
        let listenerFD = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        _ = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(listenerFD, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        let port = try Posix.localAddress(listenerFD).port
        close(listenerFD)
        let probe = Probe()
        let delegate = RecordingDelegate(probe: probe)
        loop.execute {
            _ = try! SocketChannel.connect(to: try! SocketAddress(host: "127.0.0.1", port: port), loop: loop, delegate: delegate)
        }
        let seen = probe.wait(count: 1)
        #expect(seen.count == 1)
        #expect(seen.first?.hasPrefix("closed:connect:") == true)
    }

    @Test(arguments: Backend.allCases)
    func listenerAcceptsAndConnectSucceeds(backend: Backend) throws {
        let loop = try backend.make()
        defer { loop.shutdown() }
        let probe = Probe()
        let server = RecordingDelegate(probe: probe)
        server.echo = true
        let client = RecordingDelegate(probe: probe)
        let portBox = Probe()
        loop.execute {
            let listener = try! Listener(
                address: try! SocketAddress(host: "127.0.0.1", port: 0), loop: loop,
                onAccept: { fd in _ = try! SocketChannel.adopt(fd: fd, loop: loop, delegate: server) },
                onError: { _ in })
            portBox.record("\(listener.address.port)")
            let channel = try! SocketChannel.connect(to: listener.address, loop: loop, delegate: client)
            Array("ping".utf8).withUnsafeBytes { channel.send($0) }
        }
        _ = portBox.wait(count: 1)
        let deadline = Date().addingTimeInterval(5)
        while client.received.count < 4 && Date() < deadline { _ = probe.wait(count: 100, timeout: 0.05) }
        #expect(probe.wait(count: 0).contains("connected"))
        loop.runAndWait { #expect(client.received == Array("ping".utf8)) }
    }
}

@Suite struct PosixTests {
    @Test func errorsNameTheCall() throws {
        #expect(throws: SystemError.self) { try Posix.read(-1, UnsafeMutableRawPointer.allocate(byteCount: 1, alignment: 1), 1) }
        do {
            _ = try Posix.read(-1, UnsafeMutableRawPointer.allocate(byteCount: 1, alignment: 1), 1)
        } catch let error as SystemError {
            #expect(error.function == "read")
            #expect(error.errno == EBADF)
            #expect(error.description.hasPrefix("read: "))
        }
    }

    @Test func wouldBlockIsAValue() throws {
        let (a, b) = socketPair()
        defer { close(a); close(b) }
        var byte: UInt8 = 0
        #expect(try Posix.read(a, &byte, 1) == .wouldBlock)
    }
}

@Suite struct BufferTests {
    @Test func appendConsumeCompactAndGrow() {
        let buffer = IOBuffer(capacity: 64)
        let chunk = [UInt8](repeating: 7, count: 48)
        buffer.append(chunk)
        buffer.consume(40)
        buffer.append(chunk)   // compacts rather than grows: 8 live + 48 fits in 64
        #expect(buffer.capacity == 64)
        #expect(buffer.readableBytes == 56)
        buffer.append([UInt8](0..<200))
        #expect(buffer.capacity >= 256)
        #expect(Array(buffer.readable.suffix(200)) == [UInt8](0..<200))
    }

    @Test func poolKeepsStandardBuffersAndDropsGrownOnes() {
        let pool = BufferPool(bufferSize: 1024, maxPooled: 2)
        let a = pool.acquire()
        let b = pool.acquire()
        b.reserve(4096)
        pool.release(a)
        pool.release(b)
        #expect(pool.pooledCount == 1)
        #expect(pool.acquire() === a)
    }
}
