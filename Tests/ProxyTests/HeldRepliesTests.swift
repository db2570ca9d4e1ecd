import Testing
@testable import Proxy

@Suite struct HeldRepliesTests {
    private func text(_ held: HeldReplies, _ cluster: Int) -> String? {
        held.reply(cluster: cluster).map { String(decoding: $0.storage[$0.range], as: UTF8.self) }
    }

    @Test func keepsOneReplyPerClusterAndForgetsThemOnClear() {
        var held = HeldReplies()
        #expect(held.isEmpty)
        Array("-ERR down\r\n".utf8).withUnsafeBytes { held.keep($0, cluster: 2, clusters: 3) }
        Array("+OK\r\n".utf8).withUnsafeBytes { held.keep($0, cluster: 0, clusters: 3) }
        #expect(text(held, 0) == "+OK\r\n")
        #expect(text(held, 1) == nil)
        #expect(text(held, 2) == "-ERR down\r\n")
        #expect(text(held, 5) == nil)
        // A later reply from the same cluster replaces the earlier one.
        Array(":1\r\n".utf8).withUnsafeBytes { held.keep($0, cluster: 0, clusters: 3) }
        #expect(text(held, 0) == ":1\r\n")
        held.clear()
        #expect(held.isEmpty)
        #expect(text(held, 0) == nil && text(held, 2) == nil)
        // An empty reply still counts as kept.
        held.keep(UnsafeRawBufferPointer(start: nil, count: 0), cluster: 1, clusters: 3)
        #expect(text(held, 1) == "")
        #expect(!held.isEmpty)
    }
}
