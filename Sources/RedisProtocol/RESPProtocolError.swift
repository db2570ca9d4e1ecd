/// A client broke the request protocol. Like Redis, the proxy answers
/// `-ERR Protocol error: <message>` and closes the connection after the reply: the stream cannot
/// be resynchronised.
///
/// `message` is what follows "ERR Protocol error: " in the reply to the client. It never holds a
/// CR or LF, so it is safe to put in an error reply as is.
public struct RESPProtocolError: Error, Equatable, Sendable, CustomStringConvertible {
    public var message: String

    public init(_ message: String) {
        self.message = message
    }

    /// The full error text for the reply, after the leading "-".
    public var replyText: String { "ERR Protocol error: " + message }

    public var description: String { replyText }
}

extension RESPProtocolError {
    // The texts Redis 7 sends (src/networking.c), so clients and tests see the same words.
    static var invalidMultibulkLength: RESPProtocolError { RESPProtocolError("invalid multibulk length") }
    static var invalidBulkLength: RESPProtocolError { RESPProtocolError("invalid bulk length") }
    static var tooBigMultibulkCount: RESPProtocolError { RESPProtocolError("too big mbulk count string") }
    static var tooBigBulkCount: RESPProtocolError { RESPProtocolError("too big bulk count string") }
    static var tooBigInline: RESPProtocolError { RESPProtocolError("too big inline request") }
    static var unbalancedQuotes: RESPProtocolError { RESPProtocolError("unbalanced quotes in request") }
    // Redis does not check this; the proxy does, so a wrong length cannot desynchronise the stream.
    static var expectedCRLF: RESPProtocolError { RESPProtocolError("expected CRLF after bulk data") }

    /// Redis prints the byte with %c; a non-printable byte is shown as \xHH instead, so the
    /// reply never carries a raw CR, LF or invalid UTF-8.
    static func expectedDollar(got byte: UInt8) -> RESPProtocolError {
        let shown: String
        if byte >= 0x20 && byte < 0x7F {
            shown = String(Character(Unicode.Scalar(byte)))
        } else {
            shown = "\\x" + RESPScan.hexByte(byte).dropFirst(2)
        }
        return RESPProtocolError("expected '$', got '\(shown)'")
    }
}
