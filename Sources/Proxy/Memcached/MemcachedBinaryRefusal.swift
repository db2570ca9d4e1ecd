/// The answer to a client speaking memcached's binary protocol, which the proxy does not: one binary
/// response packet with status 0x0081 (unknown command) and a message a person can read, so the
/// client library reports why instead of hanging. The connection is closed after it.
enum MemcachedBinaryRefusal {
    static let message = Array("binary protocol is not supported by metacluster; use the text or meta protocol".utf8)

    /// `request` holds what the client sent so far; its opcode and opaque are echoed when present.
    static func packet(request: UnsafeRawBufferPointer) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: 24)
        out[0] = 0x81  // response magic
        out[1] = request.count > 1 ? request[1] : 0
        out[6] = 0x00
        out[7] = 0x81  // status: unknown command
        let bodyLength = UInt32(message.count)
        out[8] = UInt8(truncatingIfNeeded: bodyLength >> 24)
        out[9] = UInt8(truncatingIfNeeded: bodyLength >> 16)
        out[10] = UInt8(truncatingIfNeeded: bodyLength >> 8)
        out[11] = UInt8(truncatingIfNeeded: bodyLength)
        if request.count >= 16 {
            for i in 12..<16 { out[i] = request[i] }
        }
        return out + message
    }
}
