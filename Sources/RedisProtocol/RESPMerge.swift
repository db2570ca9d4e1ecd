/// Merges the replies to the sub-commands a multi-key command was split into (one per server
/// group) back into the one reply a single server would have sent. Pure: bytes in, bytes out.
///
/// Contract:
/// - `parts[i]` is the reply to sub-command i: exactly one complete RESP2 or RESP3 reply as
///   `ReplyFramer` frames it. A part that is not (truncated, trailing bytes, garbage, an
///   out-of-band push) makes the merge return false, whatever the other parts hold.
/// - Otherwise an error part (`-`, or RESP3 `!`, possibly after attributes) wins: the first one
///   is appended verbatim, as the client must see the failure and one server's error is what a
///   single server would have sent.
/// - Otherwise the merged reply is appended to `out`. Whenever a merge returns false, `out` is
///   left exactly as it was.
/// - Elements are copied byte-exact, whatever they hold (nested aggregates, maps, attributes
///   before a value, streamed strings, nulls). Attributes before a part's top-level aggregate
///   are dropped, as the merged aggregate is a new one; a streamed top-level aggregate (`*?`) is
///   accepted and the merged one is written with a count.
/// - Never traps on hostile bytes; allocates a little per call (element ranges), never per byte.
public enum RESPMerge {
    /// MGET: part i answered an array for the keys at client positions `positions[i]` (each
    /// part's array has `positions[i].count` elements, in that order). Appends one array of
    /// `count` elements, the element for position p taken from whichever part holds p, of the
    /// first part's aggregate type (`*`, or `~` when a RESP3 part answered with a set).
    ///
    /// Returns false (appending nothing) when a part is malformed or not an array or set, has
    /// the wrong element count, or when `positions` does not cover `0 ..< count` exactly once.
    public static func byPosition(_ parts: [[UInt8]], positions: [[Int]], count: Int, into out: inout [UInt8]) -> Bool {
        guard parts.count == positions.count, count >= 0 else { return false }
        var scan = RESPReplyScan()
        guard let values = frameAll(parts, &scan) else { return false }
        if let error = firstError(values) {
            out.append(contentsOf: parts[error])
            return true
        }
        // For each client position: which part answers it, and the element's bytes there.
        var owner = [Int](repeating: -1, count: count)
        var slot = [Range<Int>](repeating: 0 ..< 0, count: count)
        var type = RESPType.array
        var ranges: [Range<Int>] = []
        for i in parts.indices {
            let wanted = positions[i]
            let ok = parts[i].withUnsafeBytes { raw -> Bool in
                guard let list = scan.list(raw, at: values[i].start), list.count == wanted.count else { return false }
                if i == 0 { type = list.type }
                ranges.removeAll(keepingCapacity: true)
                guard scan.elements(raw, of: list, into: &ranges), ranges.count == wanted.count else { return false }
                for (k, p) in wanted.enumerated() {
                    guard p >= 0, p < count, owner[p] == -1 else { return false }
                    owner[p] = i
                    slot[p] = ranges[k]
                }
                return true
            }
            guard ok else { return false }
        }
        guard !owner.contains(-1) else { return false }
        appendHeader(type, count, into: &out)
        for p in 0 ..< count {
            out.append(contentsOf: parts[owner[p]][slot[p]])
        }
        return true
    }

    /// DEL, UNLINK, EXISTS, TOUCH, DBSIZE: appends the sum of the parts' integer replies (`:`)
    /// as `:<sum>\r\n` (`:0\r\n` for no parts). Returns false when a part is malformed or
    /// neither an integer nor an error, or when the sum overflows an Int.
    public static func sum(_ parts: [[UInt8]], into out: inout [UInt8]) -> Bool {
        var scan = RESPReplyScan()
        guard let values = frameAll(parts, &scan) else { return false }
        if let error = firstError(values) {
            out.append(contentsOf: parts[error])
            return true
        }
        var total = 0
        for i in parts.indices {
            guard let v = parts[i].withUnsafeBytes({ RESPReplyScan.integer($0, at: values[i].start) }) else { return false }
            let (next, overflow) = total.addingReportingOverflow(v)
            guard !overflow else { return false }
            total = next
        }
        RESPEncoder.integer(total, into: &out)
        return true
    }

    /// MSET, FLUSHALL, FLUSHDB, SCRIPT FLUSH and the like: appends the first error part if any,
    /// else the first part (which, when all agree, is the reply they all gave, e.g. `+OK`).
    /// Returns false when a part is malformed or there are no parts.
    public static func agreed(_ parts: [[UInt8]], into out: inout [UInt8]) -> Bool {
        var scan = RESPReplyScan()
        guard !parts.isEmpty, let values = frameAll(parts, &scan) else { return false }
        out.append(contentsOf: parts[firstError(values) ?? 0])
        return true
    }

