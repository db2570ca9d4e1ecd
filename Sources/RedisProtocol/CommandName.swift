/// A redis command name, folded to ASCII lower case and packed into four machine words, so the
/// command table can be searched straight from the bytes of a request without allocating.
///
/// Contract:
/// - Holds at most `CommandName.capacity` (32) bytes; the failable initialisers return `nil` for
///   anything longer (no redis command or `container|subcommand` pair is that long, so a longer
///   name is simply not in the table).
/// - Only the ASCII letters `A`–`Z` are folded; every other byte, including bytes ≥ 0x80 and NUL,
///   is kept as is, and the length is part of the value (`"get"` and `"get\0"` differ).
/// - Two names are equal exactly when their folded bytes are equal. Equality and hashing cost a
///   handful of word operations and never touch the heap.
public struct CommandName: Hashable, Sendable, CustomStringConvertible {
    /// The most bytes a packed name can hold.
    public static let capacity = 32

    var w0: UInt64
    var w1: UInt64
    var w2: UInt64
    var w3: UInt64
    var length: UInt8

    /// Packs `bytes` (a command name as it arrived on the wire, any case). `nil` when longer than
    /// `capacity`. Allocation-free.
    public init?(_ bytes: UnsafeRawBufferPointer) {
        guard bytes.count <= Self.capacity else { return nil }
        self.init(unchecked: bytes)
    }

    /// Packs `bytes`, which must hold at most `capacity` bytes. Always inlined, so the words stay
    /// in registers on the lookup path: copying into a stack buffer and reading it back as words,
    /// or returning an optional name through memory, stalled on store forwarding and cost more
    /// than the rest of the lookup.
    @inline(__always)
    init(unchecked bytes: UnsafeRawBufferPointer) {
        self.init(
            words: (Self.word(bytes, 0), Self.word(bytes, 8), Self.word(bytes, 16), Self.word(bytes, 24)),
            length: bytes.count)
    }

    /// Packs the UTF-8 bytes of `s`. `nil` when longer than `capacity`. Not for the hot path.
    public init?(_ s: String) {
        var s = s
        guard let name = s.withUTF8({ CommandName(UnsafeRawBufferPointer($0)) }) else { return nil }
        self = name
    }

    /// Packs `container`, `|` and `subcommand` as one name (`client|setname`), the form under
    /// which the table stores subcommands; equal to packing the joined bytes. `nil` when the
    /// result would be longer than `capacity`. Allocation-free.
    public init?(container: UnsafeRawBufferPointer, subcommand: UnsafeRawBufferPointer) {
        guard container.count + 1 + subcommand.count <= Self.capacity else { return nil }
        self.init(uncheckedContainer: container, subcommand: subcommand)
    }

    /// `init?(container:subcommand:)` for names known to fit; always inlined (see
    /// `init(unchecked:)`).
    @inline(__always)
    init(uncheckedContainer container: UnsafeRawBufferPointer, subcommand: UnsafeRawBufferPointer) {
        let separator = UInt8(ascii: "|")
        let a = container.count
        let total = a + 1 + subcommand.count
        // container | separator << 8a | subcommand << 8(a + 1), as one 256-bit little-endian
        // number held in four words.
        let sub = (Self.word(subcommand, 0), Self.word(subcommand, 8),
                   Self.word(subcommand, 16), Self.word(subcommand, 24))
        self.init(
            words: (Self.word(container, 0) | Self.joinedWord(0, sub, separator, a),
                    Self.word(container, 8) | Self.joinedWord(1, sub, separator, a),
                    Self.word(container, 16) | Self.joinedWord(2, sub, separator, a),
                    Self.word(container, 24) | Self.joinedWord(3, sub, separator, a)),
            length: total)
    }

    /// Word `i` of `subcommand << 8(a + 1) | separator << 8a`, the part of a joined name that
    /// follows an `a`-byte container.
    @inline(__always)
    static func joinedWord(
        _ i: Int, _ sub: (UInt64, UInt64, UInt64, UInt64), _ separator: UInt8, _ a: Int
    ) -> UInt64 {
        @inline(__always) func subWord(_ j: Int) -> UInt64 {
            switch j {
            case 0: return sub.0
            case 1: return sub.1
            case 2: return sub.2
            case 3: return sub.3
            default: return 0
            }
        }
        // Word i takes the subcommand's bits from `from` on (negative: the word begins below the
        // subcommand, whose bit 0 lands at bit -from of this word).
        let from = 64 * i - 8 * (a + 1)
        var w: UInt64
        if from <= -64 {
            w = 0
        } else if from < 0 {
            w = subWord(0) << UInt64(-from)
        } else {
            let j = from >> 6, r = UInt64(from & 63)
            w = subWord(j) >> r | (r == 0 ? 0 : subWord(j + 1) << (64 - r))
        }
        let separatorBit = 8 * a - 64 * i
        if separatorBit >= 0 && separatorBit < 64 { w |= UInt64(separator) << UInt64(separatorBit) }
        return w
    }

