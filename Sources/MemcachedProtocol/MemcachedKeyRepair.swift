/// Repair of the key a non-idempotent write touched (incr, append, ma ...), for when it is not
/// known whether a server applied it: instead of replaying the write, read the item from a server
/// that certainly applied it and put a write that sets exactly that item into the failed server's
/// backlog.
///
/// Contract:
/// - `key(ofWrite:)` takes one whole request frame (nothing before or after it), as the proxy
///   sends it to a backend, and answers its key as written; nil for any other command, a
///   malformed frame, or a base64 key (meta flag `b`), which would need the `b` flag carried to
///   the read and the write.
/// - `readFrame(key:)` is `mg <key> v f t`: value, client flags and remaining ttl (-1: none).
/// - `restoreFrame(key:reply:nowSeconds:)` answers `ms` with the value, `F<flags>` and, when the
///   item expires, `T<nowSeconds + ttl>`: an absolute unix time (memcached reads any exptime
///   above 30 days as one), so the copy expires when the original does however late the backlog
///   delivers it. `EN` (no item) answers `md <key>`. nil for any other reply, so a doubt never
///   becomes a write: errors, truncated or malformed replies, flags other than one `f` and one
///   `t` (a stale item's X/W/Z among them), and an absolute time memcached would read as relative.
/// - Pure: no sockets, no Foundation.
public enum MemcachedKeyRepair {
    /// The key a write frame touches (text: `incr k n`, `decr k n`, `append k f e n`, `prepend ...`, `set/add/replace/cas/delete/touch k ...`; meta: `ma k ...`, `ms k ...`, `md k ...`), as it appears on the wire; nil when the frame is malformed, not one of these, or its key is base64 (meta flag `b`).
    public static func key(ofWrite frame: UnsafeRawBufferPointer) -> [UInt8]? {
        // Generous limits: the frame was accepted by the session's parser already.
        var parser = MemcachedRequestParser(limits: MemcachedLimits(
            maxKeyLength: Int.max, maxValueBytes: Int(Int32.max), maxLineBytes: Int.max, maxCommandLineBytes: Int.max))
        guard case .request(let length) = parser.parse(frame), length == frame.count else { return nil }
        let request = parser.request
        switch request.command {
        case .incr, .decr, .append, .prepend, .set, .add, .replace, .cas, .delete, .touch,
             .metaArithmetic, .metaSet, .metaDelete:
            guard !request.base64Key, !request.key.isEmpty else { return nil }
            return Array(frame[request.key])
        default:
            return nil
        }
    }

    /// The request that reads `key`'s value, client flags and remaining ttl: `mg <key> v f t\r\n`.
    public static func readFrame(key: [UInt8]) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(key.count + 11)
        MemcachedScan.append("mg ", into: &out)
        out.append(contentsOf: key)
        MemcachedScan.append(" v f t\r\n", into: &out)
        return out
    }

    /// The write that makes another server hold what `reply` (the reply to `readFrame`) describes:
    /// - `VA <n> f<flags> t<ttl>\r\n<data>\r\n`: `ms <key> <n> F<flags>\r\n<data>\r\n` when ttl is -1 (no expiry); with ttl >= 0 add ` T<nowSeconds + ttl>` (absolute unix time; memcached reads values above 30 days as absolute). Flags order in the reply may vary; flags 0 may be written as F0.
    /// - `EN\r\n`: `md <key>\r\n`
    /// nil for anything else (errors, malformed, truncated).
    public static func restoreFrame(key: [UInt8], reply: UnsafeRawBufferPointer, nowSeconds: Int64) -> [UInt8]? {
        let n = reply.count
        guard let cr = MemcachedScan.firstIndex(of: MemcachedScan.cr, in: reply, from: 0, to: n),
              cr + 1 < n, reply[cr + 1] == MemcachedScan.lf else { return nil }
        if cr == 2, n == 4, MemcachedScan.equals(reply, 0 ..< 2, "EN") {
            var out: [UInt8] = []
            MemcachedScan.append("md ", into: &out)
            out.append(contentsOf: key)
            MemcachedScan.appendCRLF(into: &out)
            return out
        }
        guard cr > 3, MemcachedScan.hasPrefix(reply, at: 0, "VA ") else { return nil }

        // "VA <size> <flag>*": single spaces, as memcached writes it.
        var size: Int?, flags: UInt64?, ttl: Int64?
        var start = 3
        while start < cr {
            let end = MemcachedScan.nextSpace(reply, from: start, to: cr)
            guard end > start else { return nil }
            if size == nil {
                guard let s = MemcachedScan.parseUnsigned(reply, start ..< end, max: UInt64(Int32.max)) else { return nil }
                size = Int(s)
            } else {
                let token = start + 1 ..< end
                switch reply[start] {
                case UInt8(ascii: "f") where flags == nil:
                    guard let f = MemcachedScan.parseUnsigned(reply, token, max: UInt64(UInt32.max)) else { return nil }
                    flags = f
                case UInt8(ascii: "t") where ttl == nil:
                    guard let t = MemcachedScan.parseSigned(reply, token), t >= -1 else { return nil }
                    ttl = t
                default:
                    return nil
                }
            }
            start = end + 1
        }
        guard let size, let flags, let ttl, reply[cr - 1] != UInt8(ascii: " ") else { return nil }
        let data = cr + 2 ..< cr + 2 + size
        guard data.upperBound + 2 == n, reply[n - 2] == MemcachedScan.cr, reply[n - 1] == MemcachedScan.lf else { return nil }

        var out: [UInt8] = []
        out.reserveCapacity(key.count + size + 48)
        MemcachedScan.append("ms ", into: &out)
        out.append(contentsOf: key)
        out.append(UInt8(ascii: " "))
        MemcachedScan.appendDecimal(UInt64(size), into: &out)
        MemcachedScan.append(" F", into: &out)
        MemcachedScan.appendDecimal(flags, into: &out)
        if ttl >= 0 {
            let (expiry, overflow) = nowSeconds.addingReportingOverflow(ttl)
            // A smaller value would be read as seconds from now.
            guard !overflow, expiry > MemcachedExpiry.maxRelative else { return nil }
            MemcachedScan.append(" T", into: &out)
            MemcachedScan.appendDecimal(expiry, into: &out)
        }
        MemcachedScan.appendCRLF(into: &out)
        MemcachedScan.append(reply, data, into: &out)
        MemcachedScan.appendCRLF(into: &out)
        return out
    }
}
