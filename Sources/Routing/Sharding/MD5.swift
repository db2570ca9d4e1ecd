/// MD5 (RFC 1321), just enough for key sharding: twemproxy's and libmemcached's `md5` key hash and
/// the ketama continuum both read the digest as four little-endian 32-bit words.
///
/// Contract: `words(of:)` returns the digest of the bytes as the words `(a, b, c, d)`, where `a` is
/// digest bytes 0...3 read little-endian, `b` bytes 4...7, and so on. It never allocates on the
/// heap: whole 64-byte blocks are read in place and the padded tail lives in a 128-byte local.
/// Not for security: MD5 is broken as a cryptographic hash; here it only spreads keys.
struct MD5 {
    private var a: UInt32 = 0x6745_2301
    private var b: UInt32 = 0xEFCD_AB89
    private var c: UInt32 = 0x98BA_DCFE
    private var d: UInt32 = 0x1032_5476

    /// The digest of `message` as four little-endian words.
    static func words(of message: UnsafeRawBufferPointer) -> (UInt32, UInt32, UInt32, UInt32) {
        var md5 = MD5()
        let count = message.count
        var offset = 0
        if let base = message.baseAddress {
            while count - offset >= 64 {
                md5.compress(base + offset)
                offset += 64
            }
        }
        let remaining = count - offset
        // The tail, the 0x80 marker, zeros and the 64-bit bit length fill one or two blocks of a
        // zeroed 128-byte value on the stack.
        var tail = SIMD16<UInt64>.zero
        withUnsafeMutableBytes(of: &tail) { tail in
            if remaining > 0, let base = message.baseAddress {
                tail.baseAddress!.copyMemory(from: base + offset, byteCount: remaining)
            }
            tail[remaining] = 0x80
            let blocks = remaining < 56 ? 1 : 2
            let bitLength = UInt64(count) &* 8
            tail.storeBytes(of: bitLength.littleEndian, toByteOffset: blocks * 64 - 8, as: UInt64.self)
            for block in 0 ..< blocks {
                md5.compress(UnsafeRawPointer(tail.baseAddress! + block * 64))
            }
        }
        return (md5.a, md5.b, md5.c, md5.d)
    }

    /// The 16-byte digest, for tests and diagnostics (this one allocates).
    static func digest(of message: UnsafeRawBufferPointer) -> [UInt8] {
        let (a, b, c, d) = words(of: message)
        return [a, b, c, d].flatMap { word in (0 ..< 4).map { UInt8(truncatingIfNeeded: word >> (8 * $0)) } }
    }

