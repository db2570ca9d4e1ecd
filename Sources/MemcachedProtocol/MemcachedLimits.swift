/// Bounds the request parser enforces, checked from the command line before any data block
/// arrives (a declared 2 MB value is refused at once, not after buffering it).
///
/// Defaults are memcached 1.6's: `KEY_MAX_LENGTH` 250, the default 1 MiB item size (`-I 1m`;
/// memcached's real limit is a little lower, as the item header shares the slab chunk), and the
/// 2048 bytes after which memcached drops a connection whose command line has no line end yet.
public struct MemcachedLimits: Sendable, Equatable {
    /// Longest key, in bytes (for a meta `b` key: both the base64 text and the decoded key).
    public var maxKeyLength = 250
    /// Largest data block a storage command or `ms` may declare.
    public var maxValueBytes = 1_048_576
    /// Longest command line, its line end included. get/gets are only bound by this.
    public var maxLineBytes = 65_536
    /// Longest command line, its line end included, for every command but get and gets.
    /// memcached reads a get/gets line of any length but closes the connection when another
    /// command's line has no line end within its first 2048 bytes (and always past its 16 KiB read
    /// buffer), so a longer line could never be forwarded safely.
    public var maxCommandLineBytes = 2048

    public init(maxKeyLength: Int = 250, maxValueBytes: Int = 1_048_576, maxLineBytes: Int = 65_536,
                maxCommandLineBytes: Int = 2048) {
        self.maxKeyLength = maxKeyLength
        self.maxValueBytes = maxValueBytes
        self.maxLineBytes = maxLineBytes
        self.maxCommandLineBytes = maxCommandLineBytes
    }
}
