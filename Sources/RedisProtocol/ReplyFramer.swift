/// What `ReplyFramer.frame` found at the start of its input.
public enum ReplyFrameResult: Equatable, Sendable {
    /// One whole reply of `length` bytes, including any RESP3 attribute (`|`) frames before the
    /// value. `type` is the first byte of the value itself (after the attributes), e.g.
    /// `RESPType.push` for an out-of-band push the caller must not match to a request.
    case reply(length: Int, type: UInt8)
    /// More bytes are needed; the reply is at least `atLeast` bytes long in total, never more than
    /// its real length, so the caller may wait for that many before calling again.
    case incomplete(atLeast: Int)
    /// The backend broke the protocol; the connection cannot be resynchronised.
    case invalid(String)
}

/// The first byte of each RESP2 and RESP3 value.
public enum RESPType {
    public static let simpleString: UInt8 = UInt8(ascii: "+")
    public static let error: UInt8 = UInt8(ascii: "-")
    public static let integer: UInt8 = UInt8(ascii: ":")
    public static let bulkString: UInt8 = UInt8(ascii: "$")
    public static let array: UInt8 = UInt8(ascii: "*")
    public static let null: UInt8 = UInt8(ascii: "_")
    public static let double: UInt8 = UInt8(ascii: ",")
    public static let boolean: UInt8 = UInt8(ascii: "#")
    public static let blobError: UInt8 = UInt8(ascii: "!")
    public static let verbatim: UInt8 = UInt8(ascii: "=")
    public static let bigNumber: UInt8 = UInt8(ascii: "(")
    public static let map: UInt8 = UInt8(ascii: "%")
    public static let set: UInt8 = UInt8(ascii: "~")
    public static let push: UInt8 = UInt8(ascii: ">")
    public static let attribute: UInt8 = UInt8(ascii: "|")
    /// Chunk of a streamed string (`$?`), ended by `;0`.
    public static let streamedChunk: UInt8 = UInt8(ascii: ";")
    /// End of a streamed aggregate (`*?`, `~?`, `%?`).
    public static let streamEnd: UInt8 = UInt8(ascii: ".")

    /// Whether a reply of this type is an error (`-` or `!`).
    @inlinable
    public static func isError(_ t: UInt8) -> Bool {
        t == error || t == blobError
    }
}

/// Frames one reply from a backend at the start of a buffer, in place, so the proxy can relay it
/// byte-exact.
///
/// Contract:
/// - Knows every RESP2 and RESP3 type: `+ - : $ * _ , # ! = ( % ~ > |`, the RESP2 nulls `$-1`
///   and `*-1`, and the RESP3 streamed string (`$?` then `;<len>` chunks ending with `;0`) and
///   streamed aggregates (`*?`, `~?`, `%?` ending with `.`). A map or attribute of n pairs holds
///   2n values; an attribute is followed by the value it annotates and the reply covers both.
/// - Checks only what framing needs: lengths and counts (strict decimal), the CRLF after bulk
///   data, `=` having its "xxx:" format prefix, depth, and `maxBulkBytes`. The text of scalar
///   lines is not validated; `RESPValue.parse` does that for the few replies the proxy reads.
/// - Iterative with a reusable explicit stack: no recursion, no heap allocation per call once
///   the stack has grown. Nesting deeper than `maxDepth` aggregates is invalid.
/// - Stateless between calls: each call starts again at the start of the input.
public struct ReplyFramer: Sendable {
    /// Deepest nesting of aggregates accepted; a lone scalar has depth 0.
    public let maxDepth: Int
    /// Largest bulk, verbatim, blob error or stream chunk accepted.
    public let maxBulkBytes: Int

    // Per open aggregate: how many values its parent still needed when it was opened, not
    // counting the aggregate itself (an attribute does count: a value still follows it).
    // Only `stack[0 ..< depth]` is live; the array is never shrunk, so it is written only when
    // an aggregate opens (an Array write costs a uniqueness check).
    @usableFromInline var stack: [Int] = []

    // `remaining` of a streamed aggregate: it ends at ".", not after a count.
    @usableFromInline static let streamed = -1

    public init(maxDepth: Int = 512, maxBulkBytes: Int = Int(Int32.max)) {
        self.maxDepth = maxDepth
        self.maxBulkBytes = maxBulkBytes
    }

