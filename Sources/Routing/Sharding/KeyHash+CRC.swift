extension KeyHash {
    /// twemproxy 0.5.0's `crc16`: CRC-16/XMODEM (polynomial 0x1021, initial 0) run in a 32-bit
    /// register that is never cut to 16 bits, so the low 16 bits are the CRC and the high ones
    /// what was shifted out of it. (twemproxy's master later switched to CRC-16/ARC; the release
    /// is what runs.)
    static func crc16(_ key: UnsafeRawBufferPointer) -> UInt32 {
        crc16Table.withUnsafeBufferPointer { table in
            var crc: UInt32 = 0
            for byte in key {
                crc = (crc << 8) ^ UInt32(table[Int(UInt8(truncatingIfNeeded: crc >> 8) ^ byte)])
            }
            return crc
        }
    }

    /// The CRC-32 register (reflected polynomial 0xEDB88320, initial all ones) after `key`,
    /// before the final inversion: `crc32` and `crc32a` finish it differently.
    static func crc32Register(_ key: UnsafeRawBufferPointer) -> UInt32 {
        crc32Table.withUnsafeBufferPointer { table in
            var crc: UInt32 = 0xFFFF_FFFF
            for byte in key {
                crc = (crc >> 8) ^ table[Int(UInt8(truncatingIfNeeded: crc) ^ byte)]
            }
            return crc
        }
    }

    private static let crc16Table: [UInt16] = (0 ..< 256).map { index in
        var crc = UInt16(index) << 8
        for _ in 0 ..< 8 {
            crc = crc & 0x8000 != 0 ? (crc << 1) ^ 0x1021 : crc << 1
        }
        return crc
    }

    private static let crc32Table: [UInt32] = (0 ..< 256).map { index in
        var crc = UInt32(index)
        for _ in 0 ..< 8 {
            crc = crc & 1 != 0 ? (crc >> 1) ^ 0xEDB8_8320 : crc >> 1
        }
        return crc
    }
}
