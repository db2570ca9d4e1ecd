/// Splits one inline request line into arguments exactly as Redis's `sdssplitargs` does:
///
/// - Arguments are separated by runs of blanks. Leading blanks are what C's `isspace` accepts
///   (space, \t, \n, \v, \f, \r), but an unquoted argument ends only at space, \t, \n or \r;
///   Redis has that asymmetry and so does this.
/// - `"double quotes"` understand `\n \r \t \b \a`, `\xHH` (two hex digits) and `\<any>` for
///   that byte; `'single quotes'` understand only `\'`.
/// - A quote may start in the middle of an argument (`a"b c"` is `ab c`), and a closing quote
///   must be followed by a blank or the end of the line; an unclosed quote or a closing quote
///   followed by anything else is "unbalanced quotes".
/// - Where Redis works on a C string, a NUL byte here is an ordinary byte (Redis's `strchr`
///   would not even find the line end past it, so there is no Redis behaviour to match).
@usableFromInline
enum InlineTokenizer {
    /// Appends the decoded bytes of every argument in `line` to `bytes` and the range of each
    /// argument within `bytes` to `tokens`. Returns false on unbalanced quotes.
    @usableFromInline
    static func split(
        _ line: UnsafeRawBufferPointer,
        bytes: inout [UInt8],
        tokens: inout [Range<Int>]
    ) -> Bool {
        let end = line.count
        var p = 0
        while true {
            while p < end && isCSpace(line[p]) { p += 1 }
            if p >= end { return true }

            let tokenStart = bytes.count
            var inDoubleQuotes = false
            var inSingleQuotes = false
            var done = false
            while !done {
                if inDoubleQuotes {
                    guard p < end else { return false }
                    let c = line[p]
                    if c == backslash, p + 3 < end, line[p + 1] == UInt8(ascii: "x"),
                       let high = hexValue(line[p + 2]), let low = hexValue(line[p + 3]) {
                        bytes.append(high << 4 | low)
                        p += 4
                    } else if c == backslash, p + 1 < end {
                        bytes.append(unescape(line[p + 1]))
                        p += 2
                    } else if c == doubleQuote {
                        if p + 1 < end && !isCSpace(line[p + 1]) { return false }
                        done = true
                        p += 1
                    } else {
                        bytes.append(c)
                        p += 1
                    }
                } else if inSingleQuotes {
                    guard p < end else { return false }
                    let c = line[p]
                    if c == backslash, p + 1 < end, line[p + 1] == singleQuote {
                        bytes.append(singleQuote)
                        p += 2
                    } else if c == singleQuote {
                        if p + 1 < end && !isCSpace(line[p + 1]) { return false }
                        done = true
                        p += 1
                    } else {
                        bytes.append(c)
                        p += 1
                    }
                } else {
                    guard p < end else { break }
                    let c = line[p]
                    switch c {
                    case UInt8(ascii: " "), UInt8(ascii: "\t"), UInt8(ascii: "\n"), UInt8(ascii: "\r"):
                        done = true
                    case doubleQuote:
                        inDoubleQuotes = true
                    case singleQuote:
                        inSingleQuotes = true
                    default:
                        // Copy the whole run of ordinary bytes at once (one append, not one per byte).
                        var runEnd = p + 1
                        while runEnd < end && !isUnquotedSpecial(line[runEnd]) { runEnd += 1 }
                        bytes.append(contentsOf: UnsafeRawBufferPointer(rebasing: line[p ..< runEnd]))
                        p = runEnd
                        continue
                    }
                    p += 1
                }
            }
            tokens.append(tokenStart ..< bytes.count)
        }
    }

    @usableFromInline static let backslash = UInt8(ascii: "\\")
    @usableFromInline static let doubleQuote = UInt8(ascii: "\"")
    @usableFromInline static let singleQuote = UInt8(ascii: "'")

    /// C's `isspace` in the "C" locale.
    @inlinable
    static func isCSpace(_ c: UInt8) -> Bool {
        c == 0x20 || (c >= 0x09 && c <= 0x0D)
    }

    /// Bytes that end or change an unquoted argument.
    @inlinable
    static func isUnquotedSpecial(_ c: UInt8) -> Bool {
        c == 0x20 || c == 0x09 || c == 0x0A || c == 0x0D || c == doubleQuote || c == singleQuote
    }

    @inlinable
    static func hexValue(_ c: UInt8) -> UInt8? {
        switch c {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return c - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): return c - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): return c - UInt8(ascii: "A") + 10
        default: return nil
        }
    }

    @inlinable
    static func unescape(_ c: UInt8) -> UInt8 {
        switch c {
        case UInt8(ascii: "n"): return 0x0A
        case UInt8(ascii: "r"): return 0x0D
        case UInt8(ascii: "t"): return 0x09
        case UInt8(ascii: "b"): return 0x08
        case UInt8(ascii: "a"): return 0x07
        default: return c
        }
    }
}
