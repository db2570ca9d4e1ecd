/// One key and its value in a RESP3 map or attribute. (A struct rather than a tuple so that
/// `RESPValue` can be `Equatable`.)
public struct RESPValuePair: Equatable, Sendable {
    public var key: RESPValue
    public var value: RESPValue

    public init(_ key: RESPValue, _ value: RESPValue) {
        self.key = key
        self.value = value
    }
}

/// A decoded reply, for tests and for the few replies the proxy must read itself (`HELLO`,
/// `INFO`, probes). Allocates freely: the hot path relays bytes framed by `ReplyFramer` instead.
///
/// RESP2 nulls stay distinct: `$-1` is `.bulk(nil)`, `*-1` is `.array(nil)`, RESP3 `_` is
/// `.null`. Simple strings, errors, doubles and big numbers keep their text as sent (decoded as
/// UTF-8, invalid sequences repaired), so a double round-trips exactly.
public indirect enum RESPValue: Equatable, Sendable {
    case simpleString(String)
    case error(String)
    case integer(Int)
    case bulk([UInt8]?)
    case array([RESPValue]?)
    case null
    case double(String)
    case boolean(Bool)
    case blobError([UInt8])
    /// `format` is the three-byte type, e.g. "txt" or "mkd".
    case verbatim(format: String, [UInt8])
    case bigNumber(String)
    case map([RESPValuePair])
    case set([RESPValue])
    case push([RESPValue])
    /// RESP3 attributes (`|`) and the value they annotate.
    case attribute([RESPValuePair], RESPValue)
}

/// Why `RESPValue.parse` could not decode a value.
public enum RESPValueParseError: Error, Equatable, Sendable {
    /// The value is not complete yet; it is at least this many bytes long.
    case incomplete(atLeast: Int)
    case invalid(String)
}

public extension RESPValue {
    /// Decodes the first value in `bytes` and returns it with the number of bytes it took.
    /// Framing (and its limits: depth 512, bulks up to 2 GiB) is `ReplyFramer`'s; this adds
    /// checks on the contents of scalars (integers, booleans, nulls, big numbers).
    static func parse(_ bytes: [UInt8]) throws(RESPValueParseError) -> (RESPValue, Int) {
        let result = bytes.withUnsafeBytes { raw in Result { () throws(RESPValueParseError) in try parse(raw) } }
        return try result.get()
    }

    /// `parse` over raw bytes, for reading a reply in place.
    static func parse(_ raw: UnsafeRawBufferPointer) throws(RESPValueParseError) -> (RESPValue, Int) {
        var framer = ReplyFramer()
        switch framer.frame(raw) {
        case .incomplete(let atLeast): throw .incomplete(atLeast: atLeast)
        case .invalid(let why): throw .invalid(why)
        case .reply(let length, _):
            var decoder = RESPDecoder(bytes: UnsafeRawBufferPointer(rebasing: raw[0 ..< length]))
            let value = try decoder.value()
            return (value, length)
        }
    }

    /// This value in RESP. Strings in simple strings and errors must not contain CR or LF.
    func encode(into out: inout [UInt8]) {
        func line(_ type: UInt8, _ text: some Collection<UInt8>) {
            out.append(type)
            out.append(contentsOf: text)
            RESPEncoder.appendCRLF(into: &out)
        }
        func header(_ type: UInt8, _ count: Int) {
            out.append(type)
            RESPEncoder.appendDecimal(count, into: &out)
            RESPEncoder.appendCRLF(into: &out)
        }
        switch self {
        case .simpleString(let s): line(RESPType.simpleString, s.utf8)
        case .error(let s): line(RESPType.error, s.utf8)
        case .integer(let v): RESPEncoder.integer(v, into: &out)
        case .bulk(nil): header(RESPType.bulkString, -1)
        case .bulk(let bytes?): RESPEncoder.bulk(bytes, into: &out)
        case .array(nil): header(RESPType.array, -1)
        case .array(let values?):
            header(RESPType.array, values.count)
            for v in values { v.encode(into: &out) }
        case .null: line(RESPType.null, EmptyCollection())
        case .double(let text): line(RESPType.double, text.utf8)
        case .boolean(let b): line(RESPType.boolean, CollectionOfOne(b ? UInt8(ascii: "t") : UInt8(ascii: "f")))
        case .blobError(let bytes):
            header(RESPType.blobError, bytes.count)
            out.append(contentsOf: bytes)
            RESPEncoder.appendCRLF(into: &out)
        case .verbatim(let format, let bytes):
            header(RESPType.verbatim, format.utf8.count + 1 + bytes.count)
            out.append(contentsOf: format.utf8)
            out.append(UInt8(ascii: ":"))
            out.append(contentsOf: bytes)
            RESPEncoder.appendCRLF(into: &out)
        case .bigNumber(let text): line(RESPType.bigNumber, text.utf8)
        case .map(let pairs):
            header(RESPType.map, pairs.count)
            for p in pairs { p.key.encode(into: &out); p.value.encode(into: &out) }
        case .set(let values):
            header(RESPType.set, values.count)
            for v in values { v.encode(into: &out) }
        case .push(let values):
            header(RESPType.push, values.count)
            for v in values { v.encode(into: &out) }
        case .attribute(let pairs, let value):
            header(RESPType.attribute, pairs.count)
            for p in pairs { p.key.encode(into: &out); p.value.encode(into: &out) }
            value.encode(into: &out)
        }
    }

