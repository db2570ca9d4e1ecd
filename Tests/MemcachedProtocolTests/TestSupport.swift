import MemcachedProtocol

/// The bytes of a protocol string (ASCII; "\r\n" written out).
func b(_ s: String) -> [UInt8] { Array(s.utf8) }

/// One parse of `input` with a fresh parser: the result and the request it left.
func parse(_ input: [UInt8], limits: MemcachedLimits = MemcachedLimits()) -> (MemcachedParseResult, MemcachedRequest) {
    var parser = MemcachedRequestParser(limits: limits)
    let result = input.withUnsafeBytes { parser.parse($0) }
    return (result, parser.request)
}

func parse(_ input: String, limits: MemcachedLimits = MemcachedLimits()) -> (MemcachedParseResult, MemcachedRequest) {
    parse(b(input), limits: limits)
}

/// The error a parse of `input` ends in, or nil.
func parseError(_ input: String, limits: MemcachedLimits = MemcachedLimits()) -> MemcachedRequestError? {
    if case .error(let e) = parse(input, limits: limits).0 { return e }
    return nil
}

func err(_ reply: String, _ consume: Int, close: Bool = false, silent: Bool = false) -> MemcachedParseResult {
    .error(MemcachedRequestError(reply: reply, consume: consume, close: close, silent: silent))
}

/// `frame[range]` as a string.
func text(_ frame: [UInt8], _ range: Range<Int>?) -> String? {
    guard let range else { return nil }
    return String(decoding: frame[range], as: UTF8.self)
}

func text(_ frame: String, _ range: Range<Int>?) -> String? { text(b(frame), range) }

/// The keys of a parsed request, as strings.
func keys(_ frame: String, _ request: MemcachedRequest) -> [String] {
    request.keys.map { text(frame, $0)! }
}

/// The meta flags of a parsed request, as written ("T30", "q").
func flags(_ frame: String, _ request: MemcachedRequest) -> [String] {
    request.metaFlags.map { text(frame, $0.range)! }
}

/// One frame of a reply framer over `input`.
func frame(_ input: [UInt8], maxValueBytes: Int = 512 << 20) -> MemcachedReplyFramer.Result {
    var framer = MemcachedReplyFramer(maxValueBytes: maxValueBytes)
    return input.withUnsafeBytes { framer.frame($0) }
}

func frame(_ input: String) -> MemcachedReplyFramer.Result { frame(b(input)) }

extension MemcachedParseResult {
    var length: Int? {
        if case .request(let n) = self { return n }
        return nil
    }
}
