#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Byte-level scanning shared by the request parser, the reply framer and the expiry rewriter.
/// Works on raw buffers with index arithmetic; nothing here allocates.
@usableFromInline
enum MemcachedScan {
    @usableFromInline static let cr: UInt8 = 13
    @usableFromInline static let lf: UInt8 = 10
    @usableFromInline static let space: UInt8 = 32
    @usableFromInline static let zero: UInt8 = UInt8(ascii: "0")
    @usableFromInline static let plus: UInt8 = UInt8(ascii: "+")
    @usableFromInline static let minus: UInt8 = UInt8(ascii: "-")

    /// Index of the first `byte` in `bytes[from..<to]`, or nil. memchr, because a multi-key get
    /// line can be tens of kilobytes long.
    @inlinable
    static func firstIndex(of byte: UInt8, in bytes: UnsafeRawBufferPointer, from: Int, to: Int) -> Int? {
        guard from < to, let base = bytes.baseAddress else { return nil }
        guard let found = memchr(base + from, Int32(byte), to - from) else { return nil }
        return UnsafeRawPointer(found) - base
    }

    /// Whether `bytes[range]` is exactly `literal` (ASCII).
    @inlinable
    static func equals(_ bytes: UnsafeRawBufferPointer, _ range: Range<Int>, _ literal: StaticString) -> Bool {
        let count = literal.utf8CodeUnitCount
        guard range.count == count else { return false }
        let chars = literal.utf8Start
        var i = 0
        while i < count {
            if bytes[range.lowerBound + i] != chars[i] { return false }
            i += 1
        }
        return true
    }

    /// Whether `bytes[from...]` starts with `literal`.
    @inlinable
    static func hasPrefix(_ bytes: UnsafeRawBufferPointer, at from: Int, _ literal: StaticString) -> Bool {
        let count = literal.utf8CodeUnitCount
        guard bytes.count - from >= count else { return false }
        return equals(bytes, from ..< from + count, literal)
    }

    /// Parses an unsigned decimal as memcached's `safe_strtoul`/`safe_strtoull` accept it (an
    /// optional "+", then digits; leading zeros allowed), nil when empty, not a number, or above
    /// `max`. memcached silently truncates a 32-bit field written with more bits; the proxy refuses it.
    @inlinable
    static func parseUnsigned(_ bytes: UnsafeRawBufferPointer, _ range: Range<Int>, max: UInt64 = .max) -> UInt64? {
        var i = range.lowerBound
        let end = range.upperBound
        if i < end, bytes[i] == plus { i += 1 }
        guard i < end else { return nil }
        var value: UInt64 = 0
        while i < end {
            let digit = bytes[i] &- zero
            guard digit <= 9 else { return nil }
            let (times10, o1) = value.multipliedReportingOverflow(by: 10)
            let (sum, o2) = times10.addingReportingOverflow(UInt64(digit))
            guard !o1, !o2 else { return nil }
            value = sum
            i += 1
        }
        return value <= max ? value : nil
    }

    /// Parses a signed decimal as memcached's `safe_strtol` accepts it on a 64-bit host (strtol:
    /// an optional sign, then digits), nil when empty, not a number, or outside Int64. Note that
    /// memcached then truncates an exptime to 32 bits; see `MemcachedExpiry.effective`.
    @inlinable
    static func parseSigned(_ bytes: UnsafeRawBufferPointer, _ range: Range<Int>) -> Int64? {
        var i = range.lowerBound
        let end = range.upperBound
        var negative = false
        if i < end, bytes[i] == plus || bytes[i] == minus {
            negative = bytes[i] == minus
            i += 1
        }
        guard i < end else { return nil }
        // Accumulate towards the sign so Int64.min parses without overflowing.
        var value: Int64 = 0
        while i < end {
            let digit = bytes[i] &- zero
            guard digit <= 9 else { return nil }
            let (times10, o1) = value.multipliedReportingOverflow(by: 10)
            let (sum, o2) = negative
                ? times10.subtractingReportingOverflow(Int64(digit))
                : times10.addingReportingOverflow(Int64(digit))
            guard !o1, !o2 else { return nil }
            value = sum
            i += 1
        }
        return value
    }

