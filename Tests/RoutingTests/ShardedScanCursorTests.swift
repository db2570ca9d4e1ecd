import Routing
import Testing

@Suite("ShardedScanCursor")
struct ShardedScanCursorTests {
    /// Walks every server of `cluster` as a client would: each server hands out `steps` non-zero
    /// cursors before 0. Returns the (server, serverCursor) pairs the proxy asked for, in order.
    func walk(cluster: Int, servers counts: [Int], steps: Int, firstCursor: UInt64 = 7) -> [(Int, UInt64)] {
        var asked: [(Int, UInt64)] = [(0, 0)]
        var state = ShardedScanCursor(cluster: cluster, server: 0, serverCursor: 0)
        var calls = 0
        while true {
            calls += 1
            #expect(calls < 1000)
            // The fake server answers cursor k+1 for the k-th call, 0 after `steps`.
            let next: UInt64 = state.serverCursor >= firstCursor + UInt64(steps - 1) ? 0
                : (state.serverCursor == 0 ? firstCursor : state.serverCursor + 1)
            guard let client = ShardedScanCursor.advance(
                cluster: cluster, clusters: counts.count, server: state.server, servers: counts[cluster], next: next)
            else { Issue.record("overflow"); return asked }
            if client == 0 { return asked }
            state = ShardedScanCursor.decode(client, clusters: counts.count) { counts[$0] }
            #expect(state.cluster == cluster)
            asked.append((state.server, state.serverCursor))
        }
    }

    @Test func aScanVisitsEveryServerInTurnAndEndsWithZero() {
        let counts = [3, 1, 4]
        for cluster in counts.indices {
            let asked = walk(cluster: cluster, servers: counts, steps: 3)
            let servers = asked.map(\.0)
            var expected: [Int] = []
            for s in 0..<counts[cluster] { expected += [s, s, s, s] }
            #expect(servers == expected)
            // Each server starts from 0 and then follows its own cursors.
            for s in 0..<counts[cluster] {
                #expect(asked.filter { $0.0 == s }.map(\.1) == [0, 7, 8, 9])
            }
        }
    }

    @Test func cursorsInBetweenAreNeverZero() {
        for clusters in 1...4 {
            for servers in 1...5 {
                for cluster in 0..<clusters {
                    for server in 0..<servers {
                        for next: UInt64 in [1, 2, 1000, 1 << 40] {
                            let c = ShardedScanCursor.advance(cluster: cluster, clusters: clusters, server: server, servers: servers, next: next)
                            #expect(c != 0 && c != nil)
                            let d = ShardedScanCursor.decode(c!, clusters: clusters) { _ in servers }
                            #expect(d == ShardedScanCursor(cluster: cluster, server: server, serverCursor: next))
                        }
                    }
                }
            }
        }
    }

    @Test func theLastServerFinishingEndsTheScan() {
        #expect(ShardedScanCursor.advance(cluster: 1, clusters: 2, server: 2, servers: 3, next: 0) == 0)
        #expect(ShardedScanCursor.advance(cluster: 1, clusters: 2, server: 1, servers: 3, next: 0) != 0)
    }

    @Test func aCursorTooLargeToEncodeIsReported() {
        #expect(ShardedScanCursor.advance(cluster: 0, clusters: 2, server: 0, servers: 3, next: UInt64.max / 2) == nil)
        #expect(ShardedScanCursor.advance(cluster: 0, clusters: 1, server: 0, servers: 1, next: UInt64.max) == UInt64.max)
    }
}
