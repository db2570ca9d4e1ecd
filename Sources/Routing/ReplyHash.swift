/// A fast 64-bit hash of reply bytes, so `WriteFanOut` can tell whether two clusters' replies are
/// equal without keeping a copy of either.
///
/// Contract:
/// - It is XXH64 with seed 0 (xxHash's 64-bit hash, in Swift): the same bytes give the same value
///   in every process and on every platform, equal to the reference `XXH64(bytes, count, 0)`.
/// - Equal bytes give equal hashes; different bytes collide with a chance of about 2⁻⁶⁴. Not
///   cryptographic: a value built to collide would only hide one divergence.
/// - Reads 8-byte words at any alignment, four independent lanes for long values (several GB/s);
///   no allocation.
public enum ReplyHash {
    // xxHash's word-size primes.
    private static let p1: UInt64 = 0x9E37_79B1_85EB_CA87
    private static let p2: UInt64 = 0xC2B2_AE3D_27D4_EB4F
    private static let p3: UInt64 = 0x1656_67B1_9E37_79F9
    private static let p4: UInt64 = 0x85EB_CA77_C2B2_AE63
    private static let p5: UInt64 = 0x27D4_EB2F_1656_67C5

    public static func hash(_ bytes: UnsafeRawBufferPointer) -> UInt64 {
        let count = bytes.count
        var offset = 0
        var h: UInt64
        if count >= 32 {
            var v1 = p1 &+ p2
            var v2 = p2
            var v3: UInt64 = 0
            var v4 = 0 &- p1
            // Four lanes have no data dependency on one another, so their multiplies overlap.
            repeat {
                v1 = round(v1, word64(bytes, offset))
                v2 = round(v2, word64(bytes, offset + 8))
                v3 = round(v3, word64(bytes, offset + 16))
                v4 = round(v4, word64(bytes, offset + 24))
                offset += 32
            } while count - offset >= 32
            h = rotl(v1, 1) &+ rotl(v2, 7) &+ rotl(v3, 12) &+ rotl(v4, 18)
            h = merge(h, v1)
            h = merge(h, v2)
            h = merge(h, v3)
            h = merge(h, v4)
        } else {
            h = p5
        }
        h &+= UInt64(count)
        while count - offset >= 8 {
            h ^= round(0, word64(bytes, offset))
            h = rotl(h, 27) &* p1 &+ p4
            offset += 8
        }
        if count - offset >= 4 {
            h ^= UInt64(word32(bytes, offset)) &* p1
            h = rotl(h, 23) &* p2 &+ p3
            offset += 4
        }
        while offset < count {
            h ^= UInt64(bytes[offset]) &* p5
            h = rotl(h, 11) &* p1
            offset += 1
        }
        h ^= h >> 33
        h &*= p2
        h ^= h >> 29
        h &*= p3
        h ^= h >> 32
        return h
    }

    /// Convenience for callers that hold an array (tests, the failure path).
    public static func hash(_ bytes: [UInt8]) -> UInt64 {
        bytes.withUnsafeBytes { hash($0) }
    }

    @inline(__always)
    private static func round(_ accumulator: UInt64, _ input: UInt64) -> UInt64 {
        rotl(accumulator &+ input &* p2, 31) &* p1
    }

    @inline(__always)
    private static func merge(_ accumulator: UInt64, _ lane: UInt64) -> UInt64 {
        (accumulator ^ round(0, lane)) &* p1 &+ p4
    }

    @inline(__always)
    private static func rotl(_ value: UInt64, _ bits: UInt64) -> UInt64 {
        (value << bits) | (value >> (64 - bits))
    }

    @inline(__always)
    private static func word64(_ bytes: UnsafeRawBufferPointer, _ offset: Int) -> UInt64 {
        UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: offset, as: UInt64.self))
    }

    @inline(__always)
    private static func word32(_ bytes: UnsafeRawBufferPointer, _ offset: Int) -> UInt32 {
        UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: offset, as: UInt32.self))
    }
}
