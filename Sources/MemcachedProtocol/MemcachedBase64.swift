/// Standard base64 (RFC 4648 alphabet, "=" padding) for meta keys sent with the b flag.
///
/// Contract:
/// - Only canonical text is valid: a non-empty multiple of 4 characters, "=" only as the last one
///   or two, and no stray bits in the last character before the padding. memcached's decoder is
///   more lenient ("Zh==" and "Zg==" both decode to "f"; it stops at the first padding), but a
///   proxy that routes on the key text needs one text per key, so anything else is refused.
/// - Nothing allocates unless `decode` has to grow `out`.
public enum MemcachedBase64 {
    // 0...63 for the alphabet, 64 for "=", 255 for anything else.
    @usableFromInline static let table: [UInt8] = {
        var t = [UInt8](repeating: 255, count: 256)
        let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8)
        for (i, c) in alphabet.enumerated() { t[Int(c)] = UInt8(i) }
        t[Int(UInt8(ascii: "="))] = 64
        return t
    }()

    /// The length of the decoded bytes of `bytes[range]`, or nil when it is not canonical base64
    /// or decodes to nothing.
    public static func decodedLength(_ bytes: UnsafeRawBufferPointer, _ range: Range<Int>) -> Int? {
        let n = range.count
        guard n > 0, n % 4 == 0 else { return nil }
        let padding = validate(bytes, range)
        guard padding >= 0 else { return nil }
        let length = n / 4 * 3 - padding
        return length > 0 ? length : nil
    }

    /// Appends the decoded bytes of `bytes[range]` to `out`; false (and `out` untouched) when
    /// `decodedLength` would be nil.
    @discardableResult
    public static func decode(_ bytes: UnsafeRawBufferPointer, _ range: Range<Int>, into out: inout [UInt8]) -> Bool {
        guard let length = decodedLength(bytes, range) else { return false }
        let t = table
        var produced = 0
        var i = range.lowerBound
        while i < range.upperBound {
            let a = UInt32(t[Int(bytes[i])]), b = UInt32(t[Int(bytes[i + 1])])
            let c = UInt32(t[Int(bytes[i + 2])]) & 63, d = UInt32(t[Int(bytes[i + 3])]) & 63
            let word = a << 18 | b << 12 | c << 6 | d
            var shift: UInt32 = 16
            while produced < length {
                out.append(UInt8(truncatingIfNeeded: word >> shift))
                produced += 1
                if shift == 0 { break }
                shift -= 8
            }
            i += 4
        }
        return true
    }

    /// The number of padding characters (0...2) of a text whose length is a multiple of 4, or -1
    /// when it is not canonical.
    @usableFromInline
    static func validate(_ bytes: UnsafeRawBufferPointer, _ range: Range<Int>) -> Int {
        let t = table
        let end = range.upperBound
        var padding = 0
        if bytes[end - 1] == UInt8(ascii: "=") {
            padding = bytes[end - 2] == UInt8(ascii: "=") ? 2 : 1
        }
        for i in range.lowerBound ..< end - padding {
            if t[Int(bytes[i])] > 63 { return -1 }
        }
        // The bits after the last whole byte must be zero, or two texts would name one key.
        let last = t[Int(bytes[end - padding - 1])]
        if padding == 2 && last & 0x0f != 0 { return -1 }
        if padding == 1 && last & 0x03 != 0 { return -1 }
        return padding
    }
}
