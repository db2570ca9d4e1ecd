/// The RESP the proxy reads and writes to give a server a script it lost: recognising the
/// `NOSCRIPT` error an `EVALSHA` gets from a server whose script cache lacks the script, and the
/// `SCRIPT LOAD` request that gives it back.
public enum ScriptFrames {
    private static let noScript: [UInt8] = Array("NOSCRIPT".utf8)

    /// Whether `reply` is Redis's `NOSCRIPT` error, as a simple error (`-NOSCRIPT ...`, what Redis
    /// sends in both protocols) or a RESP3 blob error (`!<length>\r\nNOSCRIPT ...`).
    public static func isNoScript(_ reply: UnsafeRawBufferPointer) -> Bool {
        guard let type = reply.first else { return false }
        var start: Int
        switch type {
        case RESPType.error:
            start = 1
        case RESPType.blobError:
            guard let lineEnd = reply.firstIndex(of: UInt8(ascii: "\n")) else { return false }
            start = lineEnd + 1
        default:
            return false
        }
        guard reply.count >= start + noScript.count else { return false }
        for byte in noScript {
            if reply[start] != byte { return false }
            start += 1
        }
        return true
    }

    /// `SCRIPT LOAD body`.
    public static func load(body: some Collection<UInt8>) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(body.count + 40)
        RESPEncoder.arrayHeader(3, into: &out)
        RESPEncoder.bulk("SCRIPT", into: &out)
        RESPEncoder.bulk("LOAD", into: &out)
        RESPEncoder.bulk(body, into: &out)
        return out
    }
}
