/// Parses HTTP/1.x requests (RFC 9112) out of one connection's input, for the admin endpoints.
///
/// Contract:
/// - No I/O. `parse(_:)` is given the connection's unconsumed input, starting where the previous
///   request ended, and answers:
///   `.complete(request, consumed:)`: drop `consumed` bytes, then call again (pipelined requests);
///   `.incomplete`: call again with the same bytes and more;
///   `.error(status:reason:)`: answer `status` and close (the stream cannot be resynchronised).
/// - Across `.incomplete` answers the parser remembers how far it looked, so a request that trickles
///   in is scanned once overall, not once per packet. Any other answer resets it.
/// - Head (empty lines before the request line, request line, headers, final empty line): at most
///   `maxHeadBytes` (16 KiB), else 414 when the request line alone does not fit, 431 otherwise.
/// - Lines end in CRLF or a bare LF (RFC 9112 §2.2); a bare CR anywhere else → 400.
/// - Request line: `method SP target SP HTTP/d.d` with single spaces; method a token; target in origin
///   form (`/path?query`), absolute form (`http://host/path?query`, reduced to path and query) or `*`.
///   HTTP/1.x only (any other major version → 505); 1.x with x > 1 is treated as 1.1.
/// - Headers: `name: value` with no blank before the colon and no line folding (→ 400); HTTP/1.1 needs
///   exactly one Host, HTTP/1.0 at most one (→ 400); `Expect` other than 100-continue → 417 (a
///   100 Continue is never sent: clients send the body after a short wait).
/// - Body: by Content-Length only, at most `maxBodyBytes` (64 KiB, else 413); malformed or
///   conflicting Content-Length → 400; chunked → 411 (send a Content-Length), other codings → 400.
struct HTTPRequestParser {
    enum Result: Equatable {
        case complete(HTTPRequest, consumed: Int)
        case incomplete
        case error(status: Int, reason: String)
    }

    static let defaultMaxHeadBytes = 16 * 1024
    static let defaultMaxBodyBytes = 64 * 1024

    let maxHeadBytes: Int
    let maxBodyBytes: Int

    /// Where the request line starts, once the empty lines before it are skipped.
    private var headStart: Int?
    /// The next byte to look at.
    private var position = 0
    private var methodEnded = false
    private var requestLine: RequestLine?
    /// A parsed head waiting for its body.
    private var waiting: (request: HTTPRequest, bodyStart: Int, bodyLength: Int)?

    private struct RequestLine {
        var method: String
        var path: String
        var query: String?
        var version: HTTPRequest.Version
        /// Index just after the line's LF.
        var end: Int
    }

    init(maxHeadBytes: Int = defaultMaxHeadBytes, maxBodyBytes: Int = defaultMaxBodyBytes) {
        self.maxHeadBytes = maxHeadBytes
        self.maxBodyBytes = maxBodyBytes
    }

    /// Parses the next request from `bytes`, the connection's unconsumed input (see the contract).
    mutating func parse(_ bytes: UnsafeRawBufferPointer) -> Result {
        let result = step(bytes)
        if result != .incomplete { self = HTTPRequestParser(maxHeadBytes: maxHeadBytes, maxBodyBytes: maxBodyBytes) }
        return result
    }

    mutating func parse(_ bytes: [UInt8]) -> Result {
        bytes.withUnsafeBytes { parse($0) }
    }

    private mutating func step(_ bytes: UnsafeRawBufferPointer) -> Result {
        if let waiting {
            let end = waiting.bodyStart + waiting.bodyLength
            guard bytes.count >= end else { return .incomplete }
            var request = waiting.request
            request.body = Array(bytes[waiting.bodyStart..<end])
            return .complete(request, consumed: end)
        }
        let limit = min(bytes.count, maxHeadBytes)
        let full = bytes.count >= maxHeadBytes
        if headStart == nil {
            while position < limit, bytes[position] == .cr || bytes[position] == .lf { position += 1 }
            if position == limit {
                return full ? .error(status: 431, reason: "request head larger than \(maxHeadBytes) bytes") : .incomplete
            }
            headStart = position
        }
        if requestLine == nil {
            // Checking the method as it arrives turns away a non-HTTP client (TLS, redis) at once.
            while position < limit, bytes[position] != .lf {
                let b = bytes[position]
                if !methodEnded {
                    if b == .space {
                        methodEnded = true
                    } else if !b.isTokenByte {
                        return .error(status: 400, reason: "invalid method")
                    }
                }
                position += 1
            }
            if position == limit {
                return full ? .error(status: 414, reason: "request line longer than \(maxHeadBytes) bytes") : .incomplete
            }
            switch Self.parseRequestLine(bytes, from: headStart!, to: position) {
            case .failure(let error): return .error(status: error.status, reason: error.reason)
            case .success(let line): requestLine = line
            }
            position += 1
        }
        while position < limit {
            if bytes[position] == .lf {
                let previous = bytes[position - 1]
                if previous == .lf || (previous == .cr && bytes[position - 2] == .lf) {
                    return headComplete(bytes, emptyLineStart: previous == .lf ? position : position - 1, end: position + 1)
                }
            }
            position += 1
        }
        return full ? .error(status: 431, reason: "request head larger than \(maxHeadBytes) bytes") : .incomplete
    }

