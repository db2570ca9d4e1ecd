/// Builds the replies the proxy composes itself, and the commands it originates, by appending
/// RESP to a `[UInt8]`. Replies relayed from a backend are forwarded byte-exact instead.
///
/// Simple strings and errors cannot carry CR or LF; like Redis's `addReplyError`, each CR or LF
/// in them is written as a space so the reply stays well framed.
public enum RESPEncoder {
    /// `+<s>\r\n`
    @inlinable
    public static func simpleString(_ s: String, into out: inout [UInt8]) {
        out.append(UInt8(ascii: "+"))
        appendLine(s, into: &out)
    }

    /// `-<s>\r\n`; `s` is the full text after the "-", e.g. "ERR unknown command".
    @inlinable
    public static func error(_ s: String, into out: inout [UInt8]) {
        out.append(UInt8(ascii: "-"))
        appendLine(s, into: &out)
    }

    /// `:<v>\r\n`
    @inlinable
    public static func integer(_ v: Int, into out: inout [UInt8]) {
        out.append(UInt8(ascii: ":"))
        appendDecimal(v, into: &out)
        appendCRLF(into: &out)
    }

    /// `$<count>\r\n<bytes>\r\n`
    @inlinable
    public static func bulk(_ bytes: some Collection<UInt8>, into out: inout [UInt8]) {
        out.append(UInt8(ascii: "$"))
        appendDecimal(bytes.count, into: &out)
        appendCRLF(into: &out)
        out.append(contentsOf: bytes)
        appendCRLF(into: &out)
    }

    /// The UTF-8 bytes of `s` as a bulk string.
    @inlinable
    public static func bulk(_ s: String, into out: inout [UInt8]) {
        bulk(s.utf8, into: &out)
    }

    /// The null reply of the connection's protocol: `$-1\r\n` in RESP2, `_\r\n` in RESP3.
    @inlinable
    public static func null(protocolVersion: Int, into out: inout [UInt8]) {
        if protocolVersion >= 3 {
            out.append(UInt8(ascii: "_"))
        } else {
            out.append(UInt8(ascii: "$"))
            out.append(UInt8(ascii: "-"))
            out.append(UInt8(ascii: "1"))
        }
        appendCRLF(into: &out)
    }

    /// `*<count>\r\n`; the caller appends `count` values after it.
    @inlinable
    public static func arrayHeader(_ count: Int, into out: inout [UInt8]) {
        out.append(UInt8(ascii: "*"))
        appendDecimal(count, into: &out)
        appendCRLF(into: &out)
    }

    /// `%<pairs>\r\n` in RESP3, `*<2 × pairs>\r\n` (a flat key, value, … array) in RESP2; the
    /// caller appends the 2 × `pairs` keys and values after it.
    @inlinable
    public static func mapHeader(_ pairs: Int, protocolVersion: Int, into out: inout [UInt8]) {
        if protocolVersion >= 3 {
            out.append(UInt8(ascii: "%"))
            appendDecimal(pairs, into: &out)
        } else {
            out.append(UInt8(ascii: "*"))
            appendDecimal(pairs * 2, into: &out)
        }
        appendCRLF(into: &out)
    }

    /// A request as a client sends it: a multibulk of bulk strings.
    @inlinable
    public static func command(_ args: [String], into out: inout [UInt8]) {
        arrayHeader(args.count, into: &out)
        for arg in args {
            bulk(arg.utf8, into: &out)
        }
    }

    /// A request of binary-safe arguments.
    public static func command(_ args: [[UInt8]], into out: inout [UInt8]) {
        arrayHeader(args.count, into: &out)
        for arg in args {
            bulk(arg, into: &out)
        }
    }

    /// Appends the decimal digits of `v` (with "-" when negative) without building a String.
    @inlinable
    public static func appendDecimal(_ v: Int, into out: inout [UInt8]) {
        if v >= 0 && v < 10 {
            out.append(UInt8(ascii: "0") &+ UInt8(truncatingIfNeeded: v))
            return
        }
        if v < 0 { out.append(UInt8(ascii: "-")) }
        var magnitude = v.magnitude
        // 20 digits hold UInt64.max; the digits are produced backwards into a stack buffer.
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 20) { digits in
            var i = 20
            repeat {
                i -= 1
                digits[i] = UInt8(ascii: "0") &+ UInt8(truncatingIfNeeded: magnitude % 10)
                magnitude /= 10
            } while magnitude > 0
            out.append(contentsOf: UnsafeBufferPointer(rebasing: digits[i ..< 20]))
        }
    }

    @inlinable
    static func appendCRLF(into out: inout [UInt8]) {
        out.append(13)
        out.append(10)
    }

    @inlinable
    static func appendLine(_ s: String, into out: inout [UInt8]) {
        for byte in s.utf8 {
            out.append(byte == 13 || byte == 10 ? UInt8(ascii: " ") : byte)
        }
        appendCRLF(into: &out)
    }
}
