import Testing

import Routing

/// A tracker with the given estimates (cluster → nanoseconds); the others unmeasured.
private func latency(_ n: Int, _ estimates: [Int: UInt64]) -> LatencyTracker {
    var t = LatencyTracker(clusterCount: n, alpha: 1)
    for (cluster, rtt) in estimates { t.record(cluster: cluster, rttNanoseconds: rtt, at: 0) }
    return t
}

private func mask(_ clusters: Int...) -> UInt64 {
    clusters.reduce(0) { $0 | 1 << UInt64($1) }
}

/// A ranking case: clusters, locals, healthy set, estimates, and the order expected.
struct RankingCase: Sendable, CustomTestStringConvertible {
    let name: String
    let clusters: Int
    let local: UInt64
    let healthy: UInt64
    let estimates: [Int: UInt64]
    let order: [Int]
    let healthyCount: Int
    var testDescription: String { name }
}

private let rankingCases: [RankingCase] = [
    RankingCase(name: "local first though a remote is faster", clusters: 3, local: mask(2), healthy: mask(0, 1, 2),
                estimates: [0: 1_000, 1: 2_000, 2: 9_000], order: [2, 0, 1], healthyCount: 3),
    RankingCase(name: "remotes by latency", clusters: 4, local: mask(0), healthy: mask(0, 1, 2, 3),
                estimates: [0: 5, 1: 30, 2: 10, 3: 20], order: [0, 2, 3, 1], healthyCount: 4),
    RankingCase(name: "locals by latency", clusters: 4, local: mask(0, 1), healthy: mask(0, 1, 2, 3),
                estimates: [0: 50, 1: 10, 2: 1, 3: 2], order: [1, 0, 2, 3], healthyCount: 4),
    RankingCase(name: "unmeasured after measured, by index", clusters: 5, local: 0, healthy: mask(0, 1, 2, 3, 4),
                estimates: [3: 10, 1: 20], order: [3, 1, 0, 2, 4], healthyCount: 5),
    RankingCase(name: "an unmeasured local still before measured remotes", clusters: 3, local: mask(1, 2),
                healthy: mask(0, 1, 2), estimates: [0: 1, 2: 5], order: [2, 1, 0], healthyCount: 3),
    RankingCase(name: "ties by index", clusters: 4, local: 0, healthy: mask(0, 1, 2, 3),
                estimates: [3: 10, 2: 10, 1: 10, 0: 11], order: [1, 2, 3, 0], healthyCount: 4),
    RankingCase(name: "unhealthy last, locals first, by index", clusters: 5, local: mask(1, 3), healthy: mask(0, 1, 4),
                estimates: [0: 20, 1: 90, 2: 1, 3: 1, 4: 10], order: [1, 4, 0, 3, 2], healthyCount: 3),
    RankingCase(name: "a down local goes behind healthy remotes", clusters: 3, local: mask(0), healthy: mask(1, 2),
                estimates: [0: 1, 1: 30, 2: 20], order: [2, 1, 0], healthyCount: 2),
    RankingCase(name: "everything down: still a plan", clusters: 4, local: mask(2), healthy: 0,
                estimates: [0: 3, 1: 2, 3: 1], order: [2, 0, 1, 3], healthyCount: 0),
    RankingCase(name: "healthy bits beyond the count are ignored", clusters: 2, local: mask(1), healthy: ~0,
                estimates: [:], order: [1, 0], healthyCount: 2),
    RankingCase(name: "one cluster", clusters: 1, local: 0, healthy: mask(0),
                estimates: [0: 7], order: [0], healthyCount: 1),
    RankingCase(name: "latencies beyond the key's range keep their order after smaller ones", clusters: 3, local: 0,
                healthy: mask(0, 1, 2), estimates: [0: .max, 1: 1 << 62, 2: 5], order: [2, 0, 1], healthyCount: 3),
]

@Test(arguments: rankingCases)
func rankingOrder(_ c: RankingCase) {
    var ranking = ReadRanking(clusterCount: c.clusters, localMask: c.local)
    _ = ranking.update(healthyMask: c.healthy, latency: latency(c.clusters, c.estimates))
    #expect(ranking.order == c.order)
    #expect(ranking.healthyCount == c.healthyCount)
}