    private mutating func headComplete(_ bytes: UnsafeRawBufferPointer, emptyLineStart: Int, end: Int) -> Result {
        let line = requestLine!
        var headers: [HTTPRequest.Header] = []
        var start = line.end
        while start < emptyLineStart {
            var stop = start
            while bytes[stop] != .lf { stop += 1 }
            let content = stop > start && bytes[stop - 1] == .cr ? stop - 1 : stop
            switch Self.parseHeader(UnsafeRawBufferPointer(rebasing: bytes[start..<content])) {
            case .failure(let error): return .error(status: error.status, reason: error.reason)
            case .success(let header): headers.append(header)
            }
            start = stop + 1
        }
        var request = HTTPRequest(
            method: line.method, path: line.path, query: line.query, version: line.version,
            headers: headers, body: [], keepAlive: false)
        let bodyLength: Int
        switch Self.checkSemantics(&request, maxBodyBytes: maxBodyBytes) {
        case .failure(let error): return .error(status: error.status, reason: error.reason)
        case .success(let length): bodyLength = length
        }
        if bodyLength == 0 { return .complete(request, consumed: end) }
        waiting = (request, end, bodyLength)
        return step(bytes)
    }

    // MARK: pieces

    private struct Failure: Error {
        var status: Int
        var reason: String
        init(_ status: Int, _ reason: String) {
            self.status = status
            self.reason = reason
        }
    }

    /// The request line in `bytes[from..<to]` (`to` is its LF).
    private static func parseRequestLine(
        _ bytes: UnsafeRawBufferPointer, from: Int, to lf: Int
    ) -> Swift.Result<RequestLine, Failure> {
        let end = lf > from && bytes[lf - 1] == .cr ? lf - 1 : lf
        let line = UnsafeRawBufferPointer(rebasing: bytes[from..<end])
        guard let firstSpace = line.firstIndex(of: .space), firstSpace > 0 else { return .failure(Failure(400, "invalid method")) }
        guard let secondSpace = line[(firstSpace + 1)...].firstIndex(of: .space), secondSpace > firstSpace + 1 else {
            return .failure(Failure(400, "malformed request line"))
        }
        let target = line[(firstSpace + 1)..<secondSpace]
        guard target.allSatisfy({ $0 > 0x20 && $0 < 0x7F }) else { return .failure(Failure(400, "invalid request target")) }
        let version = Array(line[(secondSpace + 1)...])
        guard version.count == 8, version[0..<5].elementsEqual("HTTP/".utf8), version[5].isDigit, version[6] == UInt8(ascii: "."),
              version[7].isDigit
        else { return .failure(Failure(400, "malformed HTTP version")) }
        let major = Int(version[5] - UInt8(ascii: "0"))
        guard major == 1 else { return .failure(Failure(505, "only HTTP/1.x is supported")) }
        guard let (path, query) = splitTarget(String(decoding: target, as: UTF8.self)) else {
            return .failure(Failure(400, "invalid request target"))
        }
        return .success(RequestLine(
            method: String(decoding: line[..<firstSpace], as: UTF8.self), path: path, query: query,
            version: .init(major: major, minor: Int(version[7] - UInt8(ascii: "0"))), end: lf + 1))
    }

    /// Path and query of a target in origin, absolute or asterisk form; nil for anything else.
    private static func splitTarget(_ target: String) -> (String, String?)? {
        if target == "*" { return ("*", nil) }
        var rest = Substring(target)
        if !rest.hasPrefix("/") {
            let lower = target.lowercased()
            guard let scheme = ["http://", "https://"].first(where: { lower.hasPrefix($0) }) else { return nil }
            rest = rest.dropFirst(scheme.count)
            let authorityEnd = rest.firstIndex { $0 == "/" || $0 == "?" } ?? rest.endIndex
            guard authorityEnd > rest.startIndex else { return nil }
            rest = rest[authorityEnd...]
            if !rest.hasPrefix("/") { rest = "/" + rest }
        }
        guard let mark = rest.firstIndex(of: "?") else { return (String(rest), nil) }
        return (String(rest[..<mark]), String(rest[rest.index(after: mark)...]))
    }

