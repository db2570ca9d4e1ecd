/// Frames one client request at the start of a buffer, in place.
///
/// Contract:
/// - A request is one command line ended by "\n" (an optional "\r" before it is dropped, as
///   memcached does), split on runs of spaces (only spaces: a tab is part of a token), then for
///   storage commands and ms a data block of exactly the declared length followed by "\r\n".
/// - Semantics and error texts follow memcached 1.6's proto_text.c (checked against 1.6.18):
///   names are case-sensitive, a wrong number of tokens or an empty line is "ERROR", the last
///   token "noreply" sets `noreply`, numbers read as strtol/strtoul read them. Deliberate
///   differences, all refusals memcached does not make: keys with control characters, 32-bit
///   fields (flags, data length) written with more bits (memcached truncates them), `gat` without
///   a key, non-canonical base64 keys, meta flags over 32 bytes, lines over
///   `maxCommandLineBytes` (memcached drops the connection instead) — see `MemcachedRequestError`
///   for the data block of a refused write, which is always swallowed.
/// - Which meta flags a command accepts is left to the backend, except what the proxy relies on:
///   a flag given twice (so `q` is removed for sure), a bad b key, an O flag over 32 bytes, and
///   more than 16 ms flags (memcached then reads ms data as commands).
/// - Every limit is judged on the bytes themselves (a line over a limit is refused even when its
///   line end arrived in the same read), so the outcome does not depend on how TCP split the stream.
/// - The parser is stateless between calls: each call starts again at the start of the input.
///   `incomplete(atLeast:)` says how long to wait before calling again; once a storage line is
///   known it covers the whole data block.
/// - No heap allocation per call once `request.keys`, `request.metaFlags` and the token list
///   have grown (error replies are static strings).
public struct MemcachedRequestParser: Sendable {
    /// The limits this parser enforces.
    public let limits: MemcachedLimits
    /// After `.request`: the request, its ranges relative to the start of the parsed input.
    public internal(set) var request = MemcachedRequest()
    // The tokens of the current line, kept to reuse their storage.
    @usableFromInline var tokens: [Range<Int>] = []

    @usableFromInline static let binaryMagic: UInt8 = 0x80
    // memcached's `vlen > (INT_MAX - 2)` bound on a data length.
    @usableFromInline static let maxDataLength = Int(Int32.max) - 2

    public init(limits: MemcachedLimits = MemcachedLimits()) {
        self.limits = limits
    }

    /// Frames the request at the start of `bytes`. See the type's contract.
    public mutating func parse(_ bytes: UnsafeRawBufferPointer) -> MemcachedParseResult {
        request.reset()
        MemcachedRequest.truncate(&tokens)
        let n = bytes.count
        guard n > 0 else { return .incomplete(atLeast: 1) }
        if bytes[0] == Self.binaryMagic { return .binaryProtocol }

        let window = Swift.min(n, limits.maxLineBytes)
        guard let newline = MemcachedScan.firstIndex(of: MemcachedScan.lf, in: bytes, from: 0, to: window) else {
            if n >= limits.maxLineBytes || (n >= limits.maxCommandLineBytes && !Self.startsWithGet(bytes)) {
                return Self.fail(MemcachedErrorText.lineTooLong, consume: n, close: true)
            }
            return .incomplete(atLeast: n + 1)
        }
        let headerLength = newline + 1
        var lineEnd = newline
        if lineEnd > 0, bytes[lineEnd - 1] == MemcachedScan.cr { lineEnd -= 1 }
        Self.tokenize(bytes, upTo: lineEnd, into: &tokens)
        request.headerLength = headerLength

        guard let first = tokens.first, let command = MemcachedCommand.lookup(bytes, first) else {
            return Self.fail(MemcachedErrorText.unknownCommand, consume: headerLength)
        }
        request.command = command
        request.name = first
        if headerLength > limits.maxCommandLineBytes, command != .get, command != .gets {
            return Self.fail(MemcachedErrorText.lineTooLong, consume: headerLength, close: true)
        }

        switch command {
        case .get, .gets: return parseGet(bytes, touch: false)
        case .gat, .gats: return parseGet(bytes, touch: true)
        case .set, .add, .replace, .append, .prepend, .cas: return parseStorage(bytes)
        case .metaGet, .metaDelete, .metaArithmetic: return parseMetaLine(bytes)
        case .metaSet: return parseMetaSet(bytes)
        case .metaDebug: return parseMetaDebug(bytes)
        case .delete: return parseDelete(bytes)
        case .incr, .decr: return parseArithmetic(bytes)
        case .touch: return parseTouch(bytes)
        case .flushAll: return parseFlushAll(bytes)
        case .verbosity: return parseVerbosity(bytes)
        case .stats:
            request.arguments.append(contentsOf: tokens[1...])
            return .request(length: headerLength)
        case .refused:
            // Most admin commands take a trailing noreply; the proxy answers them itself.
            if tokens.count > 1 { takeNoreply(bytes, at: tokens.count - 1) }
            return .request(length: headerLength)
        case .version, .quit, .metaNoop:
            // memcached ignores any argument of version, quit and mn.
            return .request(length: headerLength)
        }
    }