    /// KEYS: appends one aggregate holding every part's elements in part order, of the first
    /// part's type (RESP2 `*`, RESP3 `*` or `~`); a null array counts as empty, no parts give
    /// `*0\r\n`. Returns false when a part is malformed or not an array or set.
    public static func concatenate(_ parts: [[UInt8]], into out: inout [UInt8]) -> Bool {
        var scan = RESPReplyScan()
        guard let values = frameAll(parts, &scan) else { return false }
        if let error = firstError(values) {
            out.append(contentsOf: parts[error])
            return true
        }
        var lists: [RESPReplyScan.List] = []
        lists.reserveCapacity(parts.count)
        var total = 0
        for i in parts.indices {
            guard let list = parts[i].withUnsafeBytes({ scan.list($0, at: values[i].start) }) else { return false }
            let (next, overflow) = total.addingReportingOverflow(list.count)
            guard !overflow else { return false }
            total = next
            lists.append(list)
        }
        appendHeader(lists.first?.type ?? RESPType.array, total, into: &out)
        for i in parts.indices where !lists[i].elements.isEmpty {
            out.append(contentsOf: parts[i][lists[i].elements])
        }
        return true
    }

    /// A SCAN reply, `*2` then the cursor as a bulk string then the array of keys: the cursor's
    /// value and the bytes of the keys array (its header included) within `reply`. nil when
    /// `reply` is not exactly one complete reply of that shape, or the cursor is not 1 to 20
    /// decimal digits fitting a UInt64. Attributes before the `*2` are skipped.
    public static func scanReply(_ reply: UnsafeRawBufferPointer) -> (cursor: UInt64, keys: Range<Int>)? {
        var scan = RESPReplyScan()
        let n = reply.count
        guard let value = scan.value(reply), value.type == RESPType.array,
              case .value(let elements, let cursorStart) = RESPScan.decimalLine(reply, from: value.start + 1),
              elements == 2, cursorStart < n, reply[cursorStart] == RESPType.bulkString,
              case .value(let length, let digitsStart) = RESPScan.decimalLine(reply, from: cursorStart + 1),
              length >= 1, length <= 20, n - digitsStart >= length + 4
        else { return nil }
        var cursor: UInt64 = 0
        for i in digitsStart ..< digitsStart + length {
            let digit = reply[i] &- RESPScan.zero
            guard digit <= 9 else { return nil }
            let (times10, o1) = cursor.multipliedReportingOverflow(by: 10)
            let (next, o2) = times10.addingReportingOverflow(UInt64(digit))
            guard !o1, !o2 else { return nil }
            cursor = next
        }
        let keysStart = digitsStart + length + 2
        // The framer checked the whole reply, so the keys value runs to its end; only its type
        // is left to check (and that it is not the null array).
        guard reply[keysStart] == RESPType.array, reply[keysStart + 1] != RESPScan.minus else { return nil }
        return (cursor, keysStart ..< n)
    }

    /// Appends a SCAN reply: `*2`, `cursor` as a bulk string, then `keys` (a whole array reply,
    /// e.g. the range `scanReply(_:)` found, or a `concatenate` of several) as is.
    public static func scanReply(cursor: UInt64, keys: UnsafeRawBufferPointer, into out: inout [UInt8]) {
        RESPEncoder.arrayHeader(2, into: &out)
        // 20 digits hold UInt64.max; produced backwards into a stack buffer.
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 20) { digits in
            var i = 20
            var v = cursor
            repeat {
                i -= 1
                digits[i] = RESPScan.zero &+ UInt8(truncatingIfNeeded: v % 10)
                v /= 10
            } while v > 0
            out.append(RESPType.bulkString)
            RESPEncoder.appendDecimal(20 - i, into: &out)
            RESPEncoder.appendCRLF(into: &out)
            out.append(contentsOf: UnsafeBufferPointer(rebasing: digits[i ..< 20]))
            RESPEncoder.appendCRLF(into: &out)
        }
        out.append(contentsOf: keys)
    }

    /// Each part's value type and start (past its attributes), or nil when some part is not
    /// exactly one complete reply.
    private static func frameAll(_ parts: [[UInt8]], _ scan: inout RESPReplyScan) -> [(type: UInt8, start: Int)]? {
        var values: [(type: UInt8, start: Int)] = []
        values.reserveCapacity(parts.count)
        for part in parts {
            guard let value = part.withUnsafeBytes({ scan.value($0) }) else { return nil }
            values.append(value)
        }
        return values
    }

    /// The index of the first error part.
    private static func firstError(_ values: [(type: UInt8, start: Int)]) -> Int? {
        values.firstIndex { RESPType.isError($0.type) }
    }

    /// `<type><count>\r\n`
    private static func appendHeader(_ type: UInt8, _ count: Int, into out: inout [UInt8]) {
        out.append(type)
        RESPEncoder.appendDecimal(count, into: &out)
        RESPEncoder.appendCRLF(into: &out)
    }
}
