/// What `MemcachedRequestParser.parse` found at the start of its input.
public enum MemcachedParseResult: Equatable, Sendable {
    /// A whole request (line + data block if any) of `length` bytes; details in `parser.request`.
    case request(length: Int)
    /// The buffer must hold at least this many bytes before parsing again. Never more than the
    /// real frame length; once a storage line is known it is the whole frame (line + data + 2).
    case incomplete(atLeast: Int)
    /// Answer `reply` (unless `silent`), drop `consume` bytes (may be MORE than are buffered: the
    /// session then swallows the rest as it arrives), close if `close`.
    case error(MemcachedRequestError)
    /// First byte 0x80: a binary-protocol client.
    case binaryProtocol
}

/// A request the proxy answers itself with an error, and how to get past it.
///
/// Contract:
/// - `reply` is the full line without "\r\n", memcached's own text where it has one.
/// - `consume` covers the command line, plus the data block and its "\r\n" whenever the line is a
///   storage command or ms whose data length is valid: the data of a refused write is swallowed,
///   never read as commands. (memcached itself swallows it only for "too large" and for ms flag
///   errors; for a bad key or number it reads the data as a command line and answers that too.)
/// - For `MemcachedErrorText.tooLarge`, the parser's `request` still names the refused command and
///   its key (`command`, `keys`, `base64Key`): memcached deletes the key of a refused set.
/// - `close`: the stream cannot be resynchronised (a line too long); reply, then close.
/// - `silent`: the request carried text `noreply`, and memcached answers nothing for this error
///   either; consume (and close) still apply. Meta `q` never silences errors.
public struct MemcachedRequestError: Equatable, Sendable {
    public var reply: String
    public var consume: Int
    public var close: Bool
    public var silent: Bool

    public init(reply: String, consume: Int, close: Bool = false, silent: Bool = false) {
        self.reply = reply
        self.consume = consume
        self.close = close
        self.silent = silent
    }
}

/// The error lines the parser answers with.
public enum MemcachedErrorText {
    /// Unknown command, empty line, wrong number of tokens.
    public static let unknownCommand = "ERROR"
    /// Bad key (too long, control character), bad number on a storage line, bad ms/me line.
    public static let badFormat = "CLIENT_ERROR bad command line format"
    /// A data block not followed by "\r\n".
    public static let badDataChunk = "CLIENT_ERROR bad data chunk"
    /// A data block over `maxValueBytes`.
    public static let tooLarge = "SERVER_ERROR object too large for cache"
    /// A line over `maxLineBytes` / `maxCommandLineBytes` (the proxy's own text; memcached just closes).
    public static let lineTooLong = "CLIENT_ERROR line too long"
    /// touch, gat, gats, flush_all.
    public static let badExptime = "CLIENT_ERROR invalid exptime argument"
    /// incr, decr.
    public static let badDelta = "CLIENT_ERROR invalid numeric delta argument"
    /// "delete <key> <anything but 0 or noreply>".
    public static let badDelete = "CLIENT_ERROR bad command line format.  Usage: delete <key> [noreply]"
    /// mg/ms with a b flag on a key that is not base64.
    public static let badBase64Key = "CLIENT_ERROR error decoding key"
    /// mg/ms with a flag given twice.
    public static let duplicateFlag = "CLIENT_ERROR duplicate flag"
    /// md/ma with a flag given twice or a b key that is not base64.
    public static let invalidOrDuplicateFlag = "CLIENT_ERROR invalid or duplicate flag"
    /// An O flag over 32 bytes, its letter included.
    public static let opaqueTooLong = "CLIENT_ERROR opaque token too long"
    /// ms with more than 16 flags.
    public static let tooManyFlags = "CLIENT_ERROR options flags too long"
    /// Any other meta flag over 32 bytes (the proxy's rule; memcached uses this text for flag
    /// tokens it cannot read).
    public static let badFlagToken = "CLIENT_ERROR bad token in command line format"
}
