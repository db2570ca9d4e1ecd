/// Reads the top level of one complete reply in place, for `RESPMerge`: where its value starts
/// past any attributes, and the elements of an array or set. Framing is `ReplyFramer`'s, so an
/// element may be anything the framer knows: nested aggregates, maps of 2n values, attributes
/// before a value, streamed strings and aggregates, the RESP2 nulls `$-1` and `*-1`.
///
/// Contract:
/// - `value` accepts a buffer only when it is exactly one complete reply (no byte missing, none
///   left over) and not an out-of-band push. The other methods expect a buffer `value` accepted
///   and offsets it or `list` returned; they still return nil rather than trap on anything else.
/// - An element's range covers the attributes before it, so copying the range keeps them.
/// - Reuses one framer (and so its stack) across calls; allocates only to grow `ranges`.
struct RESPReplyScan {
    private var framer = ReplyFramer()

    /// An array or set at the top of a reply: its type, how many elements it has, and the bytes
    /// they span (the header and a streamed aggregate's ".\r\n" left out).
    struct List {
        var type: UInt8
        var count: Int
        var elements: Range<Int>
    }

    /// The type of the value `reply` holds and the offset where that value starts, past any
    /// top-level attributes; nil unless `reply` is exactly one complete reply other than a push.
    mutating func value(_ reply: UnsafeRawBufferPointer) -> (type: UInt8, start: Int)? {
        guard case .reply(let length, let type) = framer.frame(reply), length == reply.count,
              type != RESPType.push else { return nil }
        var pos = 0
        while reply[pos] == RESPType.attribute {
            guard case .value(let pairs, let next) = RESPScan.decimalLine(reply, from: pos + 1), pairs >= 0 else { return nil }
            pos = next
            // The framer checked the whole reply, so `pairs` is bounded by its length.
            for _ in 0 ..< pairs * 2 {
                guard let end = element(reply, at: pos) else { return nil }
                pos = end
            }
            guard pos < reply.count else { return nil }
        }
        return (type, pos)
    }

    /// The end of the value (with the attributes before it) that starts at `start`.
    mutating func element(_ reply: UnsafeRawBufferPointer, at start: Int) -> Int? {
        guard start >= 0, start < reply.count,
              case .reply(let length, _) = framer.frame(UnsafeRawBufferPointer(rebasing: reply[start...]))
        else { return nil }
        return start + length
    }

    /// The array (`*<n>`, `*?`, `*-1`) or set (`~<n>`, `~?`) that starts at `start` and ends at
    /// the end of `reply`; nil for any other value. A null array has no elements.
    mutating func list(_ reply: UnsafeRawBufferPointer, at start: Int) -> List? {
        let n = reply.count
        guard start >= 0, n - start >= 3 else { return nil }
        let type = reply[start]
        guard type == RESPType.array || type == RESPType.set else { return nil }
        if reply[start + 1] == UInt8(ascii: "?") {
            // Streamed: the count is only known by framing each element up to the ".".
            var pos = start + 4
            var count = 0
            while pos < n, reply[pos] != RESPType.streamEnd {
                guard let end = element(reply, at: pos) else { return nil }
                pos = end
                count += 1
            }
            guard n - pos == 3 else { return nil }
            return List(type: type, count: count, elements: start + 4 ..< pos)
        }
        guard case .value(let count, let next) = RESPScan.decimalLine(reply, from: start + 1) else { return nil }
        if count == -1 {
            guard type == RESPType.array, next == n else { return nil }
            return List(type: type, count: 0, elements: n ..< n)
        }
        guard count >= 0, next <= n else { return nil }
        return List(type: type, count: count, elements: next ..< n)
    }

    /// Appends the range of each element of `list` (which `list(_:at:)` returned for `reply`) to
    /// `ranges`; false when they do not fill its span exactly.
    mutating func elements(_ reply: UnsafeRawBufferPointer, of list: List, into ranges: inout [Range<Int>]) -> Bool {
        var pos = list.elements.lowerBound
        while pos < list.elements.upperBound {
            guard let end = element(reply, at: pos), end <= list.elements.upperBound else { return false }
            ranges.append(pos ..< end)
            pos = end
        }
        return true
    }

    /// The value of the integer reply (`:`) at `start`, or nil when it is not one or its text is
    /// not a strict decimal that fits an Int.
    static func integer(_ reply: UnsafeRawBufferPointer, at start: Int) -> Int? {
        guard start >= 0, start < reply.count, reply[start] == RESPType.integer,
              let cr = RESPScan.findCRLF(reply, from: start + 1) else { return nil }
        return RESPScan.parseDecimal(reply, from: start + 1, to: cr)
    }
}
