/// A frame the proxy sends to a backend as one request although it holds several commands: a
/// transaction block, `MULTI`, the queued commands, `EXEC`, written back to back so no other
/// client's command can come between them on a shared connection. Every other frame is one command.
///
/// Contract: frames are RESP2 multibulk requests as the proxy encodes them. `replyCount` is 1 for a
/// frame that does not start with `MULTI` (checked in a few byte comparisons, so it may run for
/// every request); for a block it is the number of commands in it, each of which the server answers.
public enum RequestBlock {
    private static let multi: StaticString = "*1\r\n$5\r\nmulti\r\n"

    /// Whether `frame` starts with a `MULTI` command (any case).
    @inline(__always)
    public static func isTransaction(_ frame: UnsafeRawBufferPointer) -> Bool {
        let prefix = multi.utf8Start
        let n = multi.utf8CodeUnitCount
        guard frame.count > n, frame[1] == UInt8(ascii: "1"), frame[5] == UInt8(ascii: "5") else { return false }
        for i in 0..<n {
            var b = frame[i]
            if b &- UInt8(ascii: "A") < 26 { b |= 0x20 }
            if b != prefix[i] { return false }
        }
        return true
    }

    /// How many replies the server sends for `frame`.
    @inline(__always)
    public static func replyCount(_ frame: UnsafeRawBufferPointer) -> Int {
        guard isTransaction(frame) else { return 1 }
        return commands(frame)?.count ?? 1
    }

    /// The byte ranges of the commands in `frame`, in order; nil when it is not a sequence of whole
    /// multibulk requests.
    public static func commands(_ frame: UnsafeRawBufferPointer) -> [Range<Int>]? {
        var ranges: [Range<Int>] = []
        var i = 0
        while i < frame.count {
            let start = i
            guard frame[i] == UInt8(ascii: "*"), let (argc, next) = number(frame, i + 1) else { return nil }
            i = next
            for _ in 0..<argc {
                guard i < frame.count, frame[i] == UInt8(ascii: "$"), let (length, next) = number(frame, i + 1),
                      next + length + 2 <= frame.count else { return nil }
                i = next + length + 2
            }
            ranges.append(start..<i)
        }
        return ranges
    }

    /// The decimal at `from`, up to its CRLF, and the index after the CRLF.
    private static func number(_ bytes: UnsafeRawBufferPointer, _ from: Int) -> (Int, Int)? {
        var i = from
        var value = 0
        while i < bytes.count, bytes[i] != 13 {
            let d = Int(bytes[i]) &- 48
            guard d >= 0, d <= 9, value < 1 << 40 else { return nil }
            value = value * 10 + d
            i += 1
        }
        guard i > from, i + 1 < bytes.count, bytes[i + 1] == 10 else { return nil }
        return (value, i + 2)
    }
}
