/// One parsed HTTP/1.x request, as `HTTPRequestParser` produces it for the admin endpoints.
///
/// Contract: plain values. `path` is the request target without its query (not percent-decoded);
/// `query` is what followed the first `?` (nil when there was no `?`). Header names are lower-cased,
/// values trimmed of surrounding blanks, in arrival order (repeats kept). `keepAlive` already
/// applies the version's default and the `Connection` header.
struct HTTPRequest: Sendable, Equatable {
    struct Version: Sendable, Equatable, CustomStringConvertible {
        var major: Int
        var minor: Int

        var description: String { "HTTP/\(major).\(minor)" }
    }

    struct Header: Sendable, Equatable {
        /// Lower-cased.
        var name: String
        var value: String
    }

    var method: String
    var path: String
    var query: String?
    var version: Version
    var headers: [Header]
    var body: [UInt8]
    /// True when the connection may stay open after the response: HTTP/1.1 unless `Connection: close`,
    /// HTTP/1.0 only with `Connection: keep-alive`.
    var keepAlive: Bool

    /// The first value of the header `name` (give it lower-cased), nil when absent.
    func header(_ name: String) -> String? {
        headers.first { $0.name == name }?.value
    }

    /// Every value of the header `name` (lower-cased), in arrival order.
    func headerValues(_ name: String) -> [String] {
        headers.filter { $0.name == name }.map(\.value)
    }
}
