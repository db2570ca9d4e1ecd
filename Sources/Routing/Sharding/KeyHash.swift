/// twemproxy's key hash functions (its `src/hashkit/`), bit for bit, so a key lands on the server
/// twemproxy would pick. libmemcached's functions of the same names give the same values (twemproxy
/// took them from it), except that libmemcached has no `crc16`, `crc32a` or (in pylibmc's wheel)
/// `hsieh`.
///
/// The reference is the twemproxy release that runs (nutcracker 0.5.0, as Debian 12 ships it), as
/// checked against it by the placement vectors in the tests.
///
/// Contract: `hash(kind, key)` is a pure function of the kind and the bytes; it does not allocate.
/// Where the C code reads key bytes through a plain `char`, x86-64 Linux (where `char` is signed)
/// is reproduced: bytes 0x80...0xFF are sign-extended first. That matters for `one_at_a_time`,
/// the four FNV variants and the last byte of a 3-byte `hsieh` tail; on arm64, where `char` is
/// unsigned, twemproxy itself places such keys differently.
///
/// Quirks kept on purpose, because placement depends on them:
/// - `md5` is the first four digest bytes read little-endian.
/// - `crc32` is libmemcached's: `((~crc) >> 16) & 0x7fff`, 15 bits; `crc32a` is the standard CRC-32.
/// - `crc16` is CRC-16/XMODEM left to grow past 16 bits, as in twemproxy 0.5.0.
/// - `fnv1_64` and `fnv1a_64` keep only the low 32 bits (twemproxy's `fnv1a_64` even computes in 32
///   bits, which gives the same low bits).
/// - `hsieh` starts from 0 (not the length, as Paul Hsieh's original does) and returns 0 for no bytes.
/// - `murmur` is MurmurHash2 seeded with `0xdeadbeef * length`.
/// - `jenkins` is lookup3's `hashlittle` with `initval` 13.
public enum KeyHash {
    /// The hash of `key` under `kind`.
    public static func hash(_ kind: KeyHashKind, _ key: UnsafeRawBufferPointer) -> UInt32 {
        switch kind {
        case .oneAtATime: return oneAtATime(key)
        case .md5: return MD5.words(of: key).0
        case .crc16: return crc16(key)
        case .crc32: return (~crc32Register(key) >> 16) & 0x7FFF
        case .crc32a: return ~crc32Register(key)
        case .fnv1_64: return fnv1(key, basis: fnv64BasisLow, prime: fnv64PrimeLow)
        case .fnv1a_64: return fnv1a(key, basis: fnv64BasisLow, prime: fnv64PrimeLow)
        case .fnv1_32: return fnv1(key, basis: fnv32Basis, prime: fnv32Prime)
        case .fnv1a_32: return fnv1a(key, basis: fnv32Basis, prime: fnv32Prime)
        case .hsieh: return hsieh(key)
        case .murmur: return murmur(key)
        case .jenkins: return jenkins(key)
        }
    }

    /// A byte as C's signed `char` converted to `uint32_t`.
    @inline(__always)
    static func signExtended(_ byte: UInt8) -> UInt32 {
        UInt32(bitPattern: Int32(Int8(bitPattern: byte)))
    }

    private static func oneAtATime(_ key: UnsafeRawBufferPointer) -> UInt32 {
        var value: UInt32 = 0
        for byte in key {
            value = value &+ signExtended(byte)
            value = value &+ (value << 10)
            value ^= value >> 6
        }
        value = value &+ (value << 3)
        value ^= value >> 11
        value = value &+ (value << 15)
        return value
    }

    // The 64-bit FNV parameters reduced to their low 32 bits: the low half of a 64-bit product
    // depends only on the low halves of its factors, and only the low half is returned.
    private static let fnv64BasisLow: UInt32 = 0x8422_2325  // of 0xcbf29ce484222325
    private static let fnv64PrimeLow: UInt32 = 0x0000_01B3  // of 0x100000001b3
    private static let fnv32Basis: UInt32 = 2_166_136_261
    private static let fnv32Prime: UInt32 = 16_777_619

    @inline(__always)
    private static func fnv1(_ key: UnsafeRawBufferPointer, basis: UInt32, prime: UInt32) -> UInt32 {
        var hash = basis
        for byte in key {
            hash = hash &* prime
            hash ^= signExtended(byte)
        }
        return hash
    }

    @inline(__always)
    private static func fnv1a(_ key: UnsafeRawBufferPointer, basis: UInt32, prime: UInt32) -> UInt32 {
        var hash = basis
        for byte in key {
            hash ^= signExtended(byte)
            hash = hash &* prime
        }
        return hash
    }

    /// Little-endian 16 bits at `offset`.
    @inline(__always)
    private static func le16(_ key: UnsafeRawBufferPointer, _ offset: Int) -> UInt32 {
        UInt32(key[offset]) | UInt32(key[offset + 1]) << 8
    }

    /// Little-endian 32 bits at `offset`.
    @inline(__always)
    static func le32(_ key: UnsafeRawBufferPointer, _ offset: Int) -> UInt32 {
        UInt32(littleEndian: key.loadUnaligned(fromByteOffset: offset, as: UInt32.self))
    }

    private static func hsieh(_ key: UnsafeRawBufferPointer) -> UInt32 {
        let length = key.count
        if length == 0 { return 0 }
        var hash: UInt32 = 0
        var offset = 0
        for _ in 0 ..< length >> 2 {
            hash = hash &+ le16(key, offset)
            let mixed = (le16(key, offset + 2) << 11) ^ hash
            hash = (hash << 16) ^ mixed
            offset += 4
            hash = hash &+ (hash >> 11)
        }
        switch length & 3 {
        case 3:
            hash = hash &+ le16(key, offset)
            hash ^= hash << 16
            hash ^= signExtended(key[offset + 2]) << 18
            hash = hash &+ (hash >> 11)
        case 2:
            hash = hash &+ le16(key, offset)
            hash ^= hash << 11
            hash = hash &+ (hash >> 17)
        case 1:
            hash = hash &+ UInt32(key[offset])
            hash ^= hash << 10
            hash = hash &+ (hash >> 1)
        default:
            break
        }
        hash ^= hash << 3
        hash = hash &+ (hash >> 5)
        hash ^= hash << 4
        hash = hash &+ (hash >> 17)
        hash ^= hash << 25
        hash = hash &+ (hash >> 6)
        return hash
    }

    private static func murmur(_ key: UnsafeRawBufferPointer) -> UInt32 {
        let m: UInt32 = 0x5BD1_E995
        let length = UInt32(truncatingIfNeeded: key.count)
        var h = (0xDEAD_BEEF &* length) ^ length
        var offset = 0
        while key.count - offset >= 4 {
            var k = le32(key, offset)
            k = k &* m
            k ^= k >> 24
            k = k &* m
            h = h &* m
            h ^= k
            offset += 4
        }
        let tail = key.count - offset
        if tail == 3 { h ^= UInt32(key[offset + 2]) << 16 }
        if tail >= 2 { h ^= UInt32(key[offset + 1]) << 8 }
        if tail >= 1 {
            h ^= UInt32(key[offset])
            h = h &* m
        }
        h ^= h >> 13
        h = h &* m
        h ^= h >> 15
        return h
    }
}
