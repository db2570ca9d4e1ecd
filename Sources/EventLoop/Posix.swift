#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import CShims

/// The outcome of a non-blocking call: it did its work, or the kernel said "try later".
public enum IOResult<T>: Equatable where T: Equatable {
    case processed(T)
    case wouldBlock
}

/// A failed system call: the call's name and its errno.
public struct SystemError: Error, Equatable, CustomStringConvertible {
    public let function: String
    public let errno: Int32

    public init(_ function: String, errno: Int32) {
        self.function = function
        self.errno = errno
    }

    public var description: String {
        let text = strerror(errno).map { String(cString: $0) } ?? "errno \(errno)"
        return "\(function): \(text)"
    }

    /// True for the errors a peer causes by going away; these are routine, not bugs.
    public var isConnectionLoss: Bool {
        errno == ECONNRESET || errno == EPIPE || errno == ECONNABORTED || errno == ETIMEDOUT
    }
}

/// Every system call the project makes goes through here.
///
/// Contract: EINTR is retried; EAGAIN/EWOULDBLOCK (and EINPROGRESS for connect) come back as
/// `.wouldBlock`; any other failure throws `SystemError` naming the call. Nothing else in the
/// project reads `errno`.
public enum Posix {
    @inline(__always)
    static func call<T: FixedWidthInteger>(
        _ name: StaticString, blocking: Bool = false, _ body: () -> T
    ) throws -> IOResult<T> {
        while true {
            let result = body()
            if result >= 0 { return .processed(result) }
            let err = Glibc.errno
            if err == EINTR { continue }
            if !blocking && (err == EAGAIN || err == EWOULDBLOCK) { return .wouldBlock }
            throw SystemError(String(describing: name), errno: err)
        }
    }

    @inline(__always)
    static func mustSucceed<T: FixedWidthInteger>(_ name: StaticString, _ body: () -> T) throws -> T {
        guard case .processed(let value) = try call(name, blocking: true, body) else { fatalError("unreachable") }
        return value
    }

    // MARK: byte I/O

    @inline(__always)
    public static func read(_ fd: Int32, _ pointer: UnsafeMutableRawPointer, _ count: Int) throws -> IOResult<Int> {
        try call("read") { Glibc.read(fd, pointer, count) }
    }

    @inline(__always)
    public static func write(_ fd: Int32, _ pointer: UnsafeRawPointer, _ count: Int) throws -> IOResult<Int> {
        // send with MSG_NOSIGNAL: a peer that vanished must give EPIPE, not kill the daemon with SIGPIPE.
        try call("send") { Glibc.send(fd, pointer, count, Int32(MSG_NOSIGNAL)) }
    }

    public static func writev(_ fd: Int32, _ iov: UnsafePointer<iovec>, _ count: Int32) throws -> IOResult<Int> {
        try call("writev") { Glibc.writev(fd, iov, count) }
    }

    public static func close(_ fd: Int32) {
        // Linux closes the descriptor even when close reports EINTR; retrying could close a reused fd.
        _ = Glibc.close(fd)
    }

    // MARK: sockets

    public static func socket(family: Int32, type: Int32) throws -> Int32 {
        try mustSucceed("socket") {
            Glibc.socket(family, type | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        }
    }

    public static func setOption(_ fd: Int32, level: Int32, name: Int32, value: Int32) throws {
        var v = value
        _ = try mustSucceed("setsockopt") {
            Glibc.setsockopt(fd, level, name, &v, socklen_t(MemoryLayout<Int32>.size))
        }
    }

    public static func getOption(_ fd: Int32, level: Int32, name: Int32) throws -> Int32 {
        var v: Int32 = 0
        var len = socklen_t(MemoryLayout<Int32>.size)
        _ = try mustSucceed("getsockopt") { Glibc.getsockopt(fd, level, name, &v, &len) }
        return v
    }

    public static func bind(_ fd: Int32, _ address: SocketAddress) throws {
        _ = try address.withSockAddr { sa, len in try mustSucceed("bind") { Glibc.bind(fd, sa, len) } }
    }

    public static func listen(_ fd: Int32, backlog: Int32) throws {
        _ = try mustSucceed("listen") { Glibc.listen(fd, backlog) }
    }

    /// Starts a non-blocking connect: `.processed` when already connected, `.wouldBlock` while in progress.
    public static func connect(_ fd: Int32, _ address: SocketAddress) throws -> IOResult<Int32> {
        try address.withSockAddr { sa, len in
            while true {
                if Glibc.connect(fd, sa, len) == 0 { return .processed(0) }
                let err = Glibc.errno
                if err == EINTR { continue }
                if err == EINPROGRESS { return .wouldBlock }
                throw SystemError("connect", errno: err)
            }
        }
    }

    /// Accepts one connection as a non-blocking, close-on-exec socket.
    public static func accept(_ fd: Int32) throws -> IOResult<Int32> {
        try call("accept4") {
            cshims_accept4(fd, nil, nil, Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue))
        }
    }