    /// Whether `bytes[range]` is a valid key as written: 1...`maxLength` bytes, none a control
    /// character or space (below 0x21, or 0x7f). memcached itself only checks the length, but
    /// protocol.txt forbids control characters and clients recognise the refusal.
    @inlinable
    static func isValidKey(_ bytes: UnsafeRawBufferPointer, _ range: Range<Int>, maxLength: Int) -> Bool {
        guard !range.isEmpty, range.count <= maxLength else { return false }
        var i = range.lowerBound
        let end = range.upperBound
        // Eight bytes at a time: a 100-key get line is 25 KB of keys.
        while end - i >= 8 {
            let word = bytes.loadUnaligned(fromByteOffset: i, as: UInt64.self)
            if hasByte(below: 0x21, in: word) || hasZeroByte(word ^ (ones &* 0x7f)) { return false }
            i += 8
        }
        while i < end {
            let b = bytes[i]
            if b < 0x21 || b == 0x7f { return false }
            i += 1
        }
        return true
    }

    /// The index of the first space in `bytes[from..<to]`, or `to`.
    @inlinable @inline(__always)
    static func nextSpace(_ bytes: UnsafeRawBufferPointer, from: Int, to end: Int) -> Int {
        var i = from
        // Most tokens are short: byte by byte first, then eight bytes at a time for long keys.
        let shortEnd = Swift.min(end, from + 16)
        while i < shortEnd {
            if bytes[i] == space { return i }
            i += 1
        }
        while end - i >= 8 {
            if hasZeroByte(bytes.loadUnaligned(fromByteOffset: i, as: UInt64.self) ^ (ones &* 0x20)) { break }
            i += 8
        }
        while i < end, bytes[i] != space { i += 1 }
        return i
    }

    @usableFromInline static let ones: UInt64 = 0x0101_0101_0101_0101
    @usableFromInline static let highBits: UInt64 = 0x8080_8080_8080_8080

    /// Whether some byte of `word` is 0 (exact as to whether, not where).
    @inlinable @inline(__always)
    static func hasZeroByte(_ word: UInt64) -> Bool {
        (word &- ones) & ~word & highBits != 0
    }

    /// Whether some byte of `word` is below `limit` (at most 128; exact as to whether).
    @inlinable @inline(__always)
    static func hasByte(below limit: UInt8, in word: UInt64) -> Bool {
        (word &- ones &* UInt64(limit)) & ~word & highBits != 0
    }

    /// Appends the decimal digits of `value`.
    @inlinable
    static func appendDecimal(_ value: Int64, into out: inout [UInt8]) {
        if value < 0 {
            out.append(minus)
            appendDecimal(value.magnitude, into: &out)
        } else {
            appendDecimal(UInt64(value), into: &out)
        }
    }

    /// Appends the decimal digits of `value`.
    @inlinable
    static func appendDecimal(_ value: UInt64, into out: inout [UInt8]) {
        if value < 10 {
            out.append(zero &+ UInt8(value))
            return
        }
        var digits: (UInt64, UInt64, UInt64) = (0, 0, 0)   // 20 digits at most, on the stack
        var count = 0
        var v = value
        withUnsafeMutableBytes(of: &digits) { buffer in
            while v > 0 {
                buffer[count] = zero &+ UInt8(v % 10)
                v /= 10
                count += 1
            }
            var i = count - 1
            while i >= 0 {
                out.append(buffer[i])
                i -= 1
            }
        }
    }

    /// Appends "\r\n".
    @inlinable
    static func appendCRLF(into out: inout [UInt8]) {
        out.append(cr)
        out.append(lf)
    }

    /// Appends `bytes[range]`.
    @inlinable
    static func append(_ bytes: UnsafeRawBufferPointer, _ range: Range<Int>, into out: inout [UInt8]) {
        guard !range.isEmpty else { return }
        out.append(contentsOf: UnsafeRawBufferPointer(rebasing: bytes[range]))
    }

    /// Appends an ASCII literal.
    @inlinable
    static func append(_ literal: StaticString, into out: inout [UInt8]) {
        out.append(contentsOf: UnsafeBufferPointer(start: literal.utf8Start, count: literal.utf8CodeUnitCount))
    }

    /// a + b, or Int.max when that overflows: lower bounds on frame sizes only ever need to be
    /// "at least", and a clamped bound keeps a hostile declared size from trapping.
    @inlinable
    static func saturatingAdd(_ a: Int, _ b: Int) -> Int {
        let (sum, overflow) = a.addingReportingOverflow(b)
        return overflow ? Int.max : sum
    }
}
