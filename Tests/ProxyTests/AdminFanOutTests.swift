@testable import Proxy
import Testing

/// How the replies of every server to an allowed administrative command become the client's one.
@Suite struct AdminFanOutTests {
    private let names = ["dc-a", "dc-b", "dc-c"]

    private func merge(_ replies: [String], clusters: [Int], unreached: [Int] = [], local: Int = 0) -> String {
        let parts = AdminFanOut.Parts(clusters: clusters)
        for i in unreached { parts.unreached[i] = true }
        let out = AdminFanOut.merge(replies.map { Array($0.utf8) }, parts: parts, local: local, clusterNames: names, command: "CONFIG SET")
        return String(decoding: out, as: UTF8.self)
    }

    @Test func everyServerAlikeGivesTheLocalReply() {
        #expect(merge(["+OK\r\n", "+OK\r\n", "+OK\r\n"], clusters: [0, 1, 2]) == "+OK\r\n")
    }

    @Test func differingSuccessesGiveTheLocalClustersFirstServer() {
        #expect(merge([":1\r\n", ":2\r\n", ":3\r\n", ":4\r\n"], clusters: [0, 1, 1, 2], local: 1) == ":2\r\n")
        #expect(merge([":1\r\n", ":2\r\n"], clusters: [0, 1], local: 0) == ":1\r\n")
    }

    @Test func theFirstErrorWinsTheLocalClustersFirst() {
        let replies = ["+OK\r\n", "-ERR b\r\n", "-ERR c\r\n"]
        #expect(merge(replies, clusters: [0, 1, 2], local: 0) == "-ERR b\r\n")
        #expect(merge(replies, clusters: [0, 1, 2], local: 2) == "-ERR c\r\n")
        #expect(merge(["+OK\r\n", "-WRONGTYPE x\r\n"], clusters: [0, 0]) == "-WRONGTYPE x\r\n")
    }

    @Test func unreachedClustersAreNamedBeforeAnyReply() {
        let replies = ["-ERR c\r\n", "+OK\r\n", "-ERR backend h:1 unavailable: not connected\r\n", "-ERR down\r\n"]
        #expect(merge(replies, clusters: [0, 1, 1, 2], unreached: [2, 3])
            == "-ERR CONFIG SET: no answer from dc-b, dc-c (down, or the connection was lost before a reply: it may or may not have run there); the other clusters answered\r\n")
        #expect(merge(["-ERR x\r\n", "-ERR y\r\n"], clusters: [2, 0], unreached: [0, 1])
            == "-ERR CONFIG SET: no answer from dc-a, dc-c (down, or the connection was lost before a reply: it may or may not have run there); no cluster answered\r\n")
    }
}
