@testable import Proxy
import Testing

/// What each backend connection variant sends first, with and without credentials.
@Suite struct BackendHandshakeTests {
    private func redis(_ variant: Int, _ credentials: BackendCredentials?) -> String? {
        RedisWire.handshake(variant: variant, credentials: credentials).map { String(decoding: $0, as: UTF8.self) }
    }

    @Test func redisWithoutCredentialsOnlySwitchesRESP3() {
        #expect(redis(0, nil) == nil)
        #expect(redis(1, nil) == "*2\r\n$5\r\nHELLO\r\n$1\r\n3\r\n")
    }

    @Test func redisRESP2AuthenticatesWithAUTH() {
        #expect(redis(0, BackendCredentials(password: "bpw")) == "*2\r\n$4\r\nAUTH\r\n$3\r\nbpw\r\n")
        #expect(redis(0, BackendCredentials(user: "proxy", password: "p w")) == "*3\r\n$4\r\nAUTH\r\n$5\r\nproxy\r\n$3\r\np w\r\n")
    }

    @Test func redisRESP3AuthenticatesInHELLO() {
        #expect(redis(1, BackendCredentials(password: "bpw"))
            == "*5\r\n$5\r\nHELLO\r\n$1\r\n3\r\n$4\r\nAUTH\r\n$7\r\ndefault\r\n$3\r\nbpw\r\n")
        #expect(redis(1, BackendCredentials(user: "proxy", password: "bpw"))
            == "*5\r\n$5\r\nHELLO\r\n$1\r\n3\r\n$4\r\nAUTH\r\n$5\r\nproxy\r\n$3\r\nbpw\r\n")
        // Non-ASCII passwords go as their UTF-8 bytes, counted as bytes.
        #expect(redis(1, BackendCredentials(password: "é"))?.hasSuffix("$2\r\né\r\n") == true)
    }

    @Test func memcachedIgnoresCredentials() {
        #expect(MemcachedWire.handshake(variant: 0, credentials: nil) == nil)
        #expect(MemcachedWire.handshake(variant: 0, credentials: BackendCredentials(user: "u", password: "p")) == nil)
    }
}
