/// Builds what the proxy sends to backends and the replies it composes.
///
/// Contract:
/// - Every function APPENDS to `out` (it never clears it), so several frames can be batched.
/// - `frame` is the request's frame as parsed (or any buffer starting with it: only the request's
///   own bytes are read, up to the end of its data block).
/// - Tokens copied from a request are copied byte for byte, never re-formatted, so a backend reads
///   exactly the numbers the client wrote.
public enum MemcachedEncoder {
    /// The request as a backend should get it: `noreply` removed (text) / every `q` flag removed
    /// (meta), because the proxy needs every backend reply to match replies FIFO and to count
    /// outcomes; it filters the client's reply itself (`MemcachedQuiet`).
    /// Returns false and writes nothing when `frame` can be sent as is.
    public static func loudFrame(_ request: MemcachedRequest, frame: UnsafeRawBufferPointer, into out: inout [UInt8]) -> Bool {
        let end = frameLength(request)
        if let noreply = request.noreplyToken {
            MemcachedScan.append(frame, 0 ..< noreply.lowerBound, into: &out)
            MemcachedScan.append(frame, noreply.upperBound ..< end, into: &out)
            return true
        }
        guard request.quiet else { return false }
        var copied = 0
        for flag in request.metaFlags where flag.letter == UInt8(ascii: "q") {
            // Drop the spaces before the flag with it, as for noreply.
            var start = flag.range.lowerBound
            while start > copied, frame[start - 1] == MemcachedScan.space { start -= 1 }
            MemcachedScan.append(frame, copied ..< start, into: &out)
            copied = flag.range.upperBound
        }
        MemcachedScan.append(frame, copied ..< end, into: &out)
        return true
    }

    /// "set <key> <flags> <exptime> <bytes>\r\n<data>\r\n"
    public static func set(key: UnsafeRawBufferPointer, flags: UInt32, exptime: Int64, value: UnsafeRawBufferPointer,
                           into out: inout [UInt8]) {
        MemcachedScan.append("set ", into: &out)
        out.append(contentsOf: key)
        out.append(MemcachedScan.space)
        MemcachedScan.appendDecimal(UInt64(flags), into: &out)
        out.append(MemcachedScan.space)
        MemcachedScan.appendDecimal(exptime, into: &out)
        out.append(MemcachedScan.space)
        MemcachedScan.appendDecimal(UInt64(value.count), into: &out)
        MemcachedScan.appendCRLF(into: &out)
        out.append(contentsOf: value)
        MemcachedScan.appendCRLF(into: &out)
    }

    /// The plain-set effect of a meta set (for `ms` with C or ME decided by one cluster):
    /// "ms <key> <datalen>[ b] F<flags> T<ttl>\r\n<data>\r\n", taking the F and T tokens from the
    /// request's flags (absent → 0), keeping b, dropping everything else (C, q, O, k, M, I, E, N ...).
    public static func metaSetEffect(_ request: MemcachedRequest, frame: UnsafeRawBufferPointer, into out: inout [UInt8]) {
        let value = request.value ?? request.headerLength ..< request.headerLength
        MemcachedScan.append("ms ", into: &out)
        MemcachedScan.append(frame, request.key, into: &out)
        out.append(MemcachedScan.space)
        MemcachedScan.appendDecimal(UInt64(value.count), into: &out)
        if request.base64Key { MemcachedScan.append(" b", into: &out) }
        appendFlag(UInt8(ascii: "F"), of: request, frame: frame, into: &out)
        appendFlag(UInt8(ascii: "T"), of: request, frame: frame, into: &out)
        MemcachedScan.appendCRLF(into: &out)
        MemcachedScan.append(frame, value, into: &out)
        MemcachedScan.appendCRLF(into: &out)
    }

    /// "touch <key> <exptime>\r\n"
    public static func touch(key: UnsafeRawBufferPointer, exptime: Int64, into out: inout [UInt8]) {
        MemcachedScan.append("touch ", into: &out)
        out.append(contentsOf: key)
        out.append(MemcachedScan.space)
        MemcachedScan.appendDecimal(exptime, into: &out)
        MemcachedScan.appendCRLF(into: &out)
    }

    /// The touch effect of an mg with a T flag: "mg <key>[ b] T<ttl>\r\n" (without T when the
    /// request has none, which makes it a plain lookup).
    public static func metaTouchEffect(_ request: MemcachedRequest, frame: UnsafeRawBufferPointer, into out: inout [UInt8]) {
        MemcachedScan.append("mg ", into: &out)
        MemcachedScan.append(frame, request.key, into: &out)
        if request.base64Key { MemcachedScan.append(" b", into: &out) }
        if let t = request.metaFlag(UInt8(ascii: "T")) {
            out.append(MemcachedScan.space)
            MemcachedScan.append(frame, t.range, into: &out)
        }
        MemcachedScan.appendCRLF(into: &out)
    }

    /// `text` + "\r\n"
    public static func line(_ text: String, into out: inout [UInt8]) {
        out.append(contentsOf: text.utf8)
        MemcachedScan.appendCRLF(into: &out)
    }

    /// "STAT name value\r\n"
    public static func stat(_ name: String, _ value: String, into out: inout [UInt8]) {
        MemcachedScan.append("STAT ", into: &out)
        out.append(contentsOf: name.utf8)
        out.append(MemcachedScan.space)
        out.append(contentsOf: value.utf8)
        MemcachedScan.appendCRLF(into: &out)
    }

    /// The length of the request's frame: its line, plus its data block and "\r\n" if any.
    @inlinable
    public static func frameLength(_ request: MemcachedRequest) -> Int {
        if let value = request.value { return value.upperBound + 2 }
        return request.headerLength
    }

    /// " <letter><token>" from the request's first flag with that letter, or " <letter>0".
    @usableFromInline
    static func appendFlag(_ letter: UInt8, of request: MemcachedRequest, frame: UnsafeRawBufferPointer, into out: inout [UInt8]) {
        out.append(MemcachedScan.space)
        if let flag = request.metaFlag(letter), !flag.token.isEmpty {
            MemcachedScan.append(frame, flag.range, into: &out)
        } else {
            out.append(letter)
            out.append(MemcachedScan.zero)
        }
    }
}
