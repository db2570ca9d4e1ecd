import MemcachedProtocol

/// The memcached text/meta protocol to memcached servers: `version` probes, `SERVER_ERROR` errors.
enum MemcachedWire: BackendWire {
    struct Framer: ReplyFraming {
        private var framer = MemcachedReplyFramer()

        @inline(__always)
        mutating func nextReply(_ bytes: UnsafeRawBufferPointer) -> WireFrame {
            switch framer.frame(bytes) {
            case .reply(let length, let isError):
                return .reply(length: length, isError: isError, outOfBand: false)
            case .incomplete(let atLeast):
                return .incomplete(atLeast: atLeast)
            case .invalid(let what):
                return .invalid(what)
            }
        }
    }

    static let probeFrame: [UInt8] = Array("version\r\n".utf8)
    static let variants = 1
    static let protocolName = "memcached"

    /// memcached's text protocol has no authentication (SASL is binary-only): credentials are ignored.
    static func handshake(variant: Int, credentials: BackendCredentials?) -> [UInt8]? { nil }

    static func unavailableReply(endpoint: Endpoint, reason: String) -> [UInt8] {
        Array("SERVER_ERROR backend \(endpoint) unavailable: \(oneLine(reason))\r\n".utf8)
    }

    static let noClusterReply: [UInt8] = Array("SERVER_ERROR no cluster is available for this request\r\n".utf8)

    /// ERROR, CLIENT_ERROR and SERVER_ERROR; NOT_STORED, EXISTS, NOT_FOUND and the meta codes are outcomes.
    @inline(__always)
    static func isError(_ reply: UnsafeRawBufferPointer) -> Bool {
        guard let first = reply.first else { return true }
        switch first {
        case UInt8(ascii: "E"): return hasPrefix(reply, "ERROR")
        case UInt8(ascii: "C"): return hasPrefix(reply, "CLIENT_ERROR")
        case UInt8(ascii: "S"): return hasPrefix(reply, "SERVER_ERROR")
        default: return false
        }
    }

    @inline(__always)
    static func hasPrefix(_ bytes: UnsafeRawBufferPointer, _ prefix: StaticString) -> Bool {
        let count = prefix.utf8CodeUnitCount
        guard bytes.count >= count else { return false }
        let p = prefix.utf8Start
        for i in 0..<count where bytes[i] != p[i] { return false }
        return true
    }

    /// memcached reads an exptime of up to 30 days as relative: a write delivered late must carry the
    /// absolute time so it expires when the original would have.
    static func frameForLater(_ frame: UnsafeRawBufferPointer, nowSeconds: Int64) -> [UInt8]? {
        MemcachedExpiry.absolute(frame, nowSeconds: nowSeconds)
    }

    /// Values and flags, not the cas unique or access times (see `MemcachedReplyEquivalence`).
    static func sameData(_ a: UnsafeRawBufferPointer, _ b: UnsafeRawBufferPointer) -> Bool {
        MemcachedReplyEquivalence.same(a, b)
    }

    static func repairKeys(_ frame: UnsafeRawBufferPointer) -> [[UInt8]]? {
        MemcachedKeyRepair.key(ofWrite: frame).map { [$0] }
    }

    static func repairReadFrames(key: [UInt8]) -> [[UInt8]] {
        [MemcachedKeyRepair.readFrame(key: key)]
    }

    static func repairWrite(key: [UInt8], reply: UnsafeRawBufferPointer, nowMillis: Int64) -> [UInt8]? {
        MemcachedKeyRepair.restoreFrame(key: key, reply: reply, nowSeconds: nowMillis / 1000)
    }

    /// One request, one reply: memcached has no blocks.
    @inline(__always)
    static func requestCount(_ frame: UnsafeRawBufferPointer) -> Int { 1 }

    static func isSafeToRepeat(_ frame: UnsafeRawBufferPointer) -> Bool {
        MemcachedReplaySafety.isSafeToRepeat(frame)
    }

    /// memcached has no scripts.
    static func isMissingScript(_ reply: UnsafeRawBufferPointer) -> Bool { false }

    static func scriptLoadFrame(body: [UInt8]) -> [UInt8]? { nil }
}
