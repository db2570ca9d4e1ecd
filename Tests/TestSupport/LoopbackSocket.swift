#if canImport(Glibc)
import Glibc
#endif

/// Blocking TCP connections to servers on the loopback interface, for tests that talk to a real
/// server (or to the proxy) byte by byte.
public enum LoopbackSocket {
    /// A connected socket to 127.0.0.1:`port` whose reads time out after `receiveTimeoutSeconds`;
    /// the caller closes it.
    public static func connect(port: Int, receiveTimeoutSeconds: Int = 5) throws -> Int32 {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw SystemCallError("socket", code: errno) }
        var timeout = timeval(tv_sec: receiveTimeoutSeconds, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = UInt16(port).bigEndian
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let rc = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard rc == 0 else {
            let code = errno
            close(fd)
            throw SystemCallError("connect", code: code)
        }
        return fd
    }
}
