/// CRC-32C (Castagnoli: reflected polynomial 0x82F63B78, initial and final XOR 0xFFFFFFFF), the
/// checksum of iSCSI, ext4 and SCTP. "123456789" gives 0xE3069283.
///
/// Contract: `checksum(b, continuing: checksum(a))` equals the checksum of `a` followed by `b`, so a
/// record's fields can be covered without copying them together. Pure; safe from any thread.
public enum CRC32C {
    /// The checksum of `bytes`, or of the bytes whose checksum was `previous` followed by `bytes`.
    public static func checksum(_ bytes: UnsafeRawBufferPointer, continuing previous: UInt32 = 0) -> UInt32 {
        var crc = ~previous
        tables.withUnsafeBufferPointer { t in
            guard var p = bytes.baseAddress else { return }
            var n = bytes.count
            // Slicing-by-8: eight bytes per step through eight tables, several times faster than one at a time.
            while n >= 8 {
                let lo = crc ^ UInt32(littleEndianBytesAt: p)
                let hi = UInt32(littleEndianBytesAt: p + 4)
                crc = t[7 &* 256 &+ Int(lo & 0xFF)] ^ t[6 &* 256 &+ Int((lo >> 8) & 0xFF)]
                    ^ t[5 &* 256 &+ Int((lo >> 16) & 0xFF)] ^ t[4 &* 256 &+ Int(lo >> 24)]
                    ^ t[3 &* 256 &+ Int(hi & 0xFF)] ^ t[2 &* 256 &+ Int((hi >> 8) & 0xFF)]
                    ^ t[1 &* 256 &+ Int((hi >> 16) & 0xFF)] ^ t[Int(hi >> 24)]
                p += 8
                n -= 8
            }
            while n > 0 {
                crc = t[Int((crc ^ UInt32(p.load(as: UInt8.self))) & 0xFF)] ^ (crc >> 8)
                p += 1
                n -= 1
            }
        }
        return ~crc
    }

    /// The checksum of `bytes` (convenience for arrays and tests).
    public static func checksum(_ bytes: [UInt8], continuing previous: UInt32 = 0) -> UInt32 {
        bytes.withUnsafeBytes { checksum($0, continuing: previous) }
    }

    /// Eight 256-entry tables: table 0 is the classic byte-at-a-time table; table k advances an
    /// entry of table k-1 by one more zero byte.
    private static let tables: [UInt32] = {
        var t = [UInt32](repeating: 0, count: 8 * 256)
        for i in 0 ..< 256 {
            var c = UInt32(i)
            for _ in 0 ..< 8 { c = c & 1 != 0 ? (c >> 1) ^ 0x82F6_3B78 : c >> 1 }
            t[i] = c
        }
        for k in 1 ..< 8 {
            for i in 0 ..< 256 {
                let previous = t[(k - 1) * 256 + i]
                t[k * 256 + i] = t[Int(previous & 0xFF)] ^ (previous >> 8)
            }
        }
        return t
    }()
}

extension UInt32 {
    /// The four bytes at `p` read as little-endian, at any alignment.
    @inline(__always)
    init(littleEndianBytesAt p: UnsafeRawPointer) {
        self = UInt32(littleEndian: p.loadUnaligned(as: UInt32.self))
    }
}