    // MARK: - Text commands

    /// get/gets "<key>+", gat/gats "<exptime> <key>+".
    @usableFromInline
    mutating func parseGet(_ bytes: UnsafeRawBufferPointer, touch: Bool) -> MemcachedParseResult {
        let header = request.headerLength
        let firstKey = touch ? 2 : 1
        // memcached answers "gat <exptime>" alone with END; a request without a key cannot be routed.
        guard tokens.count > firstKey else { return Self.fail(MemcachedErrorText.unknownCommand, consume: header) }
        if touch {
            guard let exptime = MemcachedScan.parseSigned(bytes, tokens[1]) else {
                return Self.fail(MemcachedErrorText.badExptime, consume: header)
            }
            request.exptime = exptime
            request.exptimeToken = tokens[1]
        }
        let maxKey = limits.maxKeyLength
        for i in firstKey ..< tokens.count {
            guard MemcachedScan.isValidKey(bytes, tokens[i], maxLength: maxKey) else {
                return Self.fail(MemcachedErrorText.badFormat, consume: header)
            }
        }
        // One by one: cheaper than append(contentsOf:) of a slice for the usual single key.
        for i in firstKey ..< tokens.count { request.keys.append(tokens[i]) }
        return .request(length: header)
    }

    /// "<cmd> <key> <flags> <exptime> <bytes> [noreply]", cas with `<cas unique>` before noreply.
    @usableFromInline
    mutating func parseStorage(_ bytes: UnsafeRawBufferPointer) -> MemcachedParseResult {
        let header = request.headerLength
        let base = request.command == .cas ? 6 : 5
        guard tokens.count == base || tokens.count == base + 1 else {
            return Self.fail(MemcachedErrorText.unknownCommand, consume: header)
        }
        // Like memcached's set_noreply_maybe: only the exact last token counts; any other extra
        // token is ignored.
        if tokens.count == base + 1 { takeNoreply(bytes, at: base) }
        let silent = request.noreply
        request.keys.append(tokens[1])

        // The data length first, so that every later refusal can swallow the data block.
        let length = Self.dataLength(bytes, tokens[4])
        let consume = length.map { header + $0 + 2 } ?? header
        guard MemcachedScan.isValidKey(bytes, tokens[1], maxLength: limits.maxKeyLength) else {
            return Self.fail(MemcachedErrorText.badFormat, consume: consume, silent: silent)
        }
        guard let flags = MemcachedScan.parseUnsigned(bytes, tokens[2], max: UInt64(UInt32.max)),
              let exptime = MemcachedScan.parseSigned(bytes, tokens[3]),
              let length else {
            return Self.fail(MemcachedErrorText.badFormat, consume: consume, silent: silent)
        }
        request.clientFlags = UInt32(flags)
        request.exptime = exptime
        request.exptimeToken = tokens[3]
        if base == 6 {
            guard let cas = MemcachedScan.parseUnsigned(bytes, tokens[5]) else {
                return Self.fail(MemcachedErrorText.badFormat, consume: consume, silent: silent)
            }
            request.casUnique = cas
        }
        return dataBlock(bytes, length: length, silent: silent)
    }