    /// Frames the reply at the start of `input`. See the type's contract.
    public mutating func frame(_ input: UnsafeRawBufferPointer) -> ReplyFrameResult {
        let n = input.count
        var depth = 0
        var pos = 0
        // Values still needed at the current level, the current one included.
        var remaining = 1
        var valueType: UInt8 = 0

        while true {
            guard pos < n else { return .incomplete(atLeast: lowerBound(pos + 3, remaining, depth)) }
            let type = input[pos]
            if depth == 0 && type != RESPType.attribute { valueType = type }

            switch type {
            case RESPType.simpleString, RESPType.error, RESPType.integer, RESPType.null,
                 RESPType.double, RESPType.boolean, RESPType.bigNumber:
                guard let cr = RESPScan.findCRLF(input, from: pos + 1) else {
                    return .incomplete(atLeast: lowerBound(RESPScan.lineLowerBound(input, from: pos + 1), remaining, depth))
                }
                pos = cr + 2

            case RESPType.bulkString, RESPType.blobError, RESPType.verbatim:
                if type == RESPType.bulkString, pos + 1 < n, input[pos + 1] == UInt8(ascii: "?") {
                    switch streamedString(input, at: pos) {
                    case .reply(let end, _): pos = end
                    case .incomplete(let atLeast): return .incomplete(atLeast: lowerBound(atLeast, remaining, depth))
                    case .invalid(let why): return .invalid(why)
                    }
                    break
                }
                let length: Int, dataStart: Int
                switch RESPScan.decimalLine(input, from: pos + 1) {
                case .value(let v, let next): (length, dataStart) = (v, next)
                case .incomplete(let atLeast):
                    // Data and its CRLF follow, except after the RESP2 null "$-1".
                    let dataCRLF = type == RESPType.bulkString ? 0 : 2
                    return .incomplete(atLeast: lowerBound(atLeast + dataCRLF, remaining, depth))
                case .invalid: return .invalid("invalid bulk length at offset \(pos)")
                }
                if length == -1 && type == RESPType.bulkString {
                    pos = dataStart
                    break
                }
                guard length >= 0, length <= maxBulkBytes else {
                    return .invalid("bulk length \(length) out of range at offset \(pos)")
                }
                if type == RESPType.verbatim, length < 4 || (n > dataStart + 3 && input[dataStart + 3] != UInt8(ascii: ":")) {
                    return .invalid("verbatim string without its format prefix at offset \(pos)")
                }
                switch Self.bulkEnd(input, dataStart: dataStart, length: length) {
                case .value(let end): pos = end
                case .incomplete(let atLeast): return .incomplete(atLeast: lowerBound(atLeast, remaining, depth))
                case .invalid: return .invalid("missing CRLF after bulk data at offset \(dataStart + length)")
                }

            case RESPType.array, RESPType.set, RESPType.map, RESPType.push, RESPType.attribute:
                if type != RESPType.push, type != RESPType.attribute, pos + 1 < n, input[pos + 1] == UInt8(ascii: "?") {
                    guard n >= pos + 4 else { return .incomplete(atLeast: lowerBound(pos + 4 + 3, remaining, depth)) }
                    guard input[pos + 2] == RESPScan.cr, input[pos + 3] == RESPScan.lf else {
                        return .invalid("invalid streamed aggregate header at offset \(pos)")
                    }
                    guard depth < maxDepth else { return .invalid("nesting deeper than \(maxDepth) at offset \(pos)") }
                    push(remaining == Self.streamed ? Self.streamed : remaining - 1, depth: &depth)
                    remaining = Self.streamed
                    pos += 4
                    continue
                }
                let headerStart = pos
                let count: Int, next: Int
                switch RESPScan.decimalLine(input, from: pos + 1) {
                case .value(let v, let after): (count, next) = (v, after)
                case .incomplete(let atLeast): return .incomplete(atLeast: lowerBound(atLeast, remaining, depth))
                case .invalid: return .invalid("invalid aggregate length at offset \(pos)")
                }
                if count == -1 && type == RESPType.array {
                    pos = next
                    break
                }
                let pairs = type == RESPType.map || type == RESPType.attribute
                guard count >= 0, !pairs || count <= Int.max / 2 else {
                    return .invalid("aggregate length \(count) out of range at offset \(pos)")
                }
                pos = next
                let elements = pairs ? count * 2 : count
                if elements == 0 {
                    if type == RESPType.attribute { continue }
                    break
                }
                guard depth < maxDepth else { return .invalid("nesting deeper than \(maxDepth) at offset \(headerStart)") }
                if type == RESPType.attribute {
                    push(remaining, depth: &depth)
                } else {
                    push(remaining == Self.streamed ? Self.streamed : remaining - 1, depth: &depth)
                }
                remaining = elements
                continue

            case RESPType.streamEnd:
                guard remaining == Self.streamed else {
                    return .invalid("unexpected byte \(RESPScan.hexByte(type)) at offset \(pos)")
                }
                if n > pos + 1, input[pos + 1] != RESPScan.cr || (n > pos + 2 && input[pos + 2] != RESPScan.lf) {
                    return .invalid("invalid stream end at offset \(pos)")
                }
                guard n >= pos + 3 else { return .incomplete(atLeast: lowerBound(pos + 3, remaining, depth)) }
                pos += 3
                // Closes the streamed aggregate: the decrement below takes this to 0 and pops.
                remaining = 1

            default:
                return .invalid("unexpected byte \(RESPScan.hexByte(type)) at offset \(pos)")
            }

            // A value ended at `pos`; close every aggregate it completes.
            if remaining != Self.streamed { remaining -= 1 }
            while remaining == 0 {
                if depth == 0 { return .reply(length: pos, type: valueType) }
                depth -= 1
                remaining = stack[depth]
            }
        }
    }