    /// Bytes `offset ..< offset + 8` of `bytes` as a little-endian word, zero past the end;
    /// `bytes.count <= capacity`. Reads only inside `bytes`, with at most three loads.
    @inline(__always)
    static func word(_ bytes: UnsafeRawBufferPointer, _ offset: Int) -> UInt64 {
        let n = bytes.count
        if n >= offset + 8 {
            return UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: offset, as: UInt64.self))
        }
        if n <= offset { return 0 }
        let have = n - offset   // 1 ... 7 bytes
        if n >= 8 {
            // The 8 bytes ending at n, shifted down so byte `offset` lands at the bottom.
            let tail = UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: n - 8, as: UInt64.self))
            return tail &>> UInt64((8 - have) * 8)
        }
        // Fewer than 8 bytes in all (offset == 0): overlapping loads cover them.
        if have >= 4 {
            let low = UInt64(UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: 0, as: UInt32.self)))
            let high = UInt64(UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: have - 4, as: UInt32.self)))
            return low | (high &<< UInt64((have - 4) * 8))
        }
        let first = UInt64(bytes[0])
        let middle = UInt64(bytes[have >> 1]) &<< UInt64((have >> 1) * 8)
        let last = UInt64(bytes[have - 1]) &<< UInt64((have - 1) * 8)
        return first | middle | last
    }

    @inline(__always)
    init(words: (UInt64, UInt64, UInt64, UInt64), length: Int) {
        w0 = Self.asciiLowercased(words.0)
        w1 = Self.asciiLowercased(words.1)
        w2 = Self.asciiLowercased(words.2)
        w3 = Self.asciiLowercased(words.3)
        self.length = UInt8(truncatingIfNeeded: length)
    }

    /// Number of bytes in the name.
    public var count: Int { Int(length) }

    /// The folded name as text (invalid UTF-8 is repaired); for logs and tests.
    public var description: String {
        let words = (w0.littleEndian, w1.littleEndian, w2.littleEndian, w3.littleEndian)
        return Swift.withUnsafeBytes(of: words) { raw in
            String(decoding: UnsafeRawBufferPointer(rebasing: raw[0..<Int(length)]), as: UTF8.self)
        }
    }

    /// Calls `body` with the folded bytes of the name.
    public func withUnsafeBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        let words = (w0.littleEndian, w1.littleEndian, w2.littleEndian, w3.littleEndian)
        return try Swift.withUnsafeBytes(of: words) { raw in
            try body(UnsafeRawBufferPointer(rebasing: raw[0..<Int(length)]))
        }
    }

    /// Folds the ASCII capitals of the eight bytes in `w` to lower case, all at once (SWAR):
    /// a byte gets 0x20 added exactly when it is in `A`...`Z`; every other byte is unchanged.
    @inline(__always)
    static func asciiLowercased(_ w: UInt64) -> UInt64 {
        let ones: UInt64 = 0x0101_0101_0101_0101
        let high: UInt64 = 0x8080_8080_8080_8080
        let low7 = w & ~high                        // each byte 0...0x7F: the adds below never carry
        let atLeastA = low7 &+ ones &* (0x80 - 0x41) // high bit set when the byte is >= "A"
        let aboveZ = low7 &+ ones &* (0x80 - 0x5B)   // high bit set when the byte is >  "Z"
        let isCapital = atLeastA & ~aboveZ & ~w & high
        return w | (isCapital >> 2)                 // 0x80 >> 2 == 0x20
    }

    /// A well-mixed 64-bit hash for the table's open addressing (use the top bits).
    @inline(__always)
    var tableHash: UInt64 {
        var h = w0 ^ (w1 &<< 17 | w1 &>> 47) ^ (w2 &<< 31 | w2 &>> 33) ^ (w3 &<< 47 | w3 &>> 17)
        h ^= UInt64(length) &<< 56
        h = (h ^ (h &>> 31)) &* 0x9E37_79B9_7F4A_7C15
        return h ^ (h &>> 29)
    }
}