    public static func localAddress(_ fd: Int32) throws -> SocketAddress {
        try address(fd, "getsockname", Glibc.getsockname)
    }

    public static func peerAddress(_ fd: Int32) throws -> SocketAddress {
        try address(fd, "getpeername", Glibc.getpeername)
    }

    private static func address(
        _ fd: Int32, _ name: StaticString,
        _ call: (Int32, UnsafeMutablePointer<sockaddr>, UnsafeMutablePointer<socklen_t>) -> Int32
    ) throws -> SocketAddress {
        var storage = sockaddr_storage()
        var len = socklen_t(MemoryLayout<sockaddr_storage>.size)
        _ = try withUnsafeMutablePointer(to: &storage) { p in
            try p.withMemoryRebound(to: sockaddr.self, capacity: 1) { sa in
                try mustSucceed(name) { call(fd, sa, &len) }
            }
        }
        return SocketAddress(storage: storage, length: len)
    }

    /// The pending error of a socket whose non-blocking connect finished (0 = connected).
    public static func socketError(_ fd: Int32) throws -> Int32 {
        try getOption(fd, level: SOL_SOCKET, name: SO_ERROR)
    }

    // MARK: epoll

    public static func epollCreate() throws -> Int32 {
        try mustSucceed("epoll_create1") { epoll_create1(Int32(EPOLL_CLOEXEC)) }
    }

    public static func epollControl(_ epfd: Int32, _ op: Int32, _ fd: Int32, events: UInt32, data: UInt64) throws {
        var ev = epoll_event()
        ev.events = events
        ev.data.u64 = data
        _ = try mustSucceed("epoll_ctl") { epoll_ctl(epfd, op, fd, &ev) }
    }

    public static func epollWait(
        _ epfd: Int32, _ events: UnsafeMutablePointer<epoll_event>, _ max: Int32, timeout: Int32
    ) throws -> Int {
        Int(try mustSucceed("epoll_wait") { epoll_wait(epfd, events, max, timeout) })
    }

    /// Waits up to `micros` microseconds (0 = poll) for events.
    public static func epollWait(
        _ epfd: Int32, _ events: UnsafeMutablePointer<epoll_event>, _ max: Int32, micros: Int
    ) throws -> Int {
        Int(try mustSucceed("epoll_pwait2") { cshims_epoll_wait_micros(epfd, events, max, micros) })
    }

    // MARK: misc

    /// Monotonic nanoseconds, for timeouts and latency; never goes backwards.
    @inline(__always)
    public static func monotonicNanoseconds() -> UInt64 {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return UInt64(ts.tv_sec) &* 1_000_000_000 &+ UInt64(ts.tv_nsec)
    }

    /// Unix time in milliseconds (wall clock: for absolute expiry instants sent to servers).
    public static func wallClockMilliseconds() -> Int64 {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return Int64(ts.tv_sec) * 1000 + Int64(ts.tv_nsec) / 1_000_000
    }

    /// This process's id (for status output).
    public static var processID: Int32 { getpid() }

    /// Ignores SIGPIPE process-wide; sends already use MSG_NOSIGNAL, this covers writev.
    public static func ignoreSIGPIPE() {
        signal(SIGPIPE, SIG_IGN)
    }

    /// Fixes glibc's mmap threshold at `bytes`: allocations that large get their own mapping, which
    /// goes back to the kernel when freed. glibc otherwise raises the threshold after the first large
    /// block is freed, and later large blocks come from the heap, whose freed space it keeps.
    public static func fixMmapThreshold(bytes: Int32) {
        cshims_fix_mmap_threshold(bytes)
    }
}
