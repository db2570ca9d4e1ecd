import EventLoop
import RedisProtocol

/// RESP to redis servers: RESP2 and RESP3 connections, PING probes, `-ERR` errors.
enum RedisWire: BackendWire {
    struct Framer: ReplyFraming {
        private var framer = ReplyFramer()

        @inline(__always)
        mutating func nextReply(_ bytes: UnsafeRawBufferPointer) -> WireFrame {
            switch framer.frame(bytes) {
            case .reply(let length, let type):
                return .reply(length: length, isError: RESPType.isError(type), outOfBand: type == RESPType.push)
            case .incomplete(let atLeast):
                return .incomplete(atLeast: atLeast)
            case .invalid(let what):
                return .invalid(what)
            }
        }
    }

    static let probeFrame: [UInt8] = Array("*1\r\n$4\r\nPING\r\n".utf8)
    /// Variant 0 speaks RESP2, variant 1 RESP3.
    static let variants = 2
    static let protocolName = "redis"

    /// Variant 0: `AUTH [user] password` with credentials, else nothing. Variant 1: `HELLO 3`, with
    /// `AUTH user password` (user `default` when none is given) when there are credentials.
    static func handshake(variant: Int, credentials: BackendCredentials?) -> [UInt8]? {
        // Pipelined ahead of any client request: the server switches (and authenticates) before it
        // reads them, and a refusal fails the connection before any of them is answered.
        var frame: [UInt8] = []
        if variant == 1 {
            var arguments = ["HELLO", "3"]
            if let credentials { arguments += ["AUTH", credentials.user ?? "default", credentials.password] }
            RESPEncoder.command(arguments, into: &frame)
            return frame
        }
        guard let credentials else { return nil }
        RESPEncoder.command(["AUTH"] + (credentials.user.map { [$0] } ?? []) + [credentials.password], into: &frame)
        return frame
    }

    /// The connection variant for a client speaking RESP `protocolVersion`.
    @inline(__always)
    static func variant(protocolVersion: Int) -> Int { protocolVersion == 3 ? 1 : 0 }

    static func unavailableReply(endpoint: Endpoint, reason: String) -> [UInt8] {
        var out: [UInt8] = []
        RESPEncoder.error("ERR backend \(endpoint) unavailable: \(oneLine(reason))", into: &out)
        return out
    }

    static let noClusterReply: [UInt8] = Array("-ERR no cluster is available for this read\r\n".utf8)

    @inline(__always)
    static func isError(_ reply: UnsafeRawBufferPointer) -> Bool {
        reply.first.map(RESPType.isError) ?? true
    }

    /// Redis writes are made deterministic (absolute expiry) before they are sent at all.
    static func frameForLater(_ frame: UnsafeRawBufferPointer, nowSeconds: Int64) -> [UInt8]? { nil }

    /// Byte for byte: both clusters answered the same command in the same protocol version.
    static func sameData(_ a: UnsafeRawBufferPointer, _ b: UnsafeRawBufferPointer) -> Bool {
        a.elementsEqual(b)
    }

    static func repairKeys(_ frame: UnsafeRawBufferPointer) -> [[UInt8]]? {
        KeyRepair.keys(ofWrite: frame)
    }

    static func repairReadFrames(key: [UInt8]) -> [[UInt8]] {
        KeyRepair.readFrames(key: key)
    }

    static func repairWrite(key: [UInt8], reply: UnsafeRawBufferPointer, nowMillis: Int64) -> [UInt8]? {
        KeyRepair.restoreFrame(key: key, execReply: reply, nowMillis: nowMillis)
    }

    static func isSafeToRepeat(_ frame: UnsafeRawBufferPointer) -> Bool {
        ReplaySafety.isSafeToRepeat(frame)
    }

    @inline(__always)
    static func requestCount(_ frame: UnsafeRawBufferPointer) -> Int {
        RequestBlock.replyCount(frame)
    }

    static func isMissingScript(_ reply: UnsafeRawBufferPointer) -> Bool {
        ScriptFrames.isNoScript(reply)
    }

    static func scriptLoadFrame(body: [UInt8]) -> [UInt8]? {
        ScriptFrames.load(body: body)
    }
}
