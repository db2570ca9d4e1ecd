/// What `RequestParser.parse` found at the start of its input.
public enum RequestParseResult: Equatable, Sendable {
    /// One request of `length` bytes at the start of the input; its arguments are in
    /// `parser.arguments`.
    case request(length: Int)
    /// Consume `length` bytes and send no reply: a blank inline line, `*0\r\n` or the null array
    /// `*-1\r\n` (as Redis does). Unlike Redis, a count below -1 is a protocol error.
    case empty(length: Int)
    /// More bytes are needed. The frame is at least `atLeast` bytes long in total, so the caller
    /// need not call `parse` again before it holds that many (this keeps a large bulk from being
    /// rescanned on every read). Never more than the real frame length.
    case incomplete(atLeast: Int)
    /// The client broke the protocol; reply `-ERR Protocol error: <message>` and close.
    case invalid(RESPProtocolError)
}

/// Frames one client request at the start of a buffer, in place.
///
/// Contract:
/// - Input starting with `*` is a multibulk request (`*<count>\r\n` then `count` times
///   `$<len>\r\n<len bytes>\r\n`); anything else is an inline request: one line ended by "\n"
///   (an optional "\r" before it is dropped) and split like Redis's `sdssplitargs`.
/// - Semantics and error texts follow Redis 7's `processMultibulkBuffer` and
///   `processInlineBuffer`, with two deliberate differences: the CRLF after bulk data is
///   required ("expected CRLF after bulk data"), so a wrong length cannot desynchronise the
///   stream; and every line limit is judged on the bytes themselves (a line longer than
///   `maxInlineBytes` is refused even when its line end arrived in the same read), so the
///   outcome does not depend on how TCP split the stream.
/// - The parser is stateless between calls: each call starts again at the start of the input.
///   `incomplete(atLeast:)` says how long to wait before calling again.
/// - No heap allocation per call once `arguments` (and, for inline requests, the scratch
///   storage) has grown. Copying `arguments` out and keeping the copy makes the next call
///   allocate; read it in place.
public struct RequestParser: Sendable {
    /// The limits this parser enforces.
    public let limits: RESPLimits

    @usableFromInline var _isInline: Bool = false
    @usableFromInline var _arguments: [Range<Int>] = []
    @usableFromInline var _inlineEncoding: [UInt8] = []
    // Decoded inline tokens before they are re-encoded; kept to reuse its capacity.
    @usableFromInline var _inlineScratch: [UInt8] = []

    public init(limits: RESPLimits = RESPLimits()) {
        self.limits = limits
    }

    /// After `.request`: whether it was an inline request.
    @inlinable public var isInline: Bool { _isInline }

    /// After `.request`: the byte ranges of the arguments, offsets into the parsed input for a
    /// multibulk request, into `inlineEncoding` for an inline one. The first is the command name.
    @inlinable public var arguments: [Range<Int>] { _arguments }

    /// After an inline `.request`: the same request re-encoded as a RESP multibulk frame, which is
    /// what the proxy forwards to a backend. Stale otherwise.
    @inlinable public var inlineEncoding: [UInt8] { _inlineEncoding }

    /// Frames the request at the start of `input`. See the type's contract.
    public mutating func parse(_ input: UnsafeRawBufferPointer) -> RequestParseResult {
        Self.truncate(&_arguments)
        _isInline = false
        guard input.count > 0 else { return .incomplete(atLeast: 1) }
        if input[0] == UInt8(ascii: "*") {
            return parseMultibulk(input)
        }
        return parseInline(input)
    }

    /// Empties `ranges` keeping its storage. For the usual handful of arguments, popping is
    /// cheaper than `removeAll(keepingCapacity:)`, which goes through a generic replaceSubrange.
    @usableFromInline @inline(__always)
    static func truncate(_ ranges: inout [Range<Int>]) {
        if ranges.count <= 8 {
            while !ranges.isEmpty { ranges.removeLast() }
        } else {
            ranges.removeAll(keepingCapacity: true)
        }
    }

    /// Result of looking for the end of a `*` or `$` header line.
    @usableFromInline
    enum HeaderLine {
        case found(cr: Int)
        case incomplete(atLeast: Int)
        case tooLong
        case badTerminator
    }

    /// Finds the "\r" ending the header line that starts at `start` (its `*` or `$`). Like Redis,
    /// the line is cut at its first "\r"; the byte after it must be "\n".
    @usableFromInline
    static func headerLine(_ input: UnsafeRawBufferPointer, start: Int, maxLength: Int) -> HeaderLine {
        let n = input.count
        let windowEnd = maxLength >= n - start ? n : start + maxLength + 1
        var i = start
        while i < windowEnd {
            if input[i] == RESPScan.cr {
                if i + 1 == n { return .incomplete(atLeast: n + 1) }
                return input[i + 1] == RESPScan.lf ? .found(cr: i) : .badTerminator
            }
            i += 1
        }
        if n - start > maxLength { return .tooLong }
        return .incomplete(atLeast: n + 2)
    }

    @usableFromInline
    enum HeaderNumber {
        case value(Int, next: Int)
        case incomplete(atLeast: Int)
        case tooLong
        case invalid
    }

    /// The number on the header line starting at `start` (its `*` or `$`). The common case is
    /// read in one pass; anything else takes Redis's way (cut the line at its first "\r" within
    /// the limit, then `string2ll`), which decides between "too big" and "invalid".
    @usableFromInline @inline(__always)
    static func headerNumber(_ input: UnsafeRawBufferPointer, start: Int, maxLength: Int) -> HeaderNumber {
        if case .value(let v, let next) = RESPScan.decimalLine(input, from: start + 1),
           next - 2 - start <= maxLength {
            return .value(v, next: next)
        }
        switch headerLine(input, start: start, maxLength: maxLength) {
        case .found(let cr):
            guard let v = RESPScan.parseDecimal(input, from: start + 1, to: cr) else { return .invalid }
            return .value(v, next: cr + 2)
        case .incomplete(let atLeast): return .incomplete(atLeast: atLeast)
        case .tooLong: return .tooLong
        case .badTerminator: return .invalid
        }
    }

