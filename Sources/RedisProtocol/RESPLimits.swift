#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Bounds the request parser enforces on what a client may declare, checked from the headers
/// before any payload arrives (a declared 1 GB bulk is refused at once, not after buffering it).
///
/// Defaults are Redis 7's: `proto-max-bulk-len` 512 MiB, a 1 Mi-element multibulk, and
/// `PROTO_INLINE_MAX_SIZE` 64 KiB. `maxInlineBytes` also bounds the `*<count>` and `$<len>` header
/// lines, as Redis uses the same constant for them.
public struct RESPLimits: Sendable, Equatable {
    /// Largest bulk argument a request may declare (`$<len>`).
    public var maxBulkBytes: Int
    /// Largest argument count a request may declare (`*<count>`).
    public var maxMultibulkLength: Int
    /// Longest inline request line, and longest `*`/`$` header line, before its line end.
    public var maxInlineBytes: Int

    @inlinable
    public init(
        maxBulkBytes: Int = 512 * 1024 * 1024,
        maxMultibulkLength: Int = 1024 * 1024,
        maxInlineBytes: Int = 64 * 1024
    ) {
        self.maxBulkBytes = maxBulkBytes
        self.maxMultibulkLength = maxMultibulkLength
        self.maxInlineBytes = maxInlineBytes
    }
}

/// Byte-level scanning shared by `RequestParser`, `ReplyFramer` and `RESPValue`. Works on raw
/// buffers with index arithmetic; nothing here allocates.
@usableFromInline
enum RESPScan {
    @usableFromInline static let cr: UInt8 = 13
    @usableFromInline static let lf: UInt8 = 10
    @usableFromInline static let minus: UInt8 = UInt8(ascii: "-")
    @usableFromInline static let zero: UInt8 = UInt8(ascii: "0")

    /// Parses `bytes[from..<to]` as Redis's `string2ll` does: "0", or an optional "-" then a
    /// non-zero digit then digits. No "+", no spaces, no leading zeros, no "-0"; nil on overflow.
    @inlinable
    static func parseDecimal(_ bytes: UnsafeRawBufferPointer, from: Int, to: Int) -> Int? {
        var i = from
        guard i < to else { return nil }
        let negative = bytes[i] == minus
        if negative {
            i += 1
            guard i < to else { return nil }
        }
        let first = bytes[i] &- zero
        guard first <= 9 else { return nil }
        if first == 0 { return (!negative && i + 1 == to) ? 0 : nil }
        // Accumulate towards the sign so Int.min parses without overflowing.
        var value = negative ? -Int(first) : Int(first)
        i += 1
        while i < to {
            let digit = bytes[i] &- zero
            guard digit <= 9 else { return nil }
            let (times10, o1) = value.multipliedReportingOverflow(by: 10)
            let (next, o2) = negative
                ? times10.subtractingReportingOverflow(Int(digit))
                : times10.addingReportingOverflow(Int(digit))
            guard !o1, !o2 else { return nil }
            value = next
            i += 1
        }
        return value
    }

    @usableFromInline
    enum DecimalLine {
        case value(Int, next: Int)
        case incomplete(atLeast: Int)
        case invalid
    }

    /// Reads "<decimal>\r\n" at `from` in one pass, with `parseDecimal`'s strictness. Fails at
    /// the first byte that cannot belong to such a line (or at a 20th digit), so a garbage length
    /// line is refused at once rather than after a search for its end.
    @inlinable @inline(__always)
    static func decimalLine(_ bytes: UnsafeRawBufferPointer, from: Int) -> DecimalLine {
        let n = bytes.count
        var i = from
        let negative = i < n && bytes[i] == minus
        if negative { i += 1 }
        let digitsStart = i
        var magnitude: UInt = 0
        while i < n {
            let digit = bytes[i] &- zero
            if digit > 9 { break }
            // 19 digits hold Int.max; the cap also stops a flood of zeros.
            if i - digitsStart == 19 { return .invalid }
            magnitude = magnitude &* 10 &+ UInt(digit)
            i += 1
        }
        guard i < n else { return .incomplete(atLeast: n + 2) }
        let digits = i - digitsStart
        guard bytes[i] == cr, digits > 0,
              digits == 1 || bytes[digitsStart] != zero,
              magnitude <= (negative ? UInt(Int.max) + 1 : UInt(Int.max)),
              !(negative && magnitude == 0)
        else { return .invalid }
        guard i + 1 < n else { return .incomplete(atLeast: n + 1) }
        guard bytes[i + 1] == lf else { return .invalid }
        return .value(negative ? Int(truncatingIfNeeded: 0 &- magnitude) : Int(magnitude), next: i + 2)
    }

    /// Index of the first "\r\n" in `bytes[from...]` (the index of its "\r"), or nil.
    /// A lone "\r" is content, as in hiredis.
    @inlinable
    static func findCRLF(_ bytes: UnsafeRawBufferPointer, from: Int) -> Int? {
        var i = from
        let last = bytes.count - 1
        while i < last {
            if bytes[i] == cr {
                if bytes[i + 1] == lf { return i }
            }
            i += 1
        }
        return nil
    }

    /// Index of the first `byte` in `bytes[from..<to]`, or nil. memchr, because an inline line may
    /// be rescanned up to 64 KiB per read while it trickles in.
    @inlinable
    static func firstIndex(of byte: UInt8, in bytes: UnsafeRawBufferPointer, from: Int, to: Int) -> Int? {
        guard from < to, let base = bytes.baseAddress else { return nil }
        guard let found = memchr(base + from, Int32(byte), to - from) else { return nil }
        return UnsafeRawPointer(found) - base
    }

    /// The least total length a line starting before `bytes.count` can have when no "\r\n" has
    /// been found yet: one more byte if the buffer ends in "\r", else two.
    @inlinable
    static func lineLowerBound(_ bytes: UnsafeRawBufferPointer, from: Int) -> Int {
        let n = bytes.count
        if n > from, bytes[n - 1] == cr { return n + 1 }
        return max(n, from) + 2
    }

    /// a + b, or Int.max when that overflows: lower bounds on frame sizes only ever need to be
    /// "at least", and a clamped bound keeps a hostile declared size from trapping.
    @inlinable
    static func saturatingAdd(_ a: Int, _ b: Int) -> Int {
        let (sum, overflow) = a.addingReportingOverflow(b)
        return overflow ? Int.max : sum
    }

    @inlinable
    static func saturatingMultiply(_ a: Int, _ b: Int) -> Int {
        let (product, overflow) = a.multipliedReportingOverflow(by: b)
        return overflow ? Int.max : product
    }

    /// "0x2a" for error messages, without Foundation.
    static func hexByte(_ byte: UInt8) -> String {
        let digits: [Character] = ["0", "1", "2", "3", "4", "5", "6", "7", "8", "9", "a", "b", "c", "d", "e", "f"]
        return "0x" + String(digits[Int(byte >> 4)]) + String(digits[Int(byte & 0xF)])
    }
}
