/// Backend replies. Frames ONE complete reply to one request, whatever the request was, in place,
/// so the proxy can relay it byte-exact:
///  - "VALUE <key> <flags> <bytes> [<cas>]\r\n<data>\r\n" repeated, then "END\r\n" (get/gets/gat/gats);
///  - "STAT ...\r\n" lines then "END\r\n" (stats; also the "ITEM" lines of stats cachedump and
///    the "PREFIX" lines of stats detail dump);
///  - "VA <size> <flags>*\r\n<data>\r\n" (mg or ma with v);
///  - any other single line (STORED, NOT_STORED, EXISTS, NOT_FOUND, DELETED, TOUCHED, OK, RESET,
///    a number for incr/decr, "VERSION x", HD/EN/NF/NS/EX/MN with flags, "ME ...", ERROR,
///    CLIENT_ERROR ..., SERVER_ERROR ..., and the status words of the admin commands).
///  An error line ends the reply even in the middle of a VALUE/STAT sequence.
///
/// Contract:
/// - Lines end in "\r\n" (memcached never sends a bare "\n"); a line is at most
///   `maxLineBytes`; data blocks are at most `maxValueBytes` and must be followed by "\r\n".
///   Anything else is `.invalid`: the stream cannot be resynchronised.
/// - `isError` is true for ERROR / CLIENT_ERROR / SERVER_ERROR lines only (NOT_STORED, EXISTS,
///   NOT_FOUND, NS, EX, NF, EN are normal outcomes).
/// - `incomplete(atLeast:)` is never more than the real reply length.
/// - Resumes a long VALUE/STAT sequence where the previous call stopped (the item it was waiting
///   for), so a reply arriving in many reads is scanned once. That state lives only between an
///   `.incomplete` and the next call, which must pass the same reply from its start with at least
///   as many bytes; call `reset()` whenever the stream restarts (a new backend connection).
/// - No heap allocation per call (the `.invalid` message allocates).
public struct MemcachedReplyFramer: Sendable {
    public enum Result: Equatable, Sendable {
        case reply(length: Int, isError: Bool)
        case incomplete(atLeast: Int)
        case invalid(String)
    }

    /// Largest data block accepted in a VALUE or VA reply.
    public let maxValueBytes: Int
    /// Longest reply line, its "\r\n" included.
    public let maxLineBytes: Int

    @usableFromInline enum Sequence: UInt8, Sendable { case none, values, stats }
    // Where the item the last `.incomplete` was waiting for starts, within which sequence, and
    // how many bytes that call saw.
    @usableFromInline var resumeAt = 0
    @usableFromInline var resumeSequence = Sequence.none
    @usableFromInline var resumeSeen = 0

    // "END\r\n": what every VALUE/STAT sequence still owes after its current item.
    @usableFromInline static let endLength = 5

    public init(maxValueBytes: Int = 512 << 20, maxLineBytes: Int = 65_536) {
        self.maxValueBytes = maxValueBytes
        self.maxLineBytes = maxLineBytes
    }

    /// Forgets where a partial reply was.
    public mutating func reset() {
        resumeAt = 0
        resumeSequence = .none
        resumeSeen = 0
    }

    /// Frames the reply at the start of `bytes`. See the type's contract.
    public mutating func frame(_ bytes: UnsafeRawBufferPointer) -> Result {
        var pos = 0
        var sequence = Sequence.none
        if resumeSequence != .none, bytes.count >= resumeSeen {
            pos = resumeAt
            sequence = resumeSequence
        }
        reset()
        if sequence == .none {
            switch firstLine(bytes) {
            case .done(let result): return result
            case .sequence(let kind, let next):
                sequence = kind
                pos = next
            }
        }
        return continueSequence(bytes, sequence, from: pos)
    }

    @usableFromInline
    enum First {
        case done(Result)
        case sequence(Sequence, next: Int)
    }

