/// Whether two memcached replies to the same read say the same about the data: the same items with
/// the same values and client flags, whatever their cas uniques or access times. Used by read
/// verification, where two clusters hold the same item under different cas values.
///
/// Contract: both arguments are whole replies to one retrieval (`get`, `gets`, `gat`, `gats`, `mg`).
/// `VALUE` lines are compared without their cas field; meta return lines (`VA`, `HD`, `EN` ...)
/// without the flags that differ between copies of one item (`c` cas, `t` remaining ttl, `h` hit
/// before, `l` last access). Values are compared byte for byte. A reply that does not parse is
/// compared byte for byte.
public enum MemcachedReplyEquivalence {
    public static func same(_ a: UnsafeRawBufferPointer, _ b: UnsafeRawBufferPointer) -> Bool {
        guard let x = normalized(a), let y = normalized(b) else { return a.elementsEqual(b) }
        return x == y
    }

    /// The reply with the per-copy fields removed, or nil when it does not parse.
    static func normalized(_ reply: UnsafeRawBufferPointer) -> [UInt8]? {
        var out: [UInt8] = []
        var at = 0
        while at < reply.count {
            guard let end = lineEnd(reply, from: at) else { return nil }
            let line = at..<end
            let tokens = split(reply, line)
            at = end + 2
            guard let first = tokens.first else { return nil }
            let word = Array(reply[first])
            var data = -1
            if word == Array("VALUE".utf8) {
                // VALUE <key> <flags> <bytes> [<cas>]
                guard tokens.count >= 4, let n = decimal(reply, tokens[3]) else { return nil }
                for t in tokens.prefix(4) { append(reply, t, to: &out) }
                data = n
            } else if word.count == 2, word[0] >= UInt8(ascii: "A"), word[0] <= UInt8(ascii: "Z") {
                // Meta return line: the code, then flags minus the per-copy ones.
                append(reply, first, to: &out)
                var rest = tokens.dropFirst()
                if word == Array("VA".utf8) {
                    guard let size = rest.first, let n = decimal(reply, size) else { return nil }
                    append(reply, size, to: &out)
                    rest = rest.dropFirst()
                    data = n
                }
                for t in rest where !perCopy.contains(reply[t.lowerBound]) { append(reply, t, to: &out) }
            } else {
                out.append(contentsOf: reply[line])
            }
            out.append(UInt8(ascii: "\n"))
            if data >= 0 {
                guard at + data + 2 <= reply.count else { return nil }
                out.append(contentsOf: reply[at..<(at + data)])
                out.append(UInt8(ascii: "\n"))
                at += data + 2
            }
        }
        return out
    }

    private static let perCopy: [UInt8] = [UInt8(ascii: "c"), UInt8(ascii: "t"), UInt8(ascii: "h"), UInt8(ascii: "l")]

    /// Index of the `\r` of the first CRLF at or after `from`.
    private static func lineEnd(_ bytes: UnsafeRawBufferPointer, from: Int) -> Int? {
        var at = from
        while let cr = MemcachedScan.firstIndex(of: 13, in: bytes, from: at, to: bytes.count) {
            if cr + 1 < bytes.count && bytes[cr + 1] == 10 { return cr }
            at = cr + 1
        }
        return nil
    }

    private static func split(_ bytes: UnsafeRawBufferPointer, _ range: Range<Int>) -> [Range<Int>] {
        var tokens: [Range<Int>] = []
        var start = -1
        for i in range {
            if bytes[i] == UInt8(ascii: " ") {
                if start >= 0 { tokens.append(start..<i) }
                start = -1
            } else if start < 0 {
                start = i
            }
        }
        if start >= 0 { tokens.append(start..<range.upperBound) }
        return tokens
    }

    private static func decimal(_ bytes: UnsafeRawBufferPointer, _ range: Range<Int>) -> Int? {
        guard !range.isEmpty, range.count < 12 else { return nil }
        var n = 0
        for i in range {
            let d = Int(bytes[i]) - 48
            guard (0...9).contains(d) else { return nil }
            n = n * 10 + d
        }
        return n
    }

    private static func append(_ bytes: UnsafeRawBufferPointer, _ range: Range<Int>, to out: inout [UInt8]) {
        out.append(contentsOf: bytes[range])
        out.append(UInt8(ascii: " "))
    }
}