@Test func beforeAnyUpdateLocalsThenRemotesByIndex() {
    let ranking = ReadRanking(clusterCount: 5, localMask: mask(1, 3))
    #expect(ranking.order == [1, 3, 0, 2, 4])
    #expect(ranking.healthyCount == 5)
}

@Test func changeDetection() {
    var ranking = ReadRanking(clusterCount: 4, localMask: mask(0))
    let all = mask(0, 1, 2, 3)
    // Same plan as the initial one: no change.
    #expect(ranking.update(healthyMask: all, latency: latency(4, [:])) == false)
    // Measuring reorders the remotes: change; the same again: none.
    #expect(ranking.update(healthyMask: all, latency: latency(4, [1: 30, 2: 10, 3: 20])) == true)
    #expect(ranking.order == [0, 2, 3, 1])
    #expect(ranking.update(healthyMask: all, latency: latency(4, [1: 30, 2: 10, 3: 20])) == false)
    // Latency moves that keep the order: none.
    #expect(ranking.update(healthyMask: all, latency: latency(4, [0: 99, 1: 31, 2: 1, 3: 29])) == false)
    // The last healthy one goes down: the prefix only got shorter, still a change.
    #expect(ranking.update(healthyMask: mask(0, 2, 3), latency: latency(4, [1: 30, 2: 10, 3: 20])) == true)
    #expect(ranking.order == [0, 2, 3, 1] && ranking.healthyCount == 3)
    // Only the down cluster's estimate moves: no change.
    #expect(ranking.update(healthyMask: mask(0, 2, 3), latency: latency(4, [1: 1, 2: 10, 3: 20])) == false)
    // The local goes down: change.
    #expect(ranking.update(healthyMask: mask(2, 3), latency: latency(4, [2: 10, 3: 20])) == true)
    #expect(ranking.order == [2, 3, 0, 1])
    // Everything down, then the same again: one change, then none.
    #expect(ranking.update(healthyMask: 0, latency: latency(4, [:])) == true)
    #expect(ranking.order == [0, 1, 2, 3] && ranking.healthyCount == 0)
    #expect(ranking.update(healthyMask: 0, latency: latency(4, [3: 1])) == false)
    // Back up: change.
    #expect(ranking.update(healthyMask: all, latency: latency(4, [:])) == true)
    #expect(ranking.order == [0, 1, 2, 3] && ranking.healthyCount == 4)
}

@Test func twoRemotesSwapping() {
    var ranking = ReadRanking(clusterCount: 3, localMask: mask(0))
    let all = mask(0, 1, 2)
    #expect(ranking.update(healthyMask: all, latency: latency(3, [1: 20, 2: 10])) == true)
    #expect(ranking.order == [0, 2, 1])
    #expect(ranking.update(healthyMask: all, latency: latency(3, [1: 10, 2: 20])) == true)
    #expect(ranking.order == [0, 1, 2])
}

@Test func candidatesFollowTheOrderSkippingTried() {
    var ranking = ReadRanking(clusterCount: 5, localMask: mask(3))
    _ = ranking.update(healthyMask: mask(0, 1, 3), latency: latency(5, [0: 20, 1: 10]))
    #expect(ranking.order == [3, 1, 0, 2, 4])
    var tried: UInt64 = 0
    var visited: [Int] = []
    while let next = ranking.candidate(after: tried) {
        visited.append(next)
        tried |= 1 << UInt64(next)
    }
    #expect(visited == [3, 1, 0, 2, 4])
    #expect(ranking.candidate(after: mask(1)) == 3)
    #expect(ranking.candidate(after: mask(3)) == 1)   // the local failed: the fastest remote
    #expect(ranking.candidate(after: mask(3, 1, 0)) == 2)   // only down ones left: still one to try
    #expect(ranking.candidate(after: ~0) == nil)
}

@Test func rankingWithSixtyFourClusters() {
    var ranking = ReadRanking(clusterCount: 64, localMask: 1 << 63)
    var t = LatencyTracker(clusterCount: 64, alpha: 1)
    for c in 0 ..< 64 { t.record(cluster: c, rttNanoseconds: UInt64(1_000 - c), at: 0) }
    #expect(ranking.update(healthyMask: ~0, latency: t) == true)
    #expect(ranking.order == [63] + Array((0 ..< 63).reversed()))
    #expect(ranking.candidate(after: ~0 >> 1) == 63)
    #expect(ranking.candidate(after: 1 << 63) == 62)
}