    /// The first line: a whole single-line or VA reply, or the start of a sequence.
    @usableFromInline
    func firstLine(_ bytes: UnsafeRawBufferPointer) -> First {
        let lineEnd: Int
        switch line(bytes, at: 0) {
        case .found(let cr): lineEnd = cr
        case .incomplete(let atLeast): return .done(.incomplete(atLeast: atLeast))
        case .invalid(let why): return .done(.invalid(why))
        }
        let length = lineEnd + 2
        switch MemcachedReplyWord.classify(bytes, from: 0, to: lineEnd) {
        case .value:
            return .sequence(.values, next: 0)
        case .stat:
            return .sequence(.stats, next: length)
        case .end, .single:
            return .done(.reply(length: length, isError: false))
        case .error:
            return .done(.reply(length: length, isError: true))
        case .va:
            guard let size = MemcachedReplyWord.number(bytes, from: 3, to: lineEnd), size <= maxValueBytes else {
                return .done(.invalid("bad VA header at offset 0"))
            }
            switch dataEnd(bytes, start: length, size: size) {
            case .found(let end): return .done(.reply(length: end, isError: false))
            case .incomplete(let atLeast): return .done(.incomplete(atLeast: atLeast))
            case .invalid(let why): return .done(.invalid(why))
            }
        case .unknown:
            return .done(.invalid("unexpected reply line at offset 0"))
        }
    }

    /// Scans VALUE items (or STAT lines) from `pos` up to END or an error line.
    @usableFromInline
    mutating func continueSequence(_ bytes: UnsafeRawBufferPointer, _ sequence: Sequence, from start: Int) -> Result {
        var pos = start
        while true {
            let lineEnd: Int
            switch line(bytes, at: pos) {
            case .found(let cr): lineEnd = cr
            case .incomplete(let atLeast):
                return suspend(bytes, sequence, at: pos, atLeast: Swift.max(atLeast, pos + Self.endLength))
            case .invalid(let why): return .invalid(why)
            }
            let next = lineEnd + 2
            switch MemcachedReplyWord.classify(bytes, from: pos, to: lineEnd) {
            case .end:
                return .reply(length: next, isError: false)
            case .error:
                return .reply(length: next, isError: true)
            case .stat where sequence == .stats:
                pos = next
            case .value where sequence == .values:
                guard let size = MemcachedReplyWord.valueSize(bytes, from: pos, to: lineEnd), size <= maxValueBytes else {
                    return .invalid("bad VALUE header at offset \(pos)")
                }
                switch dataEnd(bytes, start: next, size: size) {
                case .found(let end): pos = end
                case .incomplete(let atLeast):
                    return suspend(bytes, sequence, at: pos, atLeast: MemcachedScan.saturatingAdd(atLeast, Self.endLength))
                case .invalid(let why): return .invalid(why)
                }
            default:
                return .invalid("unexpected line in a \(sequence == .values ? "VALUE" : "STAT") reply at offset \(pos)")
            }
        }
    }

    @usableFromInline
    mutating func suspend(_ bytes: UnsafeRawBufferPointer, _ sequence: Sequence, at pos: Int, atLeast: Int) -> Result {
        resumeAt = pos
        resumeSequence = sequence
        resumeSeen = bytes.count
        return .incomplete(atLeast: atLeast)
    }

    /// A line's "\r" (or a data block's end), more bytes needed, or broken framing.
    @usableFromInline
    enum Line {
        case found(Int)
        case incomplete(atLeast: Int)
        case invalid(String)
    }

    /// The "\r" ending the line that starts at `start`.
    @usableFromInline
    func line(_ bytes: UnsafeRawBufferPointer, at start: Int) -> Line {
        let n = bytes.count
        let window = maxLineBytes >= n - start ? n : start + maxLineBytes
        guard let lf = MemcachedScan.firstIndex(of: MemcachedScan.lf, in: bytes, from: start, to: window) else {
            if n - start >= maxLineBytes { return .invalid("reply line longer than \(maxLineBytes) bytes at offset \(start)") }
            return .incomplete(atLeast: n > start && bytes[n - 1] == MemcachedScan.cr ? n + 1 : Swift.max(n, start) + 2)
        }
        guard lf > start, bytes[lf - 1] == MemcachedScan.cr else {
            return .invalid("line without \"\\r\\n\" at offset \(start)")
        }
        return .found(lf - 1)
    }

    /// The end of a data block of `size` bytes at `start` and its "\r\n", checked as far as the
    /// bytes are here.
    @usableFromInline
    func dataEnd(_ bytes: UnsafeRawBufferPointer, start: Int, size: Int) -> Line {
        let pastData = bytes.count - start - size
        if pastData > 0 {
            guard bytes[start + size] == MemcachedScan.cr, pastData == 1 || bytes[start + size + 1] == MemcachedScan.lf else {
                return .invalid("data block not followed by \"\\r\\n\" at offset \(start + size)")
            }
        }
        if pastData < 2 { return .incomplete(atLeast: MemcachedScan.saturatingAdd(start, MemcachedScan.saturatingAdd(size, 2))) }
        return .found(start + size + 2)
    }
}