    /// This value in RESP, as a new array.
    var encoded: [UInt8] {
        var out: [UInt8] = []
        encode(into: &out)
        return out
    }
}

/// Decodes one value already framed (and so known complete and well nested) by `ReplyFramer`.
/// Recursive, which is safe because the framer bounded the depth.
struct RESPDecoder {
    let bytes: UnsafeRawBufferPointer
    var pos = 0

    init(bytes: UnsafeRawBufferPointer) {
        self.bytes = bytes
    }

    mutating func value() throws(RESPValueParseError) -> RESPValue {
        let start = pos
        let type = bytes[pos]
        switch type {
        case RESPType.simpleString: return .simpleString(text(try line()))
        case RESPType.error: return .error(text(try line()))
        case RESPType.integer: return .integer(try number(try line(), at: start))
        case RESPType.null:
            guard try line().isEmpty else { throw .invalid("null with content at offset \(start)") }
            return .null
        case RESPType.double:
            let content = try line()
            guard !content.isEmpty else { throw .invalid("empty double at offset \(start)") }
            return .double(text(content))
        case RESPType.boolean:
            let content = try line()
            guard content.count == 1, bytes[content.lowerBound] == UInt8(ascii: "t") || bytes[content.lowerBound] == UInt8(ascii: "f")
            else { throw .invalid("invalid boolean at offset \(start)") }
            return .boolean(bytes[content.lowerBound] == UInt8(ascii: "t"))
        case RESPType.bigNumber:
            let content = try line()
            var digits = content
            if let first = digits.first, bytes[first] == RESPScan.minus { digits = digits.dropFirst() }
            guard !digits.isEmpty, digits.allSatisfy({ bytes[$0] &- RESPScan.zero <= 9 }) else {
                throw .invalid("invalid big number at offset \(start)")
            }
            return .bigNumber(text(content))
        case RESPType.bulkString:
            if bytes[pos + 1] == UInt8(ascii: "?") {
                pos += 4
                var data: [UInt8] = []
                while true {
                    let length = try number(try line(), at: pos)
                    if length == 0 { return .bulk(data) }
                    data.append(contentsOf: bytes[pos ..< pos + length])
                    pos += length + 2
                }
            }
            let length = try number(try line(), at: start)
            if length == -1 { return .bulk(nil) }
            return .bulk(blob(length))
        case RESPType.blobError:
            return .blobError(blob(try number(try line(), at: start)))
        case RESPType.verbatim:
            let all = blob(try number(try line(), at: start))
            return .verbatim(format: String(decoding: all[0 ..< 3], as: UTF8.self), Array(all[4...]))
        case RESPType.array, RESPType.set, RESPType.push, RESPType.map:
            var values: [RESPValue] = []
            if bytes[pos + 1] == UInt8(ascii: "?") {
                pos += 4
                while bytes[pos] != RESPType.streamEnd { values.append(try value()) }
                pos += 3
            } else {
                let count = try number(try line(), at: start)
                if count == -1 { return .array(nil) }
                let elements = type == RESPType.map ? count * 2 : count
                values.reserveCapacity(elements)
                for _ in 0 ..< elements { values.append(try value()) }
            }
            switch type {
            case RESPType.array: return .array(values)
            case RESPType.set: return .set(values)
            case RESPType.push: return .push(values)
            default: return .map(try Self.pairs(values, at: start))
            }
        case RESPType.attribute:
            let count = try number(try line(), at: start)
            var values: [RESPValue] = []
            for _ in 0 ..< count * 2 { values.append(try value()) }
            return .attribute(try Self.pairs(values, at: start), try value())
        default:
            throw .invalid("unexpected byte \(RESPScan.hexByte(type)) at offset \(start)")
        }
    }

    /// The content of the line at `pos` (after its type byte); moves past its CRLF.
    private mutating func line() throws(RESPValueParseError) -> Range<Int> {
        guard let cr = RESPScan.findCRLF(bytes, from: pos + 1) else { throw .invalid("unterminated line at offset \(pos)") }
        defer { pos = cr + 2 }
        return pos + 1 ..< cr
    }

    private func number(_ range: Range<Int>, at offset: Int) throws(RESPValueParseError) -> Int {
        guard let v = RESPScan.parseDecimal(bytes, from: range.lowerBound, to: range.upperBound) else {
            throw .invalid("invalid integer at offset \(offset)")
        }
        return v
    }

    private func text(_ range: Range<Int>) -> String {
        String(decoding: UnsafeRawBufferPointer(rebasing: bytes[range]), as: UTF8.self)
    }

    /// `length` bytes of data at `pos`; moves past them and their CRLF.
    private mutating func blob(_ length: Int) -> [UInt8] {
        defer { pos += length + 2 }
        return Array(bytes[pos ..< pos + length])
    }

    private static func pairs(_ flat: [RESPValue], at offset: Int) throws(RESPValueParseError) -> [RESPValuePair] {
        // Only a streamed map can end after a key; the framer does not count its values.
        guard flat.count % 2 == 0 else { throw .invalid("map without a value for its last key at offset \(offset)") }
        return stride(from: 0, to: flat.count, by: 2).map { RESPValuePair(flat[$0], flat[$0 + 1]) }
    }
}
