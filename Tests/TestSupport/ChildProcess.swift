#if canImport(Glibc)
import Glibc
#endif

/// Real servers for differential tests, started and stopped by pid.
///
/// posix_spawn and waitpid rather than Foundation's Process, whose waitUntilExit can miss the exit of
/// one of several children killed at once and then never return.
public enum ChildProcess {
    /// Starts `arguments[0]` (a path) with stdout and stderr on /dev/null.
    public static func spawn(_ arguments: [String]) throws -> pid_t {
        var argv: [UnsafeMutablePointer<CChar>?] = arguments.map { strdup($0) } + [nil]
        defer { for p in argv { free(p) } }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0)
        var pid: pid_t = 0
        let rc = posix_spawn(&pid, arguments[0], &actions, nil, &argv, environ)
        guard rc == 0 else { throw SystemCallError("posix_spawn", code: rc) }
        return pid
    }

    /// Whether `pid` has exited (and is reaped); does not wait.
    public static func hasExited(_ pid: pid_t) -> Bool {
        var status: Int32 = 0
        return waitpid(pid, &status, WNOHANG) == pid
    }

    /// SIGKILL, then reap.
    public static func kill(_ pid: pid_t) {
        Glibc.kill(pid, SIGKILL)
        var status: Int32 = 0
        waitpid(pid, &status, 0)
    }

    /// A loopback TCP port that was free a moment ago (a server started on it may still lose it to
    /// another process: callers check the server they reach is theirs).
    public static func freePort() throws -> UInt16 {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw SystemCallError("socket", code: errno) }
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { pointer -> Int32 in
                guard bind(fd, pointer, length) == 0 else { return -1 }
                return getsockname(fd, pointer, &length)
            }
        }
        guard bound == 0 else { throw SystemCallError("bind", code: errno) }
        return UInt16(bigEndian: address.sin_port)
    }
}

/// A failed system call in test support, with its name and errno.
public struct SystemCallError: Error, CustomStringConvertible {
    public let call: String
    public let code: Int32
    public init(_ call: String, code: Int32) {
        self.call = call
        self.code = code
    }
    public var description: String { "\(call) failed: \(String(cString: strerror(code)))" }
}