    /// "delete <key> [0] [noreply]": memcached still accepts the legacy hold time, if it is 0.
    @usableFromInline
    mutating func parseDelete(_ bytes: UnsafeRawBufferPointer) -> MemcachedParseResult {
        let header = request.headerLength
        let count = tokens.count
        guard count >= 2, count <= 4 else { return Self.fail(MemcachedErrorText.unknownCommand, consume: header) }
        if count > 2 {
            let holdIsZero = MemcachedScan.equals(bytes, tokens[2], "0")
            takeNoreply(bytes, at: count - 1)
            let valid = (count == 3 && (holdIsZero || request.noreply)) || (count == 4 && holdIsZero && request.noreply)
            guard valid else { return Self.fail(MemcachedErrorText.badDelete, consume: header, silent: request.noreply) }
        }
        return takeKey(bytes) ?? .request(length: header)
    }

    /// "incr|decr <key> <delta> [noreply]".
    @usableFromInline
    mutating func parseArithmetic(_ bytes: UnsafeRawBufferPointer) -> MemcachedParseResult {
        let header = request.headerLength
        guard tokens.count == 3 || tokens.count == 4 else { return Self.fail(MemcachedErrorText.unknownCommand, consume: header) }
        if tokens.count == 4 { takeNoreply(bytes, at: 3) }
        if let error = takeKey(bytes) { return error }
        guard let delta = MemcachedScan.parseUnsigned(bytes, tokens[2]) else {
            return Self.fail(MemcachedErrorText.badDelta, consume: header, silent: request.noreply)
        }
        request.delta = delta
        return .request(length: header)
    }

    /// "touch <key> <exptime> [noreply]".
    @usableFromInline
    mutating func parseTouch(_ bytes: UnsafeRawBufferPointer) -> MemcachedParseResult {
        let header = request.headerLength
        guard tokens.count == 3 || tokens.count == 4 else { return Self.fail(MemcachedErrorText.unknownCommand, consume: header) }
        if tokens.count == 4 { takeNoreply(bytes, at: 3) }
        if let error = takeKey(bytes) { return error }
        guard let exptime = MemcachedScan.parseSigned(bytes, tokens[2]) else {
            return Self.fail(MemcachedErrorText.badExptime, consume: header, silent: request.noreply)
        }
        request.exptime = exptime
        request.exptimeToken = tokens[2]
        return .request(length: header)
    }

    /// "flush_all [delay] [noreply]". As in memcached, a second argument that is not "noreply" is
    /// ignored, and "noreply" must come last.
    @usableFromInline
    mutating func parseFlushAll(_ bytes: UnsafeRawBufferPointer) -> MemcachedParseResult {
        let header = request.headerLength
        let count = tokens.count
        guard count <= 3 else { return Self.fail(MemcachedErrorText.unknownCommand, consume: header) }
        if count > 1 { takeNoreply(bytes, at: count - 1) }
        if count != (request.noreply ? 2 : 1) {
            guard let delay = MemcachedScan.parseSigned(bytes, tokens[1]) else {
                return Self.fail(MemcachedErrorText.badExptime, consume: header, silent: request.noreply)
            }
            request.exptime = delay
            request.exptimeToken = tokens[1]
        }
        return .request(length: header)
    }

    /// "verbosity <level> [noreply]"; the level is checked, not kept.
    @usableFromInline
    mutating func parseVerbosity(_ bytes: UnsafeRawBufferPointer) -> MemcachedParseResult {
        let header = request.headerLength
        guard tokens.count == 2 || tokens.count == 3 else { return Self.fail(MemcachedErrorText.unknownCommand, consume: header) }
        takeNoreply(bytes, at: tokens.count - 1)
        guard MemcachedScan.parseUnsigned(bytes, tokens[1], max: UInt64(UInt32.max)) != nil else {
            return Self.fail(MemcachedErrorText.badFormat, consume: header, silent: request.noreply)
        }
        return .request(length: header)
    }

