/// One admin response: status, content type, extra headers and body, encoded as HTTP/1.1.
///
/// Contract: `encode` always writes `Date`, `Content-Type`, `Content-Length` (the full body's
/// length, also when the body is left out for HEAD), `Cache-Control: no-store` and
/// `X-Content-Type-Options: nosniff`; then the extra headers; then `Connection: close` when the
/// connection closes after this response, or `Connection: keep-alive` when an HTTP/1.0 client asked
/// to keep it.
struct HTTPResponse {
    enum ConnectionHeader {
        /// HTTP/1.1 persistence, nothing to say.
        case none
        case keepAlive
        case close
    }

    var status: Int
    var contentType: String
    var headers: [(name: String, value: String)]
    var body: [UInt8]

    init(status: Int, contentType: String, body: [UInt8], headers: [(name: String, value: String)] = []) {
        self.status = status
        self.contentType = contentType
        self.body = body
        self.headers = headers
    }

    /// A `text/plain` response; `text` should end in a newline.
    static func text(_ status: Int, _ text: String, headers: [(name: String, value: String)] = []) -> HTTPResponse {
        HTTPResponse(status: status, contentType: "text/plain; charset=utf-8", body: Array(text.utf8), headers: headers)
    }

    /// The status line and headers, and the body unless `omitBody`.
    func encode(date: String, omitBody: Bool, connection: ConnectionHeader) -> [UInt8] {
        var head = "HTTP/1.1 \(status) \(Self.reasonPhrase(status))\r\n"
        head += "Date: \(date)\r\n"
        head += "Content-Type: \(contentType)\r\n"
        head += "Content-Length: \(body.count)\r\n"
        head += "Cache-Control: no-store\r\n"
        head += "X-Content-Type-Options: nosniff\r\n"
        for header in headers { head += "\(header.name): \(header.value)\r\n" }
        switch connection {
        case .none: break
        case .keepAlive: head += "Connection: keep-alive\r\n"
        case .close: head += "Connection: close\r\n"
        }
        head += "\r\n"
        var bytes = Array(head.utf8)
        if !omitBody { bytes += body }
        return bytes
    }

    /// RFC 9110 reason phrases for the statuses the admin server sends.
    static func reasonPhrase(_ status: Int) -> String {
        switch status {
        case 200: "OK"
        case 400: "Bad Request"
        case 404: "Not Found"
        case 405: "Method Not Allowed"
        case 408: "Request Timeout"
        case 409: "Conflict"
        case 411: "Length Required"
        case 413: "Content Too Large"
        case 414: "URI Too Long"
        case 417: "Expectation Failed"
        case 431: "Request Header Fields Too Large"
        case 500: "Internal Server Error"
        case 503: "Service Unavailable"
        case 505: "HTTP Version Not Supported"
        default: "Status \(status)"
        }
    }
}