    /// The least total length of the reply, given that the current token ends at or after
    /// `tokenEnd` and every value still owed (3 bytes at least, e.g. "_\r\n") follows it.
    @usableFromInline
    func lowerBound(_ tokenEnd: Int, _ remaining: Int, _ depth: Int) -> Int {
        var owed = remaining > 1 ? remaining - 1 : 0
        for parent in stack[0 ..< depth] where parent > 0 {
            owed = RESPScan.saturatingAdd(owed, parent)
        }
        return RESPScan.saturatingAdd(tokenEnd, RESPScan.saturatingMultiply(owed, 3))
    }

    @inline(__always)
    mutating func push(_ parentRemaining: Int, depth: inout Int) {
        if depth == stack.count {
            stack.append(parentRemaining)
        } else {
            stack[depth] = parentRemaining
        }
        depth += 1
    }

    // Trivial (no String payload), so the hot path never retains or releases anything.
    @usableFromInline
    enum Scan: Equatable {
        case value(end: Int)
        case incomplete(atLeast: Int)
        case invalid
    }

    /// Checks the CRLF after `length` bytes of data at `dataStart`, as far as the bytes are here.
    @usableFromInline @inline(__always)
    static func bulkEnd(_ input: UnsafeRawBufferPointer, dataStart: Int, length: Int) -> Scan {
        // Differences, not sums, so that no declared length can overflow.
        let pastData = input.count - dataStart - length
        if pastData > 0 {
            guard input[dataStart + length] == RESPScan.cr else { return .invalid }
            if pastData > 1 {
                guard input[dataStart + length + 1] == RESPScan.lf else { return .invalid }
                return .value(end: dataStart + length + 2)
            }
        }
        return .incomplete(atLeast: RESPScan.saturatingAdd(dataStart, RESPScan.saturatingAdd(length, 2)))
    }

    /// A RESP3 streamed string at `start`: "$?\r\n", then ";<len>\r\n<data>\r\n" chunks, then ";0\r\n".
    /// `.reply(length:)` here is the offset where the string ends.
    @usableFromInline
    func streamedString(_ input: UnsafeRawBufferPointer, at start: Int) -> ReplyFrameResult {
        let n = input.count
        guard n >= start + 4 else { return .incomplete(atLeast: start + 4 + 4) }
        guard input[start + 2] == RESPScan.cr, input[start + 3] == RESPScan.lf else {
            return .invalid("invalid streamed string header at offset \(start)")
        }
        var pos = start + 4
        while true {
            guard pos < n else { return .incomplete(atLeast: pos + 4) }
            guard input[pos] == RESPType.streamedChunk else {
                return .invalid("expected ';' in streamed string at offset \(pos)")
            }
            let length: Int, dataStart: Int
            switch RESPScan.decimalLine(input, from: pos + 1) {
            case .value(let v, let next): (length, dataStart) = (v, next)
            case .incomplete(let atLeast): return .incomplete(atLeast: atLeast)
            case .invalid: return .invalid("invalid chunk length at offset \(pos)")
            }
            guard length >= 0, length <= maxBulkBytes else {
                return .invalid("chunk length \(length) out of range at offset \(pos)")
            }
            if length == 0 { return .reply(length: dataStart, type: RESPType.bulkString) }
            switch Self.bulkEnd(input, dataStart: dataStart, length: length) {
            case .value(let end): pos = end
            case .incomplete(let atLeast): return .incomplete(atLeast: RESPScan.saturatingAdd(atLeast, 4))
            case .invalid: return .invalid("missing CRLF after chunk data at offset \(dataStart + length)")
            }
        }
    }
}
