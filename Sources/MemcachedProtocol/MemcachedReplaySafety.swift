/// Whether a memcached write may be sent again when it is not known whether the first attempt was
/// applied: `set`, `add`, `replace`, `cas` (replicated as a set), `delete`, `touch`, `md` and `ms` in
/// set/add/replace mode leave the same item; `incr`, `decr`, `append`, `prepend`, `ma` and `ms` in
/// append/prepend mode change it again.
///
/// Contract: takes a request frame as the proxy sends it to a backend; false for anything not known
/// to be idempotent, malformed frames included.
public enum MemcachedReplaySafety {
    public static func isSafeToRepeat(_ frame: UnsafeRawBufferPointer) -> Bool {
        var end = 0
        while end < frame.count, frame[end] != UInt8(ascii: " "), frame[end] != UInt8(ascii: "\r") { end += 1 }
        switch String(decoding: frame[0..<end], as: UTF8.self) {
        case "set", "add", "replace", "cas", "delete", "touch", "md", "flush_all":
            return true
        case "ms":
            return !metaSetAppends(frame, from: end)
        default:
            return false
        }
    }

    /// `ms` with mode flag `MA`/`Ma` (append) or `MP`/`Mp` (prepend), on its command line.
    private static func metaSetAppends(_ frame: UnsafeRawBufferPointer, from: Int) -> Bool {
        var i = from
        while i + 2 < frame.count, frame[i] != UInt8(ascii: "\r") {
            if frame[i] == UInt8(ascii: " "), frame[i + 1] == UInt8(ascii: "M") {
                let mode = frame[i + 2] | 0x20
                return mode == UInt8(ascii: "a") || mode == UInt8(ascii: "p")
            }
            i += 1
        }
        return false
    }
}
