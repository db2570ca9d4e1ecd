/// SHA-1 (FIPS 180-4), the digest Redis names scripts by: `SCRIPT LOAD` answers, and `EVALSHA`
/// takes, the lower-case hex SHA-1 of the script's body.
///
/// Contract: pure; hashing allocates nothing (but one copy for collections without contiguous
/// storage). Not for security: it is here to name scripts exactly as Redis does.
public enum SHA1 {
    /// The 160-bit digest as its five big-endian words; a cheap dictionary key.
    public struct Digest: Hashable, Sendable {
        public var h0, h1, h2, h3, h4: UInt32

        /// The 40 lower-case hex digits Redis prints.
        public var hex: String {
            String(unsafeUninitializedCapacity: 40) { out in
                for i in 0 ..< 40 {
                    let nibble = UInt8(truncatingIfNeeded: word(i / 8) >> UInt32(28 - 4 * (i % 8))) & 0xF
                    out[i] = nibble < 10 ? UInt8(ascii: "0") + nibble : UInt8(ascii: "a") + nibble - 10
                }
                return 40
            }
        }

        @inline(__always)
        private func word(_ index: Int) -> UInt32 {
            switch index {
            case 0: return h0
            case 1: return h1
            case 2: return h2
            case 3: return h3
            default: return h4
            }
        }

        /// Parses 40 hex digits, either case (Redis lower-cases an EVALSHA's digest before its
        /// lookup); nil for anything else.
        public init?(hex: some Collection<UInt8>) {
            guard hex.count == 40 else { return nil }
            var words: (UInt32, UInt32, UInt32, UInt32, UInt32) = (0, 0, 0, 0, 0)
            var index = 0
            for byte in hex {
                let nibble: UInt8
                switch byte {
                case UInt8(ascii: "0")...UInt8(ascii: "9"): nibble = byte - UInt8(ascii: "0")
                case UInt8(ascii: "a")...UInt8(ascii: "f"): nibble = byte - UInt8(ascii: "a") + 10
                case UInt8(ascii: "A")...UInt8(ascii: "F"): nibble = byte - UInt8(ascii: "A") + 10
                default: return nil
                }
                let value = UInt32(nibble) << UInt32(28 - 4 * (index % 8))
                switch index / 8 {
                case 0: words.0 |= value
                case 1: words.1 |= value
                case 2: words.2 |= value
                case 3: words.3 |= value
                default: words.4 |= value
                }
                index += 1
            }
            self.init(h0: words.0, h1: words.1, h2: words.2, h3: words.3, h4: words.4)
        }

        public init(h0: UInt32, h1: UInt32, h2: UInt32, h3: UInt32, h4: UInt32) {
            (self.h0, self.h1, self.h2, self.h3, self.h4) = (h0, h1, h2, h3, h4)
        }
    }

    /// The lower-case hex SHA-1 of `bytes`: what Redis's `SCRIPT LOAD` answers for that body.
    public static func hex(_ bytes: some Collection<UInt8>) -> String {
        digest(bytes).hex
    }

    public static func digest(_ bytes: some Collection<UInt8>) -> Digest {
        if let digest = bytes.withContiguousStorageIfAvailable({ digest(UnsafeRawBufferPointer($0)) }) {
            return digest
        }
        return Array(bytes).withUnsafeBytes { digest($0) }
    }

    public static func digest(_ bytes: UnsafeRawBufferPointer) -> Digest {
        var state = Digest(h0: 0x6745_2301, h1: 0xEFCD_AB89, h2: 0x98BA_DCFE, h3: 0x1032_5476, h4: 0xC3D2_E1F0)
        // The message schedule and the padded tail live on the stack: hashing allocates nothing.
        withUnsafeTemporaryAllocation(of: UInt32.self, capacity: 80) { w in
            let whole = bytes.count / 64 * 64
            var offset = 0
            while offset < whole {
                compress(&state, UnsafeRawBufferPointer(rebasing: bytes[offset ..< offset + 64]), w)
                offset += 64
            }
            // The tail: the rest, a 1 bit, zeros, and the length in bits (one block, or two when the
            // length does not fit after the rest).
            withUnsafeTemporaryAllocation(byteCount: 128, alignment: 8) { tail in
                tail.initializeMemory(as: UInt8.self, repeating: 0)
                let rest = bytes.count - whole
                for i in 0 ..< rest { tail[i] = bytes[whole + i] }
                tail[rest] = 0x80
                let blocks = rest + 1 + 8 <= 64 ? 1 : 2
                let bits = UInt64(bytes.count) &* 8
                for i in 0 ..< 8 { tail[blocks * 64 - 1 - i] = UInt8(truncatingIfNeeded: bits >> UInt64(8 * i)) }
                for block in 0 ..< blocks {
                    compress(&state, UnsafeRawBufferPointer(rebasing: tail[block * 64 ..< block * 64 + 64]), w)
                }
            }
        }
        return state
    }

    /// One 64-byte block into the state; `w` is the 80-word message schedule, reused.
    @inline(__always)
    private static func compress(_ state: inout Digest, _ block: UnsafeRawBufferPointer, _ w: UnsafeMutableBufferPointer<UInt32>) {
        for t in 0 ..< 16 {
            let b = 4 * t
            w[t] = UInt32(block[b]) << 24 | UInt32(block[b + 1]) << 16 | UInt32(block[b + 2]) << 8 | UInt32(block[b + 3])
        }
        for t in 16 ..< 80 {
            w[t] = rotate(w[t - 3] ^ w[t - 8] ^ w[t - 14] ^ w[t - 16], 1)
        }
        var (a, b, c, d, e) = (state.h0, state.h1, state.h2, state.h3, state.h4)
        for t in 0 ..< 80 {
            let f: UInt32, k: UInt32
            switch t {
            case 0 ..< 20: f = (b & c) | (~b & d); k = 0x5A82_7999
            case 20 ..< 40: f = b ^ c ^ d; k = 0x6ED9_EBA1
            case 40 ..< 60: f = (b & c) | (b & d) | (c & d); k = 0x8F1B_BCDC
            default: f = b ^ c ^ d; k = 0xCA62_C1D6
            }
            let temp = rotate(a, 5) &+ f &+ e &+ k &+ w[t]
            e = d
            d = c
            c = rotate(b, 30)
            b = a
            a = temp
        }
        state.h0 &+= a
        state.h1 &+= b
        state.h2 &+= c
        state.h3 &+= d
        state.h4 &+= e
    }

    @inline(__always)
    private static func rotate(_ x: UInt32, _ n: UInt32) -> UInt32 {
        (x << n) | (x >> (32 - n))
    }
}
