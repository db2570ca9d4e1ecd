/// Relative expiry to absolute, for writes kept in a backlog and delivered later: memcached reads
/// an exptime of 1...2_592_000 (30 days) as seconds from now and anything larger as a unix time,
/// so a write replayed minutes later must carry the absolute time to expire when the original
/// would have.
///
/// Contract:
/// - Handles text set/add/replace/cas (append and prepend ignore their exptime), touch, gat/gats,
///   flush_all's delay, and the T and N (autovivify) tokens of meta ms/md/ma/mg. R (recache) is
///   a threshold compared at request time, not an expiry, and is left alone.
/// - Reads an exptime as memcached 1.6 does: strtol, then truncated to 32 bits (so 4294967306
///   means 10 seconds). 0 (never), negative (already expired) and absolute values need no
///   rewriting; only the tokens whose effective value is relative are replaced, by
///   `nowSeconds + value`, and every other byte is copied as is.
/// - nil when nothing needs rewriting (or the frame is not one whole valid request).
public enum MemcachedExpiry {
    /// memcached's REALTIME_MAXDELTA: the largest exptime read as relative.
    public static let maxRelative: Int64 = 2_592_000

    /// The exptime memcached acts on for a token read as `written`.
    @inlinable
    public static func effective(_ written: Int64) -> Int64 {
        Int64(Int32(truncatingIfNeeded: written))
    }

    /// Whether memcached reads `written` as seconds from now.
    @inlinable
    public static func isRelative(_ written: Int64) -> Bool {
        let e = effective(written)
        return e > 0 && e <= maxRelative
    }

    /// The frame with every relative expiry made absolute, or nil when nothing needs rewriting.
    public static func absolute(_ frame: UnsafeRawBufferPointer, nowSeconds: Int64) -> [UInt8]? {
        // Generous limits: the frame was accepted by the session's parser already.
        var parser = MemcachedRequestParser(limits: MemcachedLimits(
            maxKeyLength: Int.max, maxValueBytes: Int(Int32.max), maxLineBytes: Int.max, maxCommandLineBytes: Int.max))
        guard case .request = parser.parse(frame) else { return nil }
        let request = parser.request

        // At most two tokens change (T and N of a meta command).
        var replaced: [(range: Range<Int>, value: Int64)] = []
        switch request.command {
        case .set, .add, .replace, .cas, .touch, .gat, .gats, .flushAll:
            if let token = request.exptimeToken, isRelative(request.exptime) {
                replaced.append((token, nowSeconds + effective(request.exptime)))
            }
        case .metaSet, .metaDelete, .metaArithmetic, .metaGet:
            for flag in request.metaFlags where flag.letter == UInt8(ascii: "T") || flag.letter == UInt8(ascii: "N") {
                if let written = MemcachedScan.parseSigned(frame, flag.token), isRelative(written) {
                    replaced.append((flag.token, nowSeconds + effective(written)))
                }
            }
        default:
            break
        }
        guard !replaced.isEmpty else { return nil }

        let end = MemcachedEncoder.frameLength(request)
        var out: [UInt8] = []
        out.reserveCapacity(end + 16)
        var copied = 0
        for (range, value) in replaced {
            MemcachedScan.append(frame, copied ..< range.lowerBound, into: &out)
            MemcachedScan.appendDecimal(value, into: &out)
            copied = range.upperBound
        }
        MemcachedScan.append(frame, copied ..< end, into: &out)
        return out
    }
}
