import EventLoop

/// What a backend connection found at the start of its input.
enum WireFrame {
    /// One whole reply of `length` bytes; `isError` for error replies, `outOfBand` for frames that
    /// answer no request (RESP3 pushes).
    case reply(length: Int, isError: Bool, outOfBand: Bool)
    /// More bytes are needed: the reply is at least `atLeast` bytes long.
    case incomplete(atLeast: Int)
    /// The server broke its protocol; the connection cannot be resynchronised.
    case invalid(String)
}

/// Frames a backend's reply stream; `init()` starts a fresh connection.
protocol ReplyFraming {
    init()
    mutating func nextReply(_ bytes: UnsafeRawBufferPointer) -> WireFrame
}

/// Everything a backend connection, a cluster link and the forwarding core need to know about one
/// backend protocol. The routing logic is written once against this; redis and memcached each
/// provide one conformance.
protocol BackendWire {
    associatedtype Framer: ReplyFraming
    /// A cheap request whose reply proves the server alive and measures its latency.
    static var probeFrame: [UInt8] { get }
    /// Sent first on a new connection of `variant`, authenticating with `credentials` when given
    /// (e.g. redis's `AUTH user password`, `HELLO 3 AUTH user password`), or nil when nothing is.
    /// The frame holds the password: it must never be logged.
    static func handshake(variant: Int, credentials: BackendCredentials?) -> [UInt8]?
    /// Connections per server: one per protocol variant a client may need (redis: RESP2 and RESP3).
    static var variants: Int { get }
    /// The error a client gets when `endpoint` cannot be reached, in the client's protocol.
    static func unavailableReply(endpoint: Endpoint, reason: String) -> [UInt8]
    /// The error a client gets when no cluster could take its read.
    static var noClusterReply: [UInt8] { get }
    static func isError(_ reply: UnsafeRawBufferPointer) -> Bool
    /// Whether `frame` may be sent again when its first attempt's outcome is unknown (see
    /// `ClusterRouter.keepAfterFailure`).
    static func isSafeToRepeat(_ frame: UnsafeRawBufferPointer) -> Bool
    /// The keys a write not safe to repeat touches, when they can be repaired by copying them from
    /// another cluster (see `KeyRepairer`); nil when it cannot be repaired.
    static func repairKeys(_ frame: UnsafeRawBufferPointer) -> [[UInt8]]?
    /// The requests, sent back to back on one connection, whose last reply holds `key`'s whole state.
    static func repairReadFrames(key: [UInt8]) -> [[UInt8]]
    /// The write that sets `key` to the state `reply` (the last reply of `repairReadFrames`)
    /// describes, or nil when the reply is not usable.
    static func repairWrite(key: [UInt8], reply: UnsafeRawBufferPointer, nowMillis: Int64) -> [UInt8]?
    /// Whether two clusters' replies to the same read agree about the data (read verification).
    static func sameData(_ a: UnsafeRawBufferPointer, _ b: UnsafeRawBufferPointer) -> Bool
    /// The frame to keep for delivery later instead of `frame` (e.g. relative expiry made absolute),
    /// or nil to keep it as is.
    static func frameForLater(_ frame: UnsafeRawBufferPointer, nowSeconds: Int64) -> [UInt8]?
    /// How many replies `frame`, sent as one request, gets: 1, or the number of commands of a
    /// transaction block (redis `MULTI ... EXEC`, see `RequestBlock`). Called for every request sent.
    static func requestCount(_ frame: UnsafeRawBufferPointer) -> Int
    /// A name for logs.
    static var protocolName: String { get }
    /// Whether `reply` says the server lacks the script its request named (redis `NOSCRIPT`: its
    /// script cache was lost in a restart or flushed); false where the protocol has no scripts.
    static func isMissingScript(_ reply: UnsafeRawBufferPointer) -> Bool
    /// The request that gives a server the script `body` back (redis `SCRIPT LOAD`), or nil where
    /// the protocol has no scripts. See `RoutedSession+ScriptRepair`.
    static func scriptLoadFrame(body: [UInt8]) -> [UInt8]?
}

extension BackendWire {
    /// `text` on one line, for an error reply built from a reason that may hold line breaks.
    static func oneLine(_ text: String) -> String {
        text.split(whereSeparator: \.isNewline).joined(separator: " ")
    }
}
