@testable import Proxy
import Testing

/// The two wire conformances classify replies the way the fan-out needs: only error replies are
/// failures; conditional outcomes (NOT_STORED, EXISTS, EN, NS ...) are successes with their own bytes.
@Suite struct BackendWireTests {
    private func memcachedIsError(_ text: String) -> Bool {
        Array(text.utf8).withUnsafeBytes { MemcachedWire.isError($0) }
    }

    private func redisIsError(_ text: String) -> Bool {
        Array(text.utf8).withUnsafeBytes { RedisWire.isError($0) }
    }

    @Test func memcachedErrorsAreTheThreeErrorLines() {
        for line in ["ERROR\r\n", "CLIENT_ERROR bad data chunk\r\n", "SERVER_ERROR out of memory\r\n", ""] {
            #expect(memcachedIsError(line), "\(line)")
        }
        for line in ["STORED\r\n", "NOT_STORED\r\n", "EXISTS\r\n", "NOT_FOUND\r\n", "END\r\n", "HD\r\n", "EN\r\n",
                     "NS\r\n", "EX\r\n", "NF\r\n", "MN\r\n", "VALUE k 0 1\r\nx\r\nEND\r\n", "42\r\n", "DELETED\r\n",
                     "TOUCHED\r\n", "OK\r\n", "VERSION 1.6.18\r\n", "SERVER\r\n", "CLIENT\r\n", "ERR\r\n"] {
            #expect(!memcachedIsError(line), "\(line)")
        }
    }

    @Test func redisErrorsAreSimpleAndBlobErrors() {
        #expect(redisIsError("-ERR x\r\n"))
        #expect(redisIsError("!3\r\nerr\r\n"))
        #expect(redisIsError(""))
        #expect(!redisIsError("+OK\r\n"))
        #expect(!redisIsError("$-1\r\n"))
    }

    @Test func unavailableRepliesAreOneLineInTheClientsProtocol() {
        let endpoint = Endpoint(host: "10.0.0.1", port: 11211)
        let mc = String(decoding: MemcachedWire.unavailableReply(endpoint: endpoint, reason: "reset\r\nby peer"), as: UTF8.self)
        #expect(mc == "SERVER_ERROR backend 10.0.0.1:11211 unavailable: reset by peer\r\n")
        let redis = String(decoding: RedisWire.unavailableReply(endpoint: endpoint, reason: "refused"), as: UTF8.self)
        #expect(redis == "-ERR backend 10.0.0.1:11211 unavailable: refused\r\n")
    }

    @Test func binaryRefusalIsAResponsePacketEchoingOpcodeAndOpaque() {
        // A binary GET request header: magic 0x80, opcode 0x00, opaque 0xDEADBEEF.
        var request = [UInt8](repeating: 0, count: 24)
        request[0] = 0x80
        request[1] = 0x0c
        request[12...15] = [0xde, 0xad, 0xbe, 0xef]
        let packet = request.withUnsafeBytes { MemcachedBinaryRefusal.packet(request: $0) }
        #expect(packet[0] == 0x81)
        #expect(packet[1] == 0x0c)
        #expect(packet[6] == 0x00 && packet[7] == 0x81)
        let body = Int(packet[8]) << 24 | Int(packet[9]) << 16 | Int(packet[10]) << 8 | Int(packet[11])
        #expect(body == packet.count - 24)
        #expect(Array(packet[12...15]) == [0xde, 0xad, 0xbe, 0xef])
        #expect(String(decoding: packet[24...], as: UTF8.self).contains("binary protocol is not supported"))
        // Only the magic byte arrived so far: still a well-formed packet.
        let short = [UInt8(0x80)].withUnsafeBytes { MemcachedBinaryRefusal.packet(request: $0) }
        #expect(short.count == packet.count && short[1] == 0)
    }
}
