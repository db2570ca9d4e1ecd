/// One meta flag as written: its letter and its token (empty when the flag has none), as a range
/// in the frame. For "T30" the letter is "T" and the token covers "30".
public struct MetaFlag: Sendable, Equatable {
    public var letter: UInt8
    public var token: Range<Int>

    @inlinable
    public init(letter: UInt8, token: Range<Int>) {
        self.letter = letter
        self.token = token
    }

    /// The whole flag as written, letter included.
    @inlinable public var range: Range<Int> { token.lowerBound - 1 ..< token.upperBound }
}

/// One parsed request, as `MemcachedRequestParser.request` holds it after `.request(length:)`.
///
/// Contract:
/// - Every range is relative to the start of the parsed frame (the parser's input).
/// - The parser reuses one value between parses: fields a command does not have are reset
///   (ranges nil, numbers 0, flags false, arrays emptied keeping their storage). Copying the value
///   out and keeping the copy makes the next parse allocate; read it in place.
/// - After `.error`, the fields hold what was parsed before the error (at least `command` and
///   `name` once the name was recognised) and may be incomplete.
public struct MemcachedRequest: Sendable {
    public var command: MemcachedCommand = .metaNoop
    /// The command word.
    public var name: Range<Int> = 0 ..< 0
    /// The command line including its "\r\n" (or bare "\n").
    public var headerLength: Int = 0
    /// Every key token, in order (for meta with the b flag: the base64 text as sent).
    public var keys: [Range<Int>] = []
    /// The arguments of `stats` (e.g. "slabs"), in order; empty for every other command.
    public var arguments: [Range<Int>] = []
    /// Storage commands; for ms, the F token when it parses.
    public var clientFlags: UInt32 = 0
    /// Storage commands, touch, gat/gats and flush_all's delay; for meta, the T token when it
    /// parses. As written: memcached itself truncates it to 32 bits (see `MemcachedExpiry`).
    public var exptime: Int64 = 0
    /// Where the exptime token sits (storage, touch, gat, gats, flush_all with a delay; for meta
    /// the T flag's token, without its letter).
    public var exptimeToken: Range<Int>? = nil
    /// The data block of storage commands and ms, WITHOUT its trailing "\r\n".
    public var value: Range<Int>? = nil
    /// cas; for meta, the C token when it parses.
    public var casUnique: UInt64 = 0
    /// incr/decr; for ma, the D token when it parses, else 1 (ma's default).
    public var delta: UInt64 = 0
    /// Text `noreply` was given (the last token of storage, delete, incr, decr, touch, flush_all,
    /// verbosity, and of a refused admin command).
    public var noreply: Bool = false
    /// The "noreply" token INCLUDING the spaces before it, so removing that range leaves a valid line.
    public var noreplyToken: Range<Int>? = nil
    /// mg/ms/md/ma/me flags in order (for ms, after the datalen token).
    public var metaFlags: [MetaFlag] = []
    /// Meta 'q' flag present (mg, ms, md, ma).
    public var quiet: Bool = false
    /// Meta 'b' flag present: the key is base64 (for me: "b" is its first flag, as memcached reads it).
    public var base64Key: Bool = false

    public init() {}

    /// The first meta flag with this letter, or nil.
    @inlinable
    public func metaFlag(_ letter: UInt8) -> MetaFlag? {
        for flag in metaFlags where flag.letter == letter { return flag }
        return nil
    }

    /// The first key, or an empty range when the command has none.
    @inlinable public var key: Range<Int> { keys.first ?? 0 ..< 0 }

    /// Resets every field but the array storage.
    @inlinable
    mutating func reset() {
        command = .metaNoop
        name = 0 ..< 0
        headerLength = 0
        Self.truncate(&keys)
        if !arguments.isEmpty { arguments.removeAll(keepingCapacity: true) }
        clientFlags = 0
        exptime = 0
        exptimeToken = nil
        value = nil
        casUnique = 0
        delta = 0
        noreply = false
        noreplyToken = nil
        if metaFlags.count <= 16 {
            while !metaFlags.isEmpty { metaFlags.removeLast() }
        } else {
            metaFlags.removeAll(keepingCapacity: true)
        }
        quiet = false
        base64Key = false
    }

    /// Empties `ranges` keeping its storage. For the usual handful, popping is cheaper than
    /// `removeAll(keepingCapacity:)`, which goes through a generic replaceSubrange.
    @inlinable
    static func truncate(_ ranges: inout [Range<Int>]) {
        if ranges.count <= 16 {
            while !ranges.isEmpty { ranges.removeLast() }
        } else {
            ranges.removeAll(keepingCapacity: true)
        }
    }
}