    private mutating func compress(_ block: UnsafeRawPointer) {
        MD5.sines.withUnsafeBufferPointer { sines in
            @inline(__always)
            func word(_ index: Int) -> UInt32 {
                UInt32(littleEndian: block.loadUnaligned(fromByteOffset: index &* 4, as: UInt32.self))
            }
            // One step: the round's mixing function of b, c, d is added to a with the step's
            // message word and constant, rotated, added to b; then the registers shift along.
            @inline(__always)
            func step(_ a: inout UInt32, _ b: inout UInt32, _ c: inout UInt32, _ d: inout UInt32,
                      _ mixed: UInt32, _ index: Int, _ word: UInt32, _ shift: UInt32) {
                let sum = a &+ mixed &+ sines[index] &+ word
                let rotated = (sum << shift) | (sum >> (32 &- shift))
                (a, b, c, d) = (d, b &+ rotated, b, c)
            }
            var aa = a, bb = b, cc = c, dd = d
            // Four steps per pass, so every rotation amount is a constant.
            for i in stride(from: 0, to: 16, by: 4) {
                step(&aa, &bb, &cc, &dd, (bb & cc) | (~bb & dd), i, word(i), 7)
                step(&aa, &bb, &cc, &dd, (bb & cc) | (~bb & dd), i + 1, word(i + 1), 12)
                step(&aa, &bb, &cc, &dd, (bb & cc) | (~bb & dd), i + 2, word(i + 2), 17)
                step(&aa, &bb, &cc, &dd, (bb & cc) | (~bb & dd), i + 3, word(i + 3), 22)
            }
            for i in stride(from: 16, to: 32, by: 4) {
                step(&aa, &bb, &cc, &dd, (dd & bb) | (~dd & cc), i, word((5 &* i &+ 1) & 15), 5)
                step(&aa, &bb, &cc, &dd, (dd & bb) | (~dd & cc), i + 1, word((5 &* i &+ 6) & 15), 9)
                step(&aa, &bb, &cc, &dd, (dd & bb) | (~dd & cc), i + 2, word((5 &* i &+ 11) & 15), 14)
                step(&aa, &bb, &cc, &dd, (dd & bb) | (~dd & cc), i + 3, word((5 &* i &+ 16) & 15), 20)
            }
            for i in stride(from: 32, to: 48, by: 4) {
                step(&aa, &bb, &cc, &dd, bb ^ cc ^ dd, i, word((3 &* i &+ 5) & 15), 4)
                step(&aa, &bb, &cc, &dd, bb ^ cc ^ dd, i + 1, word((3 &* i &+ 8) & 15), 11)
                step(&aa, &bb, &cc, &dd, bb ^ cc ^ dd, i + 2, word((3 &* i &+ 11) & 15), 16)
                step(&aa, &bb, &cc, &dd, bb ^ cc ^ dd, i + 3, word((3 &* i &+ 14) & 15), 23)
            }
            for i in stride(from: 48, to: 64, by: 4) {
                step(&aa, &bb, &cc, &dd, cc ^ (bb | ~dd), i, word((7 &* i) & 15), 6)
                step(&aa, &bb, &cc, &dd, cc ^ (bb | ~dd), i + 1, word((7 &* i &+ 7) & 15), 10)
                step(&aa, &bb, &cc, &dd, cc ^ (bb | ~dd), i + 2, word((7 &* i &+ 14) & 15), 15)
                step(&aa, &bb, &cc, &dd, cc ^ (bb | ~dd), i + 3, word((7 &* i &+ 21) & 15), 21)
            }
            a = a &+ aa
            b = b &+ bb
            c = c &+ cc
            d = d &+ dd
        }
    }

    /// RFC 1321's table T: floor(abs(sin(i + 1)) * 2^32).
    private static let sines: [UInt32] = [
        0xD76A_A478, 0xE8C7_B756, 0x2420_70DB, 0xC1BD_CEEE, 0xF57C_0FAF, 0x4787_C62A, 0xA830_4613, 0xFD46_9501,
        0x6980_98D8, 0x8B44_F7AF, 0xFFFF_5BB1, 0x895C_D7BE, 0x6B90_1122, 0xFD98_7193, 0xA679_438E, 0x49B4_0821,
        0xF61E_2562, 0xC040_B340, 0x265E_5A51, 0xE9B6_C7AA, 0xD62F_105D, 0x0244_1453, 0xD8A1_E681, 0xE7D3_FBC8,
        0x21E1_CDE6, 0xC337_07D6, 0xF4D5_0D87, 0x455A_14ED, 0xA9E3_E905, 0xFCEF_A3F8, 0x676F_02D9, 0x8D2A_4C8A,
        0xFFFA_3942, 0x8771_F681, 0x6D9D_6122, 0xFDE5_380C, 0xA4BE_EA44, 0x4BDE_CFA9, 0xF6BB_4B60, 0xBEBF_BC70,
        0x289B_7EC6, 0xEAA1_27FA, 0xD4EF_3085, 0x0488_1D05, 0xD9D4_D039, 0xE6DB_99E5, 0x1FA2_7CF8, 0xC4AC_5665,
        0xF429_2244, 0x432A_FF97, 0xAB94_23A7, 0xFC93_A039, 0x655B_59C3, 0x8F0C_CC92, 0xFFEF_F47D, 0x8584_5DD1,
        0x6FA8_7E4F, 0xFE2C_E6E0, 0xA301_4314, 0x4E08_11A1, 0xF753_7E82, 0xBD3A_F235, 0x2AD7_D2BB, 0xEB86_D391,
    ]
}
