/// Every memcached text and meta command the proxy recognises.
///
/// Contract:
/// - Names are matched byte for byte and case-sensitively, as memcached does ("GET" is an
///   unknown command, answered "ERROR").
/// - `refused` covers the real memcached commands a proxy must not forward because they act on
///   one server or take over the connection: shutdown, slabs, lru, lru_crawler, watch,
///   cache_memlimit, misbehave, debugtime, extstore, refresh_certs and the ancient bget.
///   verbosity is not refused.
public enum MemcachedCommand: UInt8, Sendable {
    /// Retrieval: "get <key>+", "gets <key>+", "gat <exptime> <key>+", "gats <exptime> <key>+".
    case get, gets, gat, gats
    /// Storage: "<cmd> <key> <flags> <exptime> <bytes> [noreply]" (cas adds `<cas unique>` before
    /// noreply), then a data block.
    case set, add, replace, append, prepend, cas
    /// "delete <key> [0] [noreply]", "incr|decr <key> <delta> [noreply]", "touch <key> <exptime> [noreply]".
    case delete, incr, decr, touch
    /// "flush_all [delay] [noreply]", "version", "verbosity <n> [noreply]", "stats [args...]", "quit".
    case flushAll, version, verbosity, stats, quit
    /// mg, ms, md, ma, mn, me.
    case metaGet, metaSet, metaDelete, metaArithmetic, metaNoop, metaDebug
    /// A real memcached command the proxy will not forward.
    case refused

    /// set, add, replace, append, prepend, cas: a data block follows the line.
    @inlinable public var isStorage: Bool {
        rawValue >= MemcachedCommand.set.rawValue && rawValue <= MemcachedCommand.cas.rawValue
    }

    /// get, gets, gat, gats: the reply is VALUE blocks then END.
    @inlinable public var isRetrieval: Bool { rawValue <= MemcachedCommand.gats.rawValue }

    /// mg, ms, md, ma, mn, me.
    @inlinable public var isMeta: Bool {
        rawValue >= MemcachedCommand.metaGet.rawValue && rawValue <= MemcachedCommand.metaDebug.rawValue
    }

    /// The command named by `bytes[range]`, or nil for an unknown name.
    // Dispatch on length first: one integer compare rejects most candidates, and the common
    // commands (get, set, mg, ms) are at the top of their branches.
    @inlinable
    static func lookup(_ bytes: UnsafeRawBufferPointer, _ range: Range<Int>) -> MemcachedCommand? {
        let first = bytes[range.lowerBound]
        switch range.count {
        case 2:
            guard first == UInt8(ascii: "m") else { return nil }
            switch bytes[range.lowerBound + 1] {
            case UInt8(ascii: "g"): return .metaGet
            case UInt8(ascii: "s"): return .metaSet
            case UInt8(ascii: "d"): return .metaDelete
            case UInt8(ascii: "a"): return .metaArithmetic
            case UInt8(ascii: "n"): return .metaNoop
            case UInt8(ascii: "e"): return .metaDebug
            default: return nil
            }
        case 3:
            if MemcachedScan.equals(bytes, range, "get") { return .get }
            if MemcachedScan.equals(bytes, range, "set") { return .set }
            if MemcachedScan.equals(bytes, range, "add") { return .add }
            if MemcachedScan.equals(bytes, range, "cas") { return .cas }
            if MemcachedScan.equals(bytes, range, "gat") { return .gat }
            if MemcachedScan.equals(bytes, range, "lru") { return .refused }
            return nil
        case 4:
            if MemcachedScan.equals(bytes, range, "gets") { return .gets }
            if MemcachedScan.equals(bytes, range, "incr") { return .incr }
            if MemcachedScan.equals(bytes, range, "decr") { return .decr }
            if MemcachedScan.equals(bytes, range, "gats") { return .gats }
            if MemcachedScan.equals(bytes, range, "quit") { return .quit }
            if MemcachedScan.equals(bytes, range, "bget") { return .refused }
            return nil
        case 5:
            if MemcachedScan.equals(bytes, range, "touch") { return .touch }
            if MemcachedScan.equals(bytes, range, "stats") { return .stats }
            if MemcachedScan.equals(bytes, range, "slabs") { return .refused }
            if MemcachedScan.equals(bytes, range, "watch") { return .refused }
            return nil
        case 6:
            if MemcachedScan.equals(bytes, range, "delete") { return .delete }
            if MemcachedScan.equals(bytes, range, "append") { return .append }
            return nil
        case 7:
            if MemcachedScan.equals(bytes, range, "replace") { return .replace }
            if MemcachedScan.equals(bytes, range, "prepend") { return .prepend }
            if MemcachedScan.equals(bytes, range, "version") { return .version }
            return nil
        case 8:
            if MemcachedScan.equals(bytes, range, "shutdown") { return .refused }
            if MemcachedScan.equals(bytes, range, "extstore") { return .refused }
            return nil
        case 9:
            if MemcachedScan.equals(bytes, range, "flush_all") { return .flushAll }
            if MemcachedScan.equals(bytes, range, "verbosity") { return .verbosity }
            if MemcachedScan.equals(bytes, range, "misbehave") { return .refused }
            if MemcachedScan.equals(bytes, range, "debugtime") { return .refused }
            return nil
        case 11:
            return MemcachedScan.equals(bytes, range, "lru_crawler") ? .refused : nil
        case 13:
            return MemcachedScan.equals(bytes, range, "refresh_certs") ? .refused : nil
        case 14:
            return MemcachedScan.equals(bytes, range, "cache_memlimit") ? .refused : nil
        default:
            return nil
        }
    }
}
