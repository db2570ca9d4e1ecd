extension KeyHash {
    /// Bob Jenkins' lookup3 `hashlittle` with `initval` 13, as twemproxy's `jenkins`. Its three
    /// code paths (aligned words, half-words, bytes) give the same value on a little-endian machine,
    /// so only the byte-order one is written here. No bytes give the seed unmixed.
    static func jenkins(_ key: UnsafeRawBufferPointer) -> UInt32 {
        var length = key.count
        let seed = 0xDEAD_BEEF &+ UInt32(truncatingIfNeeded: length) &+ 13
        var a = seed, b = seed, c = seed
        var offset = 0
        while length > 12 {
            a = a &+ le32(key, offset)
            b = b &+ le32(key, offset + 4)
            c = c &+ le32(key, offset + 8)
            mix(&a, &b, &c)
            length -= 12
            offset += 12
        }
        if length == 0 { return c }
        // The last 1...12 bytes, little-endian, as if padded with zeros to three words.
        var words: (UInt32, UInt32, UInt32) = (0, 0, 0)
        for index in 0 ..< length {
            let byte = UInt32(key[offset + index]) << (8 * UInt32(index & 3))
            switch index >> 2 {
            case 0: words.0 |= byte
            case 1: words.1 |= byte
            default: words.2 |= byte
            }
        }
        a = a &+ words.0
        b = b &+ words.1
        c = c &+ words.2
        final(&a, &b, &c)
        return c
    }

    @inline(__always)
    private static func rotate(_ x: UInt32, _ k: UInt32) -> UInt32 {
        (x << k) | (x >> (32 - k))
    }

    @inline(__always)
    private static func mix(_ a: inout UInt32, _ b: inout UInt32, _ c: inout UInt32) {
        a = a &- c; a ^= rotate(c, 4); c = c &+ b
        b = b &- a; b ^= rotate(a, 6); a = a &+ c
        c = c &- b; c ^= rotate(b, 8); b = b &+ a
        a = a &- c; a ^= rotate(c, 16); c = c &+ b
        b = b &- a; b ^= rotate(a, 19); a = a &+ c
        c = c &- b; c ^= rotate(b, 4); b = b &+ a
    }

    @inline(__always)
    private static func final(_ a: inout UInt32, _ b: inout UInt32, _ c: inout UInt32) {
        c ^= b; c = c &- rotate(b, 14)
        a ^= c; a = a &- rotate(c, 11)
        b ^= a; b = b &- rotate(a, 25)
        c ^= b; c = c &- rotate(b, 16)
        a ^= c; a = a &- rotate(c, 4)
        b ^= a; b = b &- rotate(a, 14)
        c ^= b; c = c &- rotate(b, 24)
    }
}
