import Testing
import RedisProtocol

private func b(_ s: String) -> [UInt8] { Array(s.utf8) }
private func text(_ bytes: [UInt8]) -> String { String(decoding: bytes, as: UTF8.self) }
private func classify(_ s: String) -> PubSubFrame { b(s).withUnsafeBytes { Subscriptions.classify($0) } }

/// The confirmations and bookkeeping of `Subscriptions`, with the bytes redis-server 7.0 sent for
/// the same commands (see `SubscriptionsRealRedisTests` for the live comparison).
@Suite("Subscriptions")
struct SubscriptionsTests {
    @Test func subscribeConfirmsEachNameWithRedisCounts() {
        var s = Subscriptions()
        #expect(s.isEmpty)
        #expect(text(s.subscribe(.channel, [b("a"), b("b"), b("a")], protocolVersion: 2))
            == "*3\r\n$9\r\nsubscribe\r\n$1\r\na\r\n:1\r\n*3\r\n$9\r\nsubscribe\r\n$1\r\nb\r\n:2\r\n*3\r\n$9\r\nsubscribe\r\n$1\r\na\r\n:2\r\n")
        #expect(text(s.subscribe(.pattern, [b("p*")], protocolVersion: 3)) == ">3\r\n$10\r\npsubscribe\r\n$2\r\np*\r\n:3\r\n")
        // Shard channels are counted apart.
        #expect(text(s.subscribe(.shardChannel, [b("s")], protocolVersion: 2)) == "*3\r\n$10\r\nssubscribe\r\n$1\r\ns\r\n:1\r\n")
        #expect(!s.isEmpty)
        #expect(s.names(.channel) == [b("a"), b("b")])
        #expect(s.names(.pattern) == [b("p*")])
        #expect(s.names(.shardChannel) == [b("s")])
    }

    @Test func unsubscribeAllGoesInSubscriptionOrderThenConfirmsANullName() {
        var s = Subscriptions()
        _ = s.subscribe(.channel, [b("z"), b("a"), b("m")], protocolVersion: 2)
        _ = s.subscribe(.pattern, [b("p*")], protocolVersion: 2)
        #expect(text(s.unsubscribe(.channel, [], protocolVersion: 2))
            == "*3\r\n$11\r\nunsubscribe\r\n$1\r\nz\r\n:3\r\n*3\r\n$11\r\nunsubscribe\r\n$1\r\na\r\n:2\r\n*3\r\n$11\r\nunsubscribe\r\n$1\r\nm\r\n:1\r\n")
        #expect(text(s.unsubscribe(.channel, [], protocolVersion: 2)) == "*3\r\n$11\r\nunsubscribe\r\n$-1\r\n:1\r\n")
        #expect(text(s.unsubscribe(.channel, [], protocolVersion: 3)) == ">3\r\n$11\r\nunsubscribe\r\n_\r\n:1\r\n")
        #expect(text(s.unsubscribe(.pattern, [], protocolVersion: 3)) == ">3\r\n$12\r\npunsubscribe\r\n$2\r\np*\r\n:0\r\n")
        #expect(s.isEmpty)
        #expect(text(s.unsubscribe(.shardChannel, [], protocolVersion: 2)) == "*3\r\n$12\r\nsunsubscribe\r\n$-1\r\n:0\r\n")
    }

    @Test func unsubscribingANameNotSubscribedStillConfirmsIt() {
        var s = Subscriptions()
        _ = s.subscribe(.channel, [b("c")], protocolVersion: 2)
        #expect(text(s.unsubscribe(.pattern, [b("x")], protocolVersion: 2)) == "*3\r\n$12\r\npunsubscribe\r\n$1\r\nx\r\n:1\r\n")
        #expect(text(s.unsubscribe(.channel, [b("zz"), b("c")], protocolVersion: 2))
            == "*3\r\n$11\r\nunsubscribe\r\n$2\r\nzz\r\n:1\r\n*3\r\n$11\r\nunsubscribe\r\n$1\r\nc\r\n:0\r\n")
        #expect(s.isEmpty)
    }

    @Test func namesMayHoldAnyBytes() {
        var s = Subscriptions()
        let odd: [UInt8] = [0, 13, 10, 255] + b("\r\n*1\r\n")
        let out = s.subscribe(.channel, [odd, []], protocolVersion: 2)
        #expect(out == b("*3\r\n$9\r\nsubscribe\r\n$10\r\n") + odd + b("\r\n:1\r\n*3\r\n$9\r\nsubscribe\r\n$0\r\n\r\n:2\r\n"))
        #expect(s.names(.channel) == [odd, []])
    }

    @Test func aResubscribedNameKeepsItsFirstPlace() {
        var s = Subscriptions()
        _ = s.subscribe(.channel, [b("a"), b("b"), b("c")], protocolVersion: 2)
        _ = s.subscribe(.channel, [b("a")], protocolVersion: 2)
        _ = s.unsubscribe(.channel, [b("b")], protocolVersion: 2)
        _ = s.subscribe(.channel, [b("b")], protocolVersion: 2)
        #expect(s.names(.channel) == [b("a"), b("c"), b("b")])
    }

    @Test func resubscribeFramesRecreateEveryKindInOrder() {
        var s = Subscriptions()
        #expect(s.resubscribeFrames().isEmpty)
        _ = s.subscribe(.shardChannel, [b("s1"), b("s2")], protocolVersion: 3)
        _ = s.subscribe(.channel, [b("b"), b("a")], protocolVersion: 3)
        #expect(s.resubscribeFrames().map(text) == [
            "*3\r\n$9\r\nSUBSCRIBE\r\n$1\r\nb\r\n$1\r\na\r\n",
            "*3\r\n$10\r\nSSUBSCRIBE\r\n$2\r\ns1\r\n$2\r\ns2\r\n",
        ])
        _ = s.subscribe(.pattern, [b("p*")], protocolVersion: 3)
        #expect(s.resubscribeFrames().map(text)[1] == "*2\r\n$10\r\nPSUBSCRIBE\r\n$2\r\np*\r\n")
        s.removeAll()
        #expect(s.isEmpty)
        #expect(s.resubscribeFrames().isEmpty)
        #expect(s.names(.channel).isEmpty)
        // Counting starts again from nothing after RESET.
        #expect(text(s.subscribe(.channel, [b("x")], protocolVersion: 2)).hasSuffix(":1\r\n"))
    }

    @Test func pingRepliesPerProtocol() {
        #expect(text(Subscriptions.pingReply(argument: nil, protocolVersion: 2)) == "*2\r\n$4\r\npong\r\n$0\r\n\r\n")
        #expect(text(Subscriptions.pingReply(argument: b("hi"), protocolVersion: 2)) == "*2\r\n$4\r\npong\r\n$2\r\nhi\r\n")
        #expect(text(Subscriptions.pingReply(argument: nil, protocolVersion: 3)) == "+PONG\r\n")
        #expect(text(Subscriptions.pingReply(argument: b("hi"), protocolVersion: 3)) == "$2\r\nhi\r\n")
    }

    @Test func notAllowedErrorUsesRedisWording() {
        #expect(Subscriptions.notAllowedError(command: "GET")
            == "ERR Can't execute 'get': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context")
        #expect(Subscriptions.notAllowedError(command: "config|get").contains("'config|get'"))
    }

    @Test func classifyTellsMessagesFromConfirmationsPongsAndErrors() {
        for frame in ["*3\r\n$7\r\nmessage\r\n$1\r\nc\r\n$2\r\nhi\r\n", ">3\r\n$7\r\nmessage\r\n$1\r\nc\r\n$0\r\n\r\n",
                      "*4\r\n$8\r\npmessage\r\n$2\r\np*\r\n$2\r\npx\r\n$1\r\nm\r\n", ">4\r\n$8\r\npmessage\r\n$2\r\np*\r\n$2\r\npx\r\n$1\r\nm\r\n",
                      "*3\r\n$8\r\nsmessage\r\n$1\r\ns\r\n$1\r\nm\r\n", ">3\r\n$8\r\nsmessage\r\n$1\r\ns\r\n$1\r\nm\r\n"] {
            #expect(classify(frame) == .message, "\(frame)")
        }
        for word in ["subscribe", "unsubscribe", "psubscribe", "punsubscribe", "ssubscribe", "sunsubscribe"] {
            #expect(classify("*3\r\n$\(word.utf8.count)\r\n\(word)\r\n$1\r\nc\r\n:1\r\n") == .confirmation, "\(word)")
            #expect(classify(">3\r\n$\(word.utf8.count)\r\n\(word)\r\n_\r\n:0\r\n") == .confirmation, "\(word)")
        }
        #expect(classify("*2\r\n$4\r\npong\r\n$0\r\n\r\n") == .pong)
        #expect(classify("+PONG\r\n") == .pong)
        #expect(classify("-ERR wrong\r\n") == .error)
        #expect(classify("!3\r\nerr\r\n") == .error)
        for frame in ["", "+OK\r\n", "$4\r\nPONG\r\n", ">2\r\n$4\r\npong\r\n$0\r\n\r\n", ">2\r\n$10\r\ninvalidate\r\n*1\r\n$1\r\nk\r\n",
                      "%1\r\n$6\r\nserver\r\n$5\r\nredis\r\n", "*3\r\n$7\r\nMESSAGE\r\n$1\r\nc\r\n$1\r\nm\r\n",
                      "*4\r\n$7\r\nmessage\r\n$1\r\nc\r\n$1\r\nm\r\n$1\r\nx\r\n", "*3\r\n$8\r\npmessage\r\n$1\r\nc\r\n$1\r\nm\r\n",
                      "*3\r\n:1\r\n:2\r\n:3\r\n", "*3\r\n$-1\r\n:2\r\n:3\r\n", "*3\r\n$99\r\nmessage\r\n", "*-1\r\n", "*0\r\n", "*3\r\n$7\r\nmess"] {
            #expect(classify(frame) == .other, "\(frame)")
        }
    }
}
