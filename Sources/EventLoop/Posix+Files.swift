#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// File and directory calls, for the on-disk logs. Same contract as the rest of `Posix`: EINTR is
/// retried, any other failure throws `SystemError` naming the call. These calls block (regular files
/// never report EAGAIN), so none of them returns `IOResult`.
extension Posix {
    // MARK: descriptors

    /// Opens `path` with `flags` (O_CLOEXEC is always added); `mode` applies when O_CREAT creates it.
    public static func open(_ path: String, flags: Int32, mode: mode_t = 0o644) throws -> Int32 {
        try mustSucceed("open") { Glibc.open(path, flags | O_CLOEXEC, mode) }
    }

    /// Opens `name` relative to the directory open as `directoryFD`.
    public static func openat(_ directoryFD: Int32, _ name: String, flags: Int32, mode: mode_t = 0o644) throws -> Int32 {
        try mustSucceed("openat") { Glibc.openat(directoryFD, name, flags | O_CLOEXEC, mode) }
    }

    /// Reads up to `count` bytes at file offset `offset`; 0 means end of file.
    public static func pread(_ fd: Int32, _ pointer: UnsafeMutableRawPointer, _ count: Int, at offset: Int) throws -> Int {
        try mustSucceed("pread") { Glibc.pread(fd, pointer, count, off_t(offset)) }
    }

    /// Writes up to `count` bytes at file offset `offset`; returns how many were written (may be short).
    public static func pwrite(_ fd: Int32, _ pointer: UnsafeRawPointer, _ count: Int, at offset: Int) throws -> Int {
        try mustSucceed("pwrite") { Glibc.pwrite(fd, pointer, count, off_t(offset)) }
    }

    /// Gathers `count` buffers into the file at `offset`; returns how many bytes were written (may be short).
    public static func pwritev(_ fd: Int32, _ iov: UnsafePointer<iovec>, _ count: Int32, at offset: Int) throws -> Int {
        try mustSucceed("pwritev") { Glibc.pwritev(fd, iov, count, off_t(offset)) }
    }

    /// Flushes the file's data and metadata to stable storage.
    public static func fsync(_ fd: Int32) throws {
        _ = try mustSucceed("fsync") { Glibc.fsync(fd) }
    }

    /// Flushes the file's data (and the metadata needed to read it back, such as its size).
    public static func fdatasync(_ fd: Int32) throws {
        _ = try mustSucceed("fdatasync") { Glibc.fdatasync(fd) }
    }

    public static func ftruncate(_ fd: Int32, _ length: Int) throws {
        _ = try mustSucceed("ftruncate") { Glibc.ftruncate(fd, off_t(length)) }
    }

    /// The size in bytes of the open file.
    public static func fileSize(_ fd: Int32) throws -> Int {
        var info = stat()
        _ = try mustSucceed("fstat") { Glibc.fstat(fd, &info) }
        return Int(info.st_size)
    }

    /// Takes an exclusive advisory lock on the open file, without waiting: throws `SystemError` with
    /// EWOULDBLOCK when another open file description holds it.
    public static func lockExclusive(_ fd: Int32) throws {
        // The cast picks the function: `flock` also names the fcntl lock struct.
        let lock: (Int32, Int32) -> Int32 = Glibc.flock(_:_:)
        _ = try mustSucceed("flock") { lock(fd, LOCK_EX | LOCK_NB) }
    }

    // MARK: paths

    /// Removes `name` from the directory open as `directoryFD`.
    public static func unlinkat(_ directoryFD: Int32, _ name: String) throws {
        _ = try mustSucceed("unlinkat") { Glibc.unlinkat(directoryFD, name, 0) }
    }

    /// Creates the directory; an existing directory is not an error when `existingOK`.
    public static func mkdir(_ path: String, mode: mode_t = 0o755, existingOK: Bool = true) throws {
        do {
            _ = try mustSucceed("mkdir") { Glibc.mkdir(path, mode) }
        } catch let error as SystemError where existingOK && error.errno == EEXIST {
            return
        }
    }

    /// The names in a directory, without "." and "..", in no particular order.
    /// `mkdir -p`: every missing directory of `path`, existing ones accepted.
    public static func makeDirectories(_ path: String, mode: mode_t = 0o755) throws {
        var prefix = path.hasPrefix("/") ? "/" : ""
        for component in path.split(separator: "/") {
            prefix += component
            try mkdir(prefix, mode: mode, existingOK: true)
            prefix += "/"
        }
    }

    public static func listDirectory(_ path: String) throws -> [String] {
        guard let dir = Glibc.opendir(path) else { throw SystemError("opendir", errno: Glibc.errno) }
        defer { Glibc.closedir(dir) }
        var names: [String] = []
        while true {
            // readdir returns nil both at the end and on error; only errno tells them apart.
            Glibc.errno = 0
            guard let entry = Glibc.readdir(dir) else {
                let err = Glibc.errno
                if err != 0 { throw SystemError("readdir", errno: err) }
                return names
            }
            let name = withUnsafePointer(to: &entry.pointee.d_name) {
                $0.withMemoryRebound(to: CChar.self, capacity: MemoryLayout.size(ofValue: entry.pointee.d_name)) {
                    String(cString: $0)
                }
            }
            if name != "." && name != ".." { names.append(name) }
        }
    }
}
