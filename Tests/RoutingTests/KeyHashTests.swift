import Testing

@testable import Routing

/// A key hash as libmemcached computes it, printed by `scripts/lib/shard-vectors.py --hashes`.
struct HashVector: Sendable {
    let kind: KeyHashKind
    let key: [UInt8]
    let hash: UInt32

    init(_ kind: KeyHashKind, _ key: [UInt8], _ hash: UInt32) {
        self.kind = kind
        self.key = key
        self.hash = hash
    }
}

private func hash(_ kind: KeyHashKind, _ key: [UInt8]) -> UInt32 {
    key.withUnsafeBytes { KeyHash.hash(kind, $0) }
}

private func hash(_ kind: KeyHashKind, _ key: String) -> UInt32 {
    hash(kind, Array(key.utf8))
}

private let libmemcachedVectors: [HashVector] = [
    // libmemcached 1.0.16 memcached_generate_hash_value
    HashVector(.oneAtATime, Array("".utf8), 0x00000000),
    HashVector(.oneAtATime, Array("a".utf8), 0xCA2E9442),
    HashVector(.oneAtATime, Array("abc".utf8), 0xED131F5B),
    HashVector(.oneAtATime, Array("key:1".utf8), 0xA2B61284),
    HashVector(.oneAtATime, Array("0123456789ab".utf8), 0xF6361F26),
    HashVector(.oneAtATime, Array("0123456789abc".utf8), 0xCAE77770),
    HashVector(.oneAtATime, Array("hello world, twemproxy!".utf8), 0xFA079336),
    HashVector(.oneAtATime, [0xFF, 0x80, 0x61, 0x62, 0x63], 0xEA10F0B9),
    HashVector(.oneAtATime, [0xE9, 0x74, 0xE9], 0x8C711B75),
    HashVector(.md5, Array("".utf8), 0xD98C1DD4),
    HashVector(.md5, Array("a".utf8), 0xB975C10C),
    HashVector(.md5, Array("abc".utf8), 0x98500190),
    HashVector(.md5, Array("key:1".utf8), 0x3CB0C47A),
    HashVector(.md5, Array("0123456789ab".utf8), 0xBF520CB6),
    HashVector(.md5, Array("0123456789abc".utf8), 0x71D9312D),
    HashVector(.md5, Array("hello world, twemproxy!".utf8), 0x2422BF55),
    HashVector(.md5, [0xFF, 0x80, 0x61, 0x62, 0x63], 0xA7EAC204),
    HashVector(.md5, [0xE9, 0x74, 0xE9], 0x306EB070),
    HashVector(.crc32, Array("".utf8), 0x00000000),
    HashVector(.crc32, Array("a".utf8), 0x000068B7),
    HashVector(.crc32, Array("abc".utf8), 0x00003524),
    HashVector(.crc32, Array("key:1".utf8), 0x00000B6F),
    HashVector(.crc32, Array("0123456789ab".utf8), 0x00000623),
    HashVector(.crc32, Array("0123456789abc".utf8), 0x00004E68),
    HashVector(.crc32, Array("hello world, twemproxy!".utf8), 0x000015B0),
    HashVector(.crc32, [0xFF, 0x80, 0x61, 0x62, 0x63], 0x00002B7A),
    HashVector(.crc32, [0xE9, 0x74, 0xE9], 0x00004BF7),
    HashVector(.fnv1_64, Array("".utf8), 0x84222325),
    HashVector(.fnv1_64, Array("a".utf8), 0x8601B7BE),
    HashVector(.fnv1_64, Array("abc".utf8), 0x6BAFADCB),
    HashVector(.fnv1_64, Array("key:1".utf8), 0xFDC93305),
    HashVector(.fnv1_64, Array("0123456789ab".utf8), 0xA4CFC71D),
    HashVector(.fnv1_64, Array("0123456789abc".utf8), 0x0D0F5624),
    HashVector(.fnv1_64, Array("hello world, twemproxy!".utf8), 0xC51B3493),
    HashVector(.fnv1_64, [0xFF, 0x80, 0x61, 0x62, 0x63], 0xB5BFF200),
    HashVector(.fnv1_64, [0xE9, 0x74, 0xE9], 0x6BD2A1AB),
    HashVector(.fnv1a_64, Array("".utf8), 0x84222325),
    HashVector(.fnv1a_64, Array("a".utf8), 0x8601EC8C),
    HashVector(.fnv1a_64, Array("abc".utf8), 0x0541574B),
    HashVector(.fnv1a_64, Array("key:1".utf8), 0x962F5AC9),
    HashVector(.fnv1a_64, Array("0123456789ab".utf8), 0x43B49151),
    HashVector(.fnv1a_64, Array("0123456789abc".utf8), 0x0BD2B7F6),
    HashVector(.fnv1a_64, Array("hello world, twemproxy!".utf8), 0xC5161A57),
    HashVector(.fnv1a_64, [0xFF, 0x80, 0x61, 0x62, 0x63], 0xCC16669E),
    HashVector(.fnv1a_64, [0xE9, 0x74, 0xE9], 0xB5281FFB),
    HashVector(.fnv1_32, Array("".utf8), 0x811C9DC5),
    HashVector(.fnv1_32, Array("a".utf8), 0x050C5D7E),
    HashVector(.fnv1_32, Array("abc".utf8), 0x439C2F4B),
    HashVector(.fnv1_32, Array("key:1".utf8), 0x8964F7A5),
    HashVector(.fnv1_32, Array("0123456789ab".utf8), 0x1963825D),
    HashVector(.fnv1_32, Array("0123456789abc".utf8), 0x54A63804),
    HashVector(.fnv1_32, Array("hello world, twemproxy!".utf8), 0x91035473),
    HashVector(.fnv1_32, [0xFF, 0x80, 0x61, 0x62, 0x63], 0xEBA56300),
    HashVector(.fnv1_32, [0xE9, 0x74, 0xE9], 0x387CFFEB),
    HashVector(.fnv1a_32, Array("".utf8), 0x811C9DC5),
    HashVector(.fnv1a_32, Array("a".utf8), 0xE40C292C),
    HashVector(.fnv1a_32, Array("abc".utf8), 0x1A47E90B),
    HashVector(.fnv1a_32, Array("key:1".utf8), 0x58140FA9),
    HashVector(.fnv1a_32, Array("0123456789ab".utf8), 0x2D4C5D51),
    HashVector(.fnv1a_32, Array("0123456789abc".utf8), 0x8136B5B6),
    HashVector(.fnv1a_32, Array("hello world, twemproxy!".utf8), 0x94A5EE37),
    HashVector(.fnv1a_32, [0xFF, 0x80, 0x61, 0x62, 0x63], 0xACF3BD7E),
    HashVector(.fnv1a_32, [0xE9, 0x74, 0xE9], 0xFB67177B),
    HashVector(.murmur, Array("".utf8), 0x00000000),
    HashVector(.murmur, Array("a".utf8), 0x4B41757C),
    HashVector(.murmur, Array("abc".utf8), 0x7B0CC428),
    HashVector(.murmur, Array("key:1".utf8), 0xDC094157),
    HashVector(.murmur, Array("0123456789ab".utf8), 0x0D4E2821),
    HashVector(.murmur, Array("0123456789abc".utf8), 0xC23FAF3E),
    HashVector(.murmur, Array("hello world, twemproxy!".utf8), 0x144BD68D),
    HashVector(.murmur, [0xFF, 0x80, 0x61, 0x62, 0x63], 0xF7927094),
    HashVector(.murmur, [0xE9, 0x74, 0xE9], 0xF7762CFF),
    HashVector(.jenkins, Array("".utf8), 0xDEADBEFC),
    HashVector(.jenkins, Array("a".utf8), 0xE0A38690),
    HashVector(.jenkins, Array("abc".utf8), 0x8F415600),
    HashVector(.jenkins, Array("key:1".utf8), 0x82BC75DA),
    HashVector(.jenkins, Array("0123456789ab".utf8), 0x6D223753),
    HashVector(.jenkins, Array("0123456789abc".utf8), 0x37F93EAD),
    HashVector(.jenkins, Array("hello world, twemproxy!".utf8), 0x4C4864A4),
    HashVector(.jenkins, [0xFF, 0x80, 0x61, 0x62, 0x63], 0xE6C49B40),
    HashVector(.jenkins, [0xE9, 0x74, 0xE9], 0x1FC3862B),
]

