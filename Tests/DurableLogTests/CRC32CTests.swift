import Testing

import DurableLog

@Test func standardCheckValue() {
    #expect(CRC32C.checksum(Array("123456789".utf8)) == 0xE306_9283)
}

@Test func emptyInputIsZero() {
    #expect(CRC32C.checksum([UInt8]()) == 0)
}

/// RFC 3720 (iSCSI) appendix B.4 vectors: 32-byte inputs, long enough to exercise the 8-byte steps.
@Test func iscsiVectors() {
    #expect(CRC32C.checksum([UInt8](repeating: 0, count: 32)) == 0x8A91_36AA)
    #expect(CRC32C.checksum([UInt8](repeating: 0xFF, count: 32)) == 0x62A8_AB43)
    #expect(CRC32C.checksum((0 ..< 32).map { UInt8($0) }) == 0x46DD_794E)
    #expect(CRC32C.checksum((0 ..< 32).map { UInt8(31 - $0) }) == 0x113F_DB5C)
}

/// Splitting the input anywhere (so the 8-byte loop and the byte loop meet at every alignment)
/// gives the same checksum as one pass, and as a plain bit-at-a-time reference.
@Test func continuationMatchesOnePassAndReference() {
    let bytes = (0 ..< 97).map { UInt8(truncatingIfNeeded: $0 &* 73 &+ 11) }
    for length in [0, 1, 7, 8, 9, 15, 16, 17, 63, 97] {
        let input = Array(bytes.prefix(length))
        let whole = CRC32C.checksum(input)
        #expect(whole == referenceCRC32C(input))
        for split in 0 ... length {
            let first = CRC32C.checksum(Array(input[..<split]))
            #expect(CRC32C.checksum(Array(input[split...]), continuing: first) == whole)
        }
    }
}

private func referenceCRC32C(_ bytes: [UInt8]) -> UInt32 {
    var crc: UInt32 = 0xFFFF_FFFF
    for byte in bytes {
        crc ^= UInt32(byte)
        for _ in 0 ..< 8 { crc = crc & 1 != 0 ? (crc >> 1) ^ 0x82F6_3B78 : crc >> 1 }
    }
    return ~crc
}
