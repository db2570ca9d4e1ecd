import Testing

import Routing

@Test func equalBytesHashEqualAndArrayMatchesRawBuffer() {
    let reply = Array("+OK\r\n".utf8)
    #expect(ReplyHash.hash(reply) == ReplyHash.hash(Array("+OK\r\n".utf8)))
    #expect(reply.withUnsafeBytes { ReplyHash.hash($0) } == ReplyHash.hash(reply))
}

@Test func incrRepliesDiffer() {
    #expect(ReplyHash.hash(Array(":5\r\n".utf8)) != ReplyHash.hash(Array(":6\r\n".utf8)))
    #expect(ReplyHash.hash(Array(":10\r\n".utf8)) != ReplyHash.hash(Array(":01\r\n".utf8)))
}

/// XXH64 (seed 0) of `(0 ..< length).map { UInt8(truncatingIfNeeded: $0 * 37 + 11) }`, from the
/// reference C library (libxxhash 0.8.1, `XXH64(buf, len, 0)`); the lengths cover every path: the
/// 32-byte stripes, 8-byte words, a 4-byte word and single bytes.
private let referenceVectors: [(length: Int, hash: UInt64)] = [
    (0, 0xEF46_DB37_51D8_E999), (1, 0xF592_C0C7_639C_4CB6), (3, 0x22C0_8528_601D_4F27),
    (4, 0xFB1E_5CF2_F1AE_4D95), (7, 0x5613_AC51_0496_C04E), (8, 0x57CB_2B75_21F3_E21A),
    (12, 0x2F53_B002_6603_9E64), (31, 0xE4A0_E629_E519_A4AE), (32, 0xCC6B_8AAA_DA79_0B2D),
    (33, 0x35EC_4985_0475_A832), (63, 0xBF9F_0BA3_CF95_B28A), (64, 0x155C_CCE4_BF32_BEFC),
    (100, 0x4826_E367_566E_A023), (1000, 0x128D_A10C_FBDC_59D9),
]

@Test func matchesTheReferenceXXH64() {
    for (length, expected) in referenceVectors {
        let bytes = (0 ..< length).map { UInt8(truncatingIfNeeded: $0 &* 37 &+ 11) }
        #expect(ReplyHash.hash(bytes) == expected, "length \(length)")
    }
    #expect(ReplyHash.hash(Array("abc".utf8)) == 0x44BC_2CF5_AD77_0999)
    #expect(ReplyHash.hash(Array("+OK\r\n".utf8)) == 0x7B59_82C2_FB39_58C4)
    #expect(ReplyHash.hash(Array(":5\r\n".utf8)) == 0x36A9_5C29_86F9_F916)
}

@Test(arguments: [0, 1, 7, 8, 9, 31, 32, 33, 63, 64, 65, 100])
func everySingleBitFlipChangesTheHash(_ length: Int) {
    var bytes = (0 ..< length).map { UInt8(truncatingIfNeeded: $0 &* 37 &+ 11) }
    var seen: Set<UInt64> = [ReplyHash.hash(bytes)]
    for index in 0 ..< length {
        for bit in 0 ..< 8 {
            bytes[index] ^= 1 << UInt8(bit)
            seen.insert(ReplyHash.hash(bytes))
            bytes[index] ^= 1 << UInt8(bit)
        }
    }
    #expect(seen.count == 1 + 8 * length)
}

@Test func lengthMattersAndPrefixesDiffer() {
    let bytes = [UInt8](repeating: 0, count: 200)
    let hashes = Set((0 ... bytes.count).map { ReplyHash.hash(Array(bytes[0 ..< $0])) })
    #expect(hashes.count == bytes.count + 1)
}

@Test func alignmentDoesNotMatter() {
    let value = (0 ..< 150).map { UInt8(truncatingIfNeeded: $0 &* 7) }
    let expected = ReplyHash.hash(value)
    for offset in 1 ..< 8 {
        let padded = [UInt8](repeating: 0xEE, count: offset) + value
        let hash = padded.withUnsafeBytes { ReplyHash.hash(UnsafeRawBufferPointer(rebasing: $0[offset...])) }
        #expect(hash == expected, "offset \(offset)")
    }
}

@Test func swappedWordsDiffer() {
    // Two 8-byte halves swapped: same bytes, different order.
    let a = Array("AAAAAAAABBBBBBBB".utf8)
    let b = Array("BBBBBBBBAAAAAAAA".utf8)
    #expect(ReplyHash.hash(a) != ReplyHash.hash(b))
    let longA = [UInt8](repeating: 1, count: 32) + [UInt8](repeating: 2, count: 32)
    let longB = [UInt8](repeating: 2, count: 32) + [UInt8](repeating: 1, count: 32)
    #expect(ReplyHash.hash(longA) != ReplyHash.hash(longB))
}