@Test func matchesLibmemcachedsHashFunctions() {
    for vector in libmemcachedVectors {
        #expect(hash(vector.kind, vector.key) == vector.hash, "\(vector.kind) \(vector.key)")
    }
}

private func md5Hex(_ message: [UInt8]) -> String {
    let digest = message.withUnsafeBytes { MD5.digest(of: $0) }
    return digest.map { byte in String(byte >> 4, radix: 16) + String(byte & 15, radix: 16) }.joined()
}

@Test func md5MatchesRFC1321AndLongerMessages() {
    let suite: [(String, String)] = [
        ("", "d41d8cd98f00b204e9800998ecf8427e"),
        ("a", "0cc175b9c0f1b6a831c399e269772661"),
        ("abc", "900150983cd24fb0d6963f7d28e17f72"),
        ("message digest", "f96b697d7cb7938d525a2f31aaf161d0"),
        ("abcdefghijklmnopqrstuvwxyz", "c3fcd3d76192e4007dfb496cca67e13b"),
        ("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789",
         "d174ab98d277d9f5a5611c2c9f419d9f"),
        (String(repeating: "1234567890", count: 8), "57edf4a22be3c955ac49da2e2107b67a"),
        // 56 and 64 bytes need a second padding block; 1000 bytes many whole blocks.
        (String(repeating: "a", count: 56), "3b0c8ac703f828b04c6c197006d17218"),
        (String(repeating: "a", count: 64), "014842d480b571495a4a0363793f7367"),
        (String(repeating: "a", count: 1000), "cabe45dcc9ae5b66ba86600cca6b8ba8"),
    ]
    for (message, expected) in suite {
        #expect(md5Hex(Array(message.utf8)) == expected, "md5 of \(message.utf8.count) bytes")
    }
}

