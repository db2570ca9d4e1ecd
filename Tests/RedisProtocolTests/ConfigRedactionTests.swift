import RedisProtocol
import Testing

@Suite("ConfigRedaction")
struct ConfigRedactionTests {
    @Test func secretsAreHiddenInBothProtocols() {
        let resp2 = Array("*4\r\n$11\r\nrequirepass\r\n$6\r\nsecret\r\n$9\r\nmaxmemory\r\n$1\r\n0\r\n".utf8)
        #expect(ConfigRedaction.redacted(resp2) == Array("*4\r\n$11\r\nrequirepass\r\n$10\r\n<redacted>\r\n$9\r\nmaxmemory\r\n$1\r\n0\r\n".utf8))
        let resp3 = Array("%1\r\n$10\r\nmasterauth\r\n$2\r\npw\r\n".utf8)
        #expect(ConfigRedaction.redacted(resp3) == Array("%1\r\n$10\r\nmasterauth\r\n$10\r\n<redacted>\r\n".utf8))
    }

    @Test func otherRepliesAreUnchanged() {
        for reply in ["*2\r\n$9\r\nmaxmemory\r\n$1\r\n0\r\n", "-ERR nope\r\n", "*0\r\n", "*2\r\n$11\r\nrequirepass\r\n$0\r\n\r\n"] {
            let bytes = Array(reply.utf8)
            if reply.contains("requirepass") {
                #expect(ConfigRedaction.redacted(bytes) != bytes, "an empty password is hidden too")
            } else {
                #expect(ConfigRedaction.redacted(bytes) == bytes)
            }
        }
    }
}
