// The only file in the project that imports CHiredis (Debian's libhiredis 0.14.1).
//
// Why hiredis is here at all: it is the independent reference the differential tests check
// `ReplyFramer` and `RequestParser` against, and it formats the commands the proxy originates.
// It is NOT on the hot path: framing a reply in place in Swift measured 5 ns for a GET reply
// against 13 ns through hiredis, and 10 ns against 550-1,000 ns for a 16 KiB bulk, because
// hiredis copies every byte fed into its own buffer.
//
// hiredis 0.14.1's reader has limits that make it unfit for live, untrusted traffic:
// - RESP2 only (+ - : $ *); any RESP3 type byte is a protocol error.
// - Aggregates nested deeper than its fixed 9-slot task stack are refused ("No support for
//   nested multi bulk replies with depth > 7"): an array at depth 9 fails, while `COMMAND DOCS`
//   is 12 deep and redis-cli 7 sends it on start-up.
// - No inline commands: it reads replies, not requests.
// - Lenient where the proxy must be strict: the two bytes after bulk data are skipped without
//   being checked, so a wrong bulk length silently desynchronises the stream. (Lengths and
//   integers are strict `string2ll` numbers, as in `RESPScan.parseDecimal`.)
// - After any error the reader stays broken: every later feed and read fails.
// - `$-1` and `*-1` both come back as NIL, indistinguishable.

import CHiredis

/// A protocol error reported by hiredis, with its own text (`reader->errstr`).
public struct HiredisReaderError: Error, Equatable, Sendable {
    public var message: String

    public init(_ message: String) {
        self.message = message
    }
}

/// A hiredis `redisReader`, for differential tests and measurements only (see the limits above).
///
/// With `buildsValues` (the default) it uses hiredis's own reply functions (`redisReaderCreate`)
/// and converts each `redisReply` tree to a `RESPValue`, freeing it with `freeReplyObject`;
/// a NIL becomes `.bulk(nil)`. Without, it is created with `redisReaderCreateWithFunctions(NULL)`,
/// which frames replies without building any object: use `nextReplyType()`.
/// `maxbuf` is 0 so hiredis keeps its buffer instead of freeing and reallocating it.
/// Not thread-safe; not Sendable.
public final class HiredisReader {
    private let reader: UnsafeMutablePointer<redisReader>
    /// Whether replies are built (`nextReply`) or only framed (`nextReplyType`).
    public let buildsValues: Bool
    /// Bytes accepted by `feed` so far.
    public private(set) var bytesFed = 0

    public init(buildsValues: Bool = true) {
        guard let created = buildsValues ? redisReaderCreate() : redisReaderCreateWithFunctions(nil) else {
            fatalError("hiredis could not allocate a reader")
        }
        created.pointee.maxbuf = 0
        reader = created
        self.buildsValues = buildsValues
    }

    deinit {
        redisReaderFree(reader)
    }

    /// Appends bytes to hiredis's buffer (it copies them). Throws once the reader is broken.
    public func feed(_ bytes: UnsafeRawBufferPointer) throws(HiredisReaderError) {
        guard let base = bytes.baseAddress, bytes.count > 0 else { return }
        guard redisReaderFeed(reader, base.assumingMemoryBound(to: CChar.self), bytes.count) == REDIS_OK else {
            throw currentError
        }
        bytesFed += bytes.count
    }

    public func feed(_ bytes: [UInt8]) throws(HiredisReaderError) {
        let result = bytes.withUnsafeBytes { raw in
            Result { () throws(HiredisReaderError) in try feed(raw) }
        }
        try result.get()
    }

    /// Bytes fed and not yet consumed. Right after a reply is returned, `bytesFed` minus this is
    /// where that reply ended in the stream; while a reply is partly read hiredis has already
    /// consumed its finished elements, so the number means little then.
    public var unconsumedByteCount: Int {
        reader.pointee.len - reader.pointee.pos
    }

    /// The next whole reply, or nil when more bytes are needed. Requires `buildsValues`.
    public func nextReply() throws(HiredisReaderError) -> RESPValue? {
        precondition(buildsValues, "a reader created without reply functions builds no values")
        guard let reply = try nextObject() else { return nil }
        let typed = reply.assumingMemoryBound(to: redisReply.self)
        defer { freeReplyObject(reply) }
        return Self.convert(typed)
    }

    /// Frames the next whole reply without building it; returns hiredis's type for it
    /// (`REDIS_REPLY_STATUS` …) or nil when more bytes are needed. Requires `!buildsValues`.
    public func nextReplyType() throws(HiredisReaderError) -> Int32? {
        precondition(!buildsValues, "use nextReply() on a reader that builds values")
        // Without reply functions hiredis hands back the type number cast to a pointer.
        guard let reply = try nextObject() else { return nil }
        return Int32(truncatingIfNeeded: Int(bitPattern: reply))
    }

    private func nextObject() throws(HiredisReaderError) -> UnsafeMutableRawPointer? {
        var reply: UnsafeMutableRawPointer?
        guard redisReaderGetReply(reader, &reply) == REDIS_OK else { throw currentError }
        return reply
    }

    private var currentError: HiredisReaderError {
        let text = withUnsafeBytes(of: &reader.pointee.errstr) { raw in
            String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
        }
        return HiredisReaderError(text)
    }

    private static func convert(_ reply: UnsafeMutablePointer<redisReply>) -> RESPValue {
        let r = reply.pointee
        func bytes() -> [UInt8] {
            guard let str = r.str, r.len > 0 else { return [] }
            return Array(UnsafeRawBufferPointer(start: str, count: r.len))
        }
        switch r.type {
        case REDIS_REPLY_STRING: return .bulk(bytes())
        case REDIS_REPLY_STATUS: return .simpleString(String(decoding: bytes(), as: UTF8.self))
        case REDIS_REPLY_ERROR: return .error(String(decoding: bytes(), as: UTF8.self))
        case REDIS_REPLY_INTEGER: return .integer(Int(r.integer))
        case REDIS_REPLY_NIL: return .bulk(nil)
        case REDIS_REPLY_ARRAY:
            var values: [RESPValue] = []
            values.reserveCapacity(r.elements)
            for i in 0 ..< r.elements {
                values.append(convert(r.element[i]!))
            }
            return .array(values)
        default:
            fatalError("hiredis 0.14.1 returned unknown reply type \(r.type)")
        }
    }
}

/// Formats a command as hiredis does (`redisFormatCommandArgv`): a multibulk of bulk strings.
/// Binary-safe. For commands the proxy originates, and as a reference for `RequestParser`.
public func hiredisFormatCommand(_ args: [[UInt8]]) -> [UInt8] {
    // One contiguous copy so that every argv pointer stays valid for the call; the extra byte
    // keeps the base address non-nil when every argument is empty.
    var flat: [UInt8] = []
    var offsets: [Int] = []
    var lengths: [Int] = []
    for arg in args {
        offsets.append(flat.count)
        lengths.append(arg.count)
        flat.append(contentsOf: arg)
    }
    flat.append(0)
    return flat.withUnsafeBytes { raw -> [UInt8] in
        let base = raw.baseAddress!.assumingMemoryBound(to: CChar.self)
        var argv: [UnsafePointer<CChar>?] = offsets.map { UnsafePointer(base + $0) }
        var target: UnsafeMutablePointer<CChar>?
        let length = redisFormatCommandArgv(&target, Int32(args.count), &argv, &lengths)
        guard length >= 0, let target else { fatalError("hiredis could not format a command") }
        defer { redisFreeCommand(target) }
        return Array(UnsafeRawBufferPointer(start: target, count: Int(length)))
    }
}