@Test func md5IgnoresAlignment() {
    let bytes = (0 ..< 200).map { UInt8(truncatingIfNeeded: $0 &* 13 &+ 7) }
    var seen = Set<[UInt8]>()
    for length in [55, 56, 57, 63, 64, 65, 119, 120, 128] {
        let whole = Array(bytes[0 ..< length]).withUnsafeBytes { MD5.digest(of: $0) }
        let shifted = ([0] + bytes[0 ..< length]).withUnsafeBytes {
            MD5.digest(of: UnsafeRawBufferPointer(rebasing: $0[1...]))
        }
        #expect(whole == shifted)
        seen.insert(whole)
    }
    #expect(seen.count == 9)
}

@Test func twemproxysOwnQuirks() {
    // md5 is the first four digest bytes, little-endian.
    #expect(hash(.md5, "") == 0xD98C_1DD4)
    #expect(hash(.md5, "abc") == 0x9850_0190)
    // fnv1a_64 keeps the low half of FNV-1a 64 ("a" is 0xaf63dc4c8601ec8c).
    #expect(hash(.fnv1a_64, "a") == 0x8601_EC8C)
    #expect(hash(.fnv1_32, "") == 2_166_136_261)
    // crc32a is the standard CRC-32, crc32 libmemcached's 15-bit cut of it.
    #expect(hash(.crc32a, "123456789") == 0xCBF4_3926)
    #expect(hash(.crc32, "123456789") == (0xCBF4_3926 >> 16) & 0x7FFF)
    // crc16's low 16 bits are CRC-16/XMODEM; the register is not cut to 16 bits.
    #expect(hash(.crc16, "123456789") & 0xFFFF == 0x31C3)
    #expect(hash(.crc16, "123456789") > 0xFFFF)
    #expect(hash(.crc16, "a") == 0x7C87)
    #expect(hash(.crc16, "") == 0)
    // hsieh returns 0 for no bytes and mixes every tail length.
    #expect(hash(.hsieh, "") == 0)
    #expect(Set(["a", "ab", "abc", "abcd", "abcde"].map { hash(.hsieh, $0) }).count == 5)
    // jenkins returns its seed, 0xdeadbeef + length + 13, unmixed for no bytes.
    #expect(hash(.jenkins, "") == 0xDEAD_BEFC)
}

@Test func signedCharBytesAreSignExtended() {
    // In C `(uint32_t)(char)0xE9` is 0xFFFFFFE9 on x86-64; unsigned reading would differ.
    #expect(KeyHash.signExtended(0xE9) == 0xFFFF_FFE9)
    #expect(KeyHash.signExtended(0x41) == 0x41)
    #expect(hash(.fnv1a_32, [0xE9]) == (UInt32(2_166_136_261) ^ 0xFFFF_FFE9) &* 16_777_619)
}

@Test(arguments: KeyHashKind.allCases)
func hashesIgnoreAlignmentAndBytesAround(_ kind: KeyHashKind) {
    let bytes = (0 ..< 40).map { UInt8(truncatingIfNeeded: $0 &* 29 &+ 3) }
    for length in [0, 1, 2, 3, 4, 5, 11, 12, 13, 24, 25, 31] {
        for offset in 1 ..< 4 {
            let got = bytes.withUnsafeBytes {
                KeyHash.hash(kind, UnsafeRawBufferPointer(rebasing: $0[offset ..< offset + length]))
            }
            let fresh = Array(bytes[offset ..< offset + length])
            #expect(got == hash(kind, fresh), "\(kind) length \(length) offset \(offset)")
        }
    }
}
