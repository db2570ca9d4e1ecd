import CShims
#if canImport(Glibc)
import Glibc
#endif

/// A listening TCP socket on one loop. Each worker loop has its own, bound to the same address with
/// SO_REUSEPORT, so the kernel spreads new connections across workers with no hand-off between threads.
public final class Listener: IOHandler {
    public let fd: Int32
    public unowned let loop: EventLoop
    public let address: SocketAddress
    private let onAccept: (Int32) -> Void
    private let onError: (Error) -> Void
    private var isOpen = true

    /// Binds and listens. `onAccept` receives each new non-blocking socket and owns it from then on.
    public init(
        address: SocketAddress, loop: EventLoop, backlog: Int32 = 1024,
        onAccept: @escaping (Int32) -> Void, onError: @escaping (Error) -> Void
    ) throws {
        let fd = try Posix.socket(family: address.family, type: Int32(SOCK_STREAM.rawValue))
        do {
            try Posix.setOption(fd, level: SOL_SOCKET, name: SO_REUSEADDR, value: 1)
            try Posix.setOption(fd, level: SOL_SOCKET, name: SO_REUSEPORT, value: 1)
            try Posix.bind(fd, address)
            try Posix.listen(fd, backlog: backlog)
            self.address = try Posix.localAddress(fd)
        } catch {
            Posix.close(fd)
            throw error
        }
        self.fd = fd
        self.loop = loop
        self.onAccept = onAccept
        self.onError = onError
        try loop.register(fd, interest: .read, handler: self)
    }

    public func handle(_ events: IOEvents) {
        // Bounded so one burst of connections cannot starve the loop's other sockets.
        for _ in 0..<64 {
            guard isOpen else { return }
            do {
                switch try Posix.accept(fd) {
                case .wouldBlock: return
                case .processed(let client): onAccept(client)
                }
            } catch let error as SystemError where error.errno == ECONNABORTED || error.errno == EPROTO {
                continue
            } catch {
                // EMFILE and friends: report, and stop for this event rather than spin.
                onError(error)
                return
            }
        }
    }

    public func close() {
        guard isOpen else { return }
        isOpen = false
        loop.unregister(fd)
        Posix.close(fd)
    }
}