    // Every bulk element is at least "$0\r\n\r\n". Counting the elements not yet seen into the
    // `incomplete` bound makes the number of rescans of a request with many small arguments
    // logarithmic in its size rather than linear.
    @usableFromInline static let minimumElementBytes = 6

    @usableFromInline
    mutating func parseMultibulk(_ input: UnsafeRawBufferPointer) -> RequestParseResult {
        let n = input.count
        let count: Int
        var pos: Int
        // Locals, so the loop does not reload (or copy) `self` for every argument.
        let maxHeader = limits.maxInlineBytes
        let maxBulk = limits.maxBulkBytes
        switch Self.headerNumber(input, start: 0, maxLength: maxHeader) {
        case .value(let v, let next): (count, pos) = (v, next)
        case .incomplete(let atLeast): return .incomplete(atLeast: atLeast)
        case .tooLong: return .invalid(.tooBigMultibulkCount)
        case .invalid: return .invalid(.invalidMultibulkLength)
        }
        guard count <= limits.maxMultibulkLength else { return .invalid(.invalidMultibulkLength) }
        // Redis silently skips any `*-N`. `*-1` is RESP's null array, so skipping it is harmless;
        // any other negative count means the stream is out of step, and the proxy refuses it.
        if count < -1 { return .invalid(.invalidMultibulkLength) }
        if count <= 0 { return .empty(length: pos) }

        let minimum = Self.minimumElementBytes
        var index = 0
        while index < count {
            let laterElements = RESPScan.saturatingMultiply(count - index - 1, minimum)
            guard pos < n else { return .incomplete(atLeast: RESPScan.saturatingAdd(pos + minimum, laterElements)) }
            let first = input[pos]
            guard first == UInt8(ascii: "$") else { return .invalid(.expectedDollar(got: first)) }

            let length: Int, dataStart: Int
            switch Self.headerNumber(input, start: pos, maxLength: maxHeader) {
            case .value(let v, let next): (length, dataStart) = (v, next)
            case .incomplete(let atLeast): return .incomplete(atLeast: RESPScan.saturatingAdd(atLeast + 2, laterElements))
            case .tooLong: return .invalid(.tooBigBulkCount)
            case .invalid: return .invalid(.invalidBulkLength)
            }
            guard length >= 0, length <= maxBulk else { return .invalid(.invalidBulkLength) }

            // Differences, not sums, so that no declared length can overflow.
            let pastData = n - dataStart - length
            // Check the terminator as soon as its bytes are here, so garbage fails early.
            if pastData > 0 {
                guard input[dataStart + length] == RESPScan.cr else { return .invalid(.expectedCRLF) }
                if pastData > 1 {
                    guard input[dataStart + length + 1] == RESPScan.lf else { return .invalid(.expectedCRLF) }
                }
            }
            if pastData < 2 {
                let end = RESPScan.saturatingAdd(dataStart, RESPScan.saturatingAdd(length, 2))
                return .incomplete(atLeast: RESPScan.saturatingAdd(end, laterElements))
            }
            _arguments.append(dataStart ..< dataStart + length)
            pos = dataStart + length + 2
            index += 1
        }
        return .request(length: pos)
    }

    @usableFromInline
    mutating func parseInline(_ input: UnsafeRawBufferPointer) -> RequestParseResult {
        let n = input.count
        let maxLength = limits.maxInlineBytes
        let window = maxLength >= n ? n : maxLength + 1
        guard let newline = RESPScan.firstIndex(of: RESPScan.lf, in: input, from: 0, to: window) else {
            if n > maxLength { return .invalid(.tooBigInline) }
            return .incomplete(atLeast: n + 1)
        }
        var lineEnd = newline
        if lineEnd > 0, input[lineEnd - 1] == RESPScan.cr { lineEnd -= 1 }
        let frameLength = newline + 1

        _inlineScratch.removeAll(keepingCapacity: true)
        let line = UnsafeRawBufferPointer(rebasing: input[0 ..< lineEnd])
        guard InlineTokenizer.split(line, bytes: &_inlineScratch, tokens: &_arguments) else {
            Self.truncate(&_arguments)
            return .invalid(.unbalancedQuotes)
        }
        if _arguments.isEmpty { return .empty(length: frameLength) }

        // Re-encode as a multibulk frame and point the arguments into it.
        _inlineEncoding.removeAll(keepingCapacity: true)
        _inlineEncoding.append(UInt8(ascii: "*"))
        RESPEncoder.appendDecimal(_arguments.count, into: &_inlineEncoding)
        _inlineEncoding.append(RESPScan.cr)
        _inlineEncoding.append(RESPScan.lf)
        for i in _arguments.indices {
            let token = _arguments[i]
            _inlineEncoding.append(UInt8(ascii: "$"))
            RESPEncoder.appendDecimal(token.count, into: &_inlineEncoding)
            _inlineEncoding.append(RESPScan.cr)
            _inlineEncoding.append(RESPScan.lf)
            let start = _inlineEncoding.count
            _inlineEncoding.append(contentsOf: _inlineScratch[token])
            _arguments[i] = start ..< _inlineEncoding.count
            _inlineEncoding.append(RESPScan.cr)
            _inlineEncoding.append(RESPScan.lf)
        }
        _isInline = true
        return .request(length: frameLength)
    }
}
