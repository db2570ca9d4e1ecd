/// Whether a write may be sent to a server a second time when it is not known whether the first
/// attempt was applied (sent, then the connection failed before the reply): repeating `SET k v`,
/// `DEL k` or `HSET h f v` leaves the same data, repeating `INCR`, `APPEND` or `LPUSH` does not.
///
/// Contract: `isSafeToRepeat` takes a RESP request frame (`*N` multibulk, as the proxy sends to its
/// backends) and answers false for every command that is not known to be idempotent, unknown and
/// malformed ones included, so a doubt never becomes a double write. Writes the proxy rewrote for
/// replication are already idempotent in their rewritten form (relative expiry made absolute, SPOP
/// and `XADD *` replaced by their effect).
public enum ReplaySafety {
    public static func isSafeToRepeat(_ frame: UnsafeRawBufferPointer) -> Bool {
        if RequestBlock.isTransaction(frame) {
            // A transaction block repeats safely when every command in it does.
            guard let commands = RequestBlock.commands(frame) else { return false }
            return commands.dropFirst().dropLast().allSatisfy { isSafeToRepeat(UnsafeRawBufferPointer(rebasing: frame[$0])) }
        }
        guard let name = commandName(frame) else { return false }
        return !notIdempotent.contains(name) && CommandTable.builtin.lookup(name) != nil
    }

    /// Writes whose second application changes the data again (counters, appends, pushes, pops,
    /// scripts, messages), and the non-blocking reads that consume (XREADGROUP delivers entries).
    static let notIdempotent: Set<String> = [
        "incr", "incrby", "incrbyfloat", "decr", "decrby", "append", "hincrby", "hincrbyfloat", "zincrby",
        "lpush", "rpush", "lpushx", "rpushx", "linsert", "lrem", "lpop", "rpop", "rpoplpush", "lmove", "lmpop",
        "spop", "zpopmin", "zpopmax", "zmpop", "bitfield", "xadd", "xclaim", "xautoclaim", "xreadgroup",
        "eval", "evalsha", "eval_ro", "evalsha_ro", "fcall", "fcall_ro", "publish", "spublish",
    ]

    /// The lower-cased command name of a multibulk frame.
    static func commandName(_ frame: UnsafeRawBufferPointer) -> String? {
        // *<n>\r\n$<len>\r\n<name>\r\n
        guard frame.count > 4, frame[0] == UInt8(ascii: "*"), let firstLine = lineEnd(frame, from: 0),
              firstLine + 2 < frame.count, frame[firstLine + 2] == UInt8(ascii: "$"),
              let lenEnd = lineEnd(frame, from: firstLine + 2) else { return nil }
        var length = 0
        for i in (firstLine + 3)..<lenEnd {
            let d = Int(frame[i]) - 48
            guard (0...9).contains(d), length < 1 << 20 else { return nil }
            length = length * 10 + d
        }
        let start = lenEnd + 2
        guard start + length <= frame.count else { return nil }
        return String(decoding: frame[start..<(start + length)], as: UTF8.self).lowercased()
    }

    private static func lineEnd(_ bytes: UnsafeRawBufferPointer, from: Int) -> Int? {
        var i = from
        while i + 1 < bytes.count {
            if bytes[i] == 13 && bytes[i + 1] == 10 { return i }
            i += 1
        }
        return nil
    }
}
