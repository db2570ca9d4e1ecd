/// What a backend reply line is, from its first word. Used by `MemcachedReplyFramer` and
/// `MemcachedQuiet`; works on raw buffers and never allocates.
@usableFromInline
enum MemcachedReplyWord: Equatable {
    /// "VALUE <key> <flags> <bytes> [<cas>]": one item of a retrieval reply.
    case value
    /// "STAT ...", "ITEM ...", "PREFIX ...": one line of a stats reply.
    case stat
    /// Exactly "END".
    case end
    /// "VA <size> <flags>*": a meta reply with a data block.
    case va
    /// "ERROR[...]", "CLIENT_ERROR ...", "SERVER_ERROR ...".
    case error
    /// Any other reply memcached sends as one line.
    case single
    /// Nothing memcached would send.
    case unknown

    /// The kind of the line `bytes[from..<to]` (without its "\r\n").
    @usableFromInline
    static func classify(_ bytes: UnsafeRawBufferPointer, from: Int, to: Int) -> MemcachedReplyWord {
        var wordEnd = from
        while wordEnd < to, bytes[wordEnd] != MemcachedScan.space { wordEnd += 1 }
        let word = from ..< wordEnd
        func eq(_ literal: StaticString) -> Bool { MemcachedScan.equals(bytes, word, literal) }
        switch word.count {
        case 2:
            if eq("VA") { return .va }
            if eq("HD") || eq("EN") || eq("NF") || eq("NS") || eq("EX") || eq("MN") || eq("ME") || eq("OK") { return .single }
        case 3:
            if eq("END") { return wordEnd == to ? .end : .unknown }
        case 4:
            if eq("STAT") || eq("ITEM") { return .stat }
            if eq("BUSY") || eq("SAME") { return .single }
        case 5:
            if eq("VALUE") { return .value }
            if eq("ERROR") { return .error }
            if eq("RESET") { return .single }
        case 6:
            if eq("STORED") || eq("EXISTS") || eq("UNSAFE") { return .single }
            if eq("PREFIX") { return .stat }
        case 7:
            if eq("DELETED") || eq("TOUCHED") || eq("VERSION") || eq("NOSPARE") || eq("NOTFULL") { return .single }
        case 8:
            if eq("BADCLASS") { return .single }
        case 9:
            if eq("NOT_FOUND") { return .single }
        case 10:
            if eq("NOT_STORED") || eq("NOTSTARTED") { return .single }
        case 12:
            if eq("CLIENT_ERROR") || eq("SERVER_ERROR") { return .error }
        case 14:
            if eq("WATCHER_FAILED") { return .single }
        case 16:
            if eq("WATCHER_TOO_MANY") { return .single }
        case 18:
            if eq("MEMLIMIT_TOO_SMALL") { return .single }
        case 22:
            if eq("MEMLIMIT_ADJUST_FAILED") { return .single }
        default:
            break
        }
        // "ERROR: shutdown not enabled" and the like.
        if MemcachedScan.hasPrefix(bytes, at: from, "ERROR:") { return .error }
        // incr/decr: a number, which memcached may pad with spaces.
        if !word.isEmpty, MemcachedScan.parseUnsigned(bytes, word) != nil, bytes[word.lowerBound] != MemcachedScan.plus {
            var i = wordEnd
            while i < to, bytes[i] == MemcachedScan.space { i += 1 }
            if i == to { return .single }
        }
        return .unknown
    }

    /// The decimal token starting at `from` (ended by a space or `to`), or nil.
    @usableFromInline
    static func number(_ bytes: UnsafeRawBufferPointer, from: Int, to: Int) -> Int? {
        var end = from
        while end < to, bytes[end] != MemcachedScan.space { end += 1 }
        guard end > from, bytes[from] != MemcachedScan.plus,
              let v = MemcachedScan.parseUnsigned(bytes, from ..< end, max: UInt64(Int.max)) else { return nil }
        return Int(v)
    }

    /// The data size of the VALUE header `bytes[from..<to]`, or nil when it is not exactly
    /// "VALUE <key> <flags> <bytes>" or that plus " <cas>", single spaces, decimal numbers.
    @usableFromInline
    static func valueSize(_ bytes: UnsafeRawBufferPointer, from: Int, to: Int) -> Int? {
        var fields: (Range<Int>, Range<Int>, Range<Int>, Range<Int>) = (0 ..< 0, 0 ..< 0, 0 ..< 0, 0 ..< 0)
        var count = 0
        var i = from + 6   // past "VALUE "
        guard i < to, bytes[i - 1] == MemcachedScan.space else { return nil }
        while i < to {
            var end = i
            while end < to, bytes[end] != MemcachedScan.space { end += 1 }
            guard end > i, count < 4 else { return nil }   // an empty token is a double space
            switch count {
            case 0: fields.0 = i ..< end
            case 1: fields.1 = i ..< end
            case 2: fields.2 = i ..< end
            default: fields.3 = i ..< end
            }
            count += 1
            i = end + 1
            if end < to, i == to { return nil }   // a trailing space
        }
        guard count >= 3,
              Self.isPlainNumber(bytes, fields.1), MemcachedScan.parseUnsigned(bytes, fields.1, max: UInt64(UInt32.max)) != nil,
              Self.isPlainNumber(bytes, fields.2), let size = MemcachedScan.parseUnsigned(bytes, fields.2, max: UInt64(Int.max)) else {
            return nil
        }
        if count == 4 {
            guard Self.isPlainNumber(bytes, fields.3), MemcachedScan.parseUnsigned(bytes, fields.3) != nil else { return nil }
        }
        return Int(size)
    }

    /// Non-empty and without the "+" that `parseUnsigned` would accept: memcached writes digits only.
    @usableFromInline
    static func isPlainNumber(_ bytes: UnsafeRawBufferPointer, _ range: Range<Int>) -> Bool {
        !range.isEmpty && bytes[range.lowerBound] != MemcachedScan.plus
    }
}
