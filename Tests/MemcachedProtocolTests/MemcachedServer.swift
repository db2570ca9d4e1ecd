import Foundation
#if canImport(Glibc)
import Glibc
#endif
import MemcachedProtocol
import TestSupport

/// A real memcached started for a differential test, and a blocking client connection to it.
/// The binary is $MEMCACHED_BIN, else `memcached` on PATH; tests using it are skipped without one.
final class MemcachedServer {
    static let binary: String? = {
        let env = ProcessInfo.processInfo.environment
        if let path = env["MEMCACHED_BIN"], FileManager.default.isExecutableFile(atPath: path) { return path }
        for dir in (env["PATH"] ?? "").split(separator: ":") {
            let path = "\(dir)/memcached"
            if FileManager.default.isExecutableFile(atPath: path) { return path }
        }
        return nil
    }()

    let port: UInt16
    private var pid: pid_t = 0

    init() throws {
        guard let binary = Self.binary else { throw ServerError("no memcached binary") }
        for _ in 0 ..< 5 {
            let port = try ChildProcess.freePort()
            var arguments = [binary, "-p", "\(port)", "-U", "0", "-l", "127.0.0.1", "-m", "64"]
            // memcached refuses to run as root unless told which user to be.
            if getuid() == 0 { arguments += ["-u", "root"] }
            let pid = try ChildProcess.spawn(arguments)
            for _ in 0 ..< 200 {
                // Exited: most likely another test took the port first; try another.
                if ChildProcess.hasExited(pid) { break }
                if let probe = try? Connection(port: port), (try? probe.exchange(Array("stats\r\n".utf8)))?.first
                    .map({ String(decoding: $0, as: UTF8.self).contains("STAT pid \(pid)\r\n") }) == true {
                    self.port = port
                    self.pid = pid
                    return
                }
                usleep(10_000)
            }
            ChildProcess.kill(pid)
        }
        throw ServerError("memcached did not start")
    }

    func stop() {
        guard pid > 0 else { return }
        ChildProcess.kill(pid)
        pid = 0
    }

    deinit { stop() }

    func client() throws -> Connection { try Connection(port: port) }

    struct ServerError: Error, CustomStringConvertible {
        let description: String
        init(_ description: String) { self.description = description }
    }

    /// A blocking TCP connection with a receive timeout.
    final class Connection {
        private var fd: Int32

        init(port: UInt16) throws {
            fd = try LoopbackSocket.connect(port: Int(port))
        }

        func disconnect() {
            if fd >= 0 { close(fd) }
            fd = -1
        }

        deinit { disconnect() }

        func write(_ bytes: [UInt8]) throws {
            #if os(Linux)
            let flags = Int32(MSG_NOSIGNAL)
            #else
            let flags: Int32 = 0
            #endif
            var sent = 0
            while sent < bytes.count {
                let n = bytes.withUnsafeBytes { send(fd, $0.baseAddress! + sent, bytes.count - sent, flags) }
                guard n > 0 else { throw ServerError("send failed") }
                sent += n
            }
        }

        /// Appends what arrives to `buffer`; false at end of stream or timeout.
        func receive(into buffer: inout [UInt8]) -> Bool {
            var chunk = [UInt8](repeating: 0, count: 65536)
            let n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress!, 65536, 0) }
            guard n > 0 else { return false }
            buffer.append(contentsOf: chunk[..<n])
            return true
        }

        /// Sends `request` then "mn\r\n", and returns the replies before the MN, each framed by
        /// `MemcachedReplyFramer` over the bytes as they arrive. Throws when the framer finds the
        /// stream invalid or the stream does not end exactly after the MN.
        func exchange(_ request: [UInt8]) throws -> [[UInt8]] {
            try write(request + Array("mn\r\n".utf8))
            var framer = MemcachedReplyFramer()
            var buffer: [UInt8] = []
            var replies: [[UInt8]] = []
            var offset = 0
            while true {
                let result = buffer.withUnsafeBytes { framer.frame(UnsafeRawBufferPointer(rebasing: $0[offset...])) }
                switch result {
                case .reply(let length, _):
                    let reply = Array(buffer[offset ..< offset + length])
                    offset += length
                    if reply == Array("MN\r\n".utf8) {
                        guard offset == buffer.count else { throw ServerError("bytes after MN: \(buffer[offset...])") }
                        return replies
                    }
                    replies.append(reply)
                case .incomplete:
                    guard receive(into: &buffer) else {
                        throw ServerError("stream ended inside a reply: \(String(decoding: buffer[offset...], as: UTF8.self).debugDescription)")
                    }
                case .invalid(let why):
                    throw ServerError("framer: \(why) in \(String(decoding: buffer[offset...], as: UTF8.self).debugDescription)")
                }
            }
        }
    }
}