    // MARK: - Shared pieces

    /// Sets `noreply` when token `index` is exactly "noreply"; the range reaches back to the end
    /// of the token before it, so removing it leaves a valid line.
    @usableFromInline
    mutating func takeNoreply(_ bytes: UnsafeRawBufferPointer, at index: Int) {
        guard index > 0, MemcachedScan.equals(bytes, tokens[index], "noreply") else { return }
        request.noreply = true
        request.noreplyToken = tokens[index - 1].upperBound ..< tokens[index].upperBound
    }

    /// Records token 1 as the key; the error to return when it is not a valid key.
    @usableFromInline
    mutating func takeKey(_ bytes: UnsafeRawBufferPointer) -> MemcachedParseResult? {
        request.keys.append(tokens[1])
        guard MemcachedScan.isValidKey(bytes, tokens[1], maxLength: limits.maxKeyLength) else {
            return Self.fail(MemcachedErrorText.badFormat, consume: request.headerLength, silent: request.noreply)
        }
        return nil
    }

    /// A data length as memcached reads it (strtol, then 0...INT_MAX-2), or nil.
    @usableFromInline
    static func dataLength(_ bytes: UnsafeRawBufferPointer, _ token: Range<Int>) -> Int? {
        guard let v = MemcachedScan.parseSigned(bytes, token), v >= 0, v <= Int64(maxDataLength) else { return nil }
        return Int(v)
    }

    /// The data block of `length` bytes after the command line: too large, incomplete, a bad
    /// chunk (checked as soon as the bytes after the data are here), or the whole request.
    @usableFromInline
    mutating func dataBlock(_ bytes: UnsafeRawBufferPointer, length: Int, silent: Bool) -> MemcachedParseResult {
        let start = request.headerLength
        let end = start + length + 2
        guard length <= limits.maxValueBytes else {
            return Self.fail(MemcachedErrorText.tooLarge, consume: end, silent: silent)
        }
        let pastData = bytes.count - start - length
        if pastData > 0 {
            guard bytes[start + length] == MemcachedScan.cr,
                  pastData == 1 || bytes[start + length + 1] == MemcachedScan.lf else {
                return Self.fail(MemcachedErrorText.badDataChunk, consume: end, silent: silent)
            }
        }
        if pastData < 2 { return .incomplete(atLeast: end) }
        request.value = start ..< start + length
        return .request(length: end)
    }

    @usableFromInline
    static func fail(_ reply: String, consume: Int, close: Bool = false, silent: Bool = false) -> MemcachedParseResult {
        .error(MemcachedRequestError(reply: reply, consume: consume, close: close, silent: silent))
    }

    /// Splits `bytes[0..<end]` on runs of spaces, as memcached's tokenize_command does.
    @usableFromInline
    static func tokenize(_ bytes: UnsafeRawBufferPointer, upTo end: Int, into tokens: inout [Range<Int>]) {
        var i = 0
        while i < end {
            while i < end, bytes[i] == MemcachedScan.space { i += 1 }
            guard i < end else { break }
            let start = i
            i = MemcachedScan.nextSpace(bytes, from: i, to: end)
            tokens.append(start ..< i)
        }
    }

    /// Whether a line still without its line end is a get or gets (after leading spaces, as
    /// memcached checks before dropping a long line).
    @usableFromInline
    static func startsWithGet(_ bytes: UnsafeRawBufferPointer) -> Bool {
        var i = 0
        while i < bytes.count, bytes[i] == MemcachedScan.space { i += 1 }
        return MemcachedScan.hasPrefix(bytes, at: i, "get ") || MemcachedScan.hasPrefix(bytes, at: i, "gets ")
    }
}