    private static func parseHeader(_ line: UnsafeRawBufferPointer) -> Swift.Result<HTTPRequest.Header, Failure> {
        guard let first = line.first else { return .failure(Failure(400, "invalid header line")) }
        if first == .space || first == .tab { return .failure(Failure(400, "folded header lines are not accepted")) }
        guard let colon = line.firstIndex(of: UInt8(ascii: ":")) else { return .failure(Failure(400, "header line without a colon")) }
        let name = line[..<colon]
        guard !name.isEmpty, name.allSatisfy(\.isTokenByte) else { return .failure(Failure(400, "invalid header name")) }
        var valueStart = colon + 1
        var valueEnd = line.count
        while valueStart < valueEnd, line[valueStart] == .space || line[valueStart] == .tab { valueStart += 1 }
        while valueEnd > valueStart, line[valueEnd - 1] == .space || line[valueEnd - 1] == .tab { valueEnd -= 1 }
        let value = line[valueStart..<valueEnd]
        guard value.allSatisfy({ $0 == .tab || ($0 >= 0x20 && $0 != 0x7F) }) else {
            return .failure(Failure(400, "invalid character in header value"))
        }
        let lowerName = name.map { $0 >= UInt8(ascii: "A") && $0 <= UInt8(ascii: "Z") ? $0 | 0x20 : $0 }
        return .success(HTTPRequest.Header(
            name: String(decoding: lowerName, as: UTF8.self), value: String(decoding: value, as: UTF8.self)))
    }

    /// Applies Host, Transfer-Encoding, Content-Length, Expect and Connection; gives the body length.
    private static func checkSemantics(_ request: inout HTTPRequest, maxBodyBytes: Int) -> Swift.Result<Int, Failure> {
        let isHTTP11 = request.version.minor >= 1
        let hosts = request.headerValues("host").count
        if hosts > 1 || (isHTTP11 && hosts == 0) {
            return .failure(Failure(400, "an HTTP/1.1 request needs exactly one Host header"))
        }
        let codings = request.headerValues("transfer-encoding").flatMap(listElements)
        if !request.headerValues("transfer-encoding").isEmpty {
            if isHTTP11, codings.last == "chunked" {
                return .failure(Failure(411, "chunked request bodies are not accepted; send Content-Length"))
            }
            return .failure(Failure(400, "unsupported Transfer-Encoding"))
        }
        var bodyLength = 0
        let lengths = request.headerValues("content-length").flatMap { $0.split(separator: ",", omittingEmptySubsequences: false) }
        if !lengths.isEmpty {
            let trimmed = lengths.map { $0.trimmingBlanks }
            guard trimmed.allSatisfy({ !$0.isEmpty && $0.utf8.allSatisfy(\.isDigit) }) else {
                return .failure(Failure(400, "invalid Content-Length"))
            }
            // Leading zeros aside, more than 18 digits could overflow and is too large anyway.
            let significant = trimmed.map { $0.drop { $0 == "0" } }
            guard significant.allSatisfy({ $0.count <= 18 }) else {
                return .failure(Failure(413, "request body larger than \(maxBodyBytes) bytes"))
            }
            let values = significant.map { Int($0) ?? 0 }
            guard values.allSatisfy({ $0 == values[0] }) else { return .failure(Failure(400, "conflicting Content-Length values")) }
            bodyLength = values[0]
            if bodyLength > maxBodyBytes { return .failure(Failure(413, "request body larger than \(maxBodyBytes) bytes")) }
        }
        if let expect = request.header("expect"), expect.lowercased() != "100-continue" {
            return .failure(Failure(417, "unsupported expectation"))
        }
        let options = request.headerValues("connection").flatMap(listElements)
        request.keepAlive = !options.contains("close") && (isHTTP11 || options.contains("keep-alive"))
        return .success(bodyLength)
    }

    /// The lower-cased, trimmed, non-empty elements of a comma-separated header value.
    private static func listElements(_ value: String) -> [String] {
        value.split(separator: ",").map { $0.trimmingBlanks.lowercased() }.filter { !$0.isEmpty }
    }
}

extension UInt8 {
    fileprivate static let cr = UInt8(ascii: "\r")
    fileprivate static let lf = UInt8(ascii: "\n")
    fileprivate static let space = UInt8(ascii: " ")
    fileprivate static let tab = UInt8(ascii: "\t")

    fileprivate var isDigit: Bool { self >= UInt8(ascii: "0") && self <= UInt8(ascii: "9") }

    /// RFC 9110 tchar.
    fileprivate var isTokenByte: Bool {
        switch self {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"):
            return true
        default:
            return "!#$%&'*+-.^_`|~".utf8.contains(self)
        }
    }
}

extension Substring {
    fileprivate var trimmingBlanks: Substring {
        var s = self
        while let first = s.first, first == " " || first == "\t" { s = s.dropFirst() }
        while let last = s.last, last == " " || last == "\t" { s = s.dropLast() }
        return s
    }
}
