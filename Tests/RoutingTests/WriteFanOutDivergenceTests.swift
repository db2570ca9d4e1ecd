import Testing

import Routing

/// A divergence case: the reports, and the divergent mask expected once every cluster reported.
struct DivergenceCase: CustomTestStringConvertible, Sendable {
    let name: String
    let policy: AckPolicy
    let clusters: Int
    let local: UInt64
    let reports: [Report]
    let answered: Int
    let divergent: UInt64
    let failed: UInt64
    var testDescription: String { "\(policy) \(name): \(reports)" }
}

private let divergenceCases: [DivergenceCase] = [
    DivergenceCase(name: "INCR-like, a later success differs", policy: .first, clusters: 3, local: 0b001,
                   reports: [.ok(0, 5), .ok(1, 6), .ok(2, 5)], answered: 0, divergent: 0b010, failed: 0),
    DivergenceCase(name: "every reply differs", policy: .first, clusters: 3, local: 0b001,
                   reports: [.ok(2, 3), .ok(0, 1), .ok(1, 2)], answered: 2, divergent: 0b011, failed: 0),
    DivergenceCase(name: "failures are failed, not divergent", policy: .first, clusters: 3, local: 0b001,
                   reports: [.fail(0), .ok(1, 1), .ok(2, 2)], answered: 1, divergent: 0b100, failed: 0b001),
    DivergenceCase(name: "everything failed: no divergence", policy: .first, clusters: 3, local: 0b001,
                   reports: [.fail(1), .fail(0), .fail(2)], answered: 0, divergent: 0, failed: 0b111),
    DivergenceCase(name: "equal replies", policy: .first, clusters: 3, local: 0,
                   reports: [.ok(1, 9), .ok(2, 9), .ok(0, 9)], answered: 1, divergent: 0, failed: 0),
    DivergenceCase(name: "earlier successes compared with the local reply", policy: .local, clusters: 3, local: 0b100,
                   reports: [.ok(0, 1), .ok(1, 2), .ok(2, 1)], answered: 2, divergent: 0b010, failed: 0),
    DivergenceCase(name: "local reply unlike every earlier one", policy: .local, clusters: 3, local: 0b100,
                   reports: [.ok(0, 1), .ok(1, 1), .ok(2, 3)], answered: 2, divergent: 0b011, failed: 0),
    DivergenceCase(name: "local failure: no answered hash", policy: .local, clusters: 3, local: 0b100,
                   reports: [.ok(0, 1), .fail(2), .ok(1, 9)], answered: 2, divergent: 0, failed: 0b100),
    DivergenceCase(name: "against the first success", policy: .majority, clusters: 3, local: 0b001,
                   reports: [.ok(1, 1), .ok(0, 2), .ok(2, 1)], answered: 1, divergent: 0b001, failed: 0),
    DivergenceCase(name: "against the local reply", policy: .all, clusters: 3, local: 0b010,
                   reports: [.ok(0, 1), .ok(1, 2), .ok(2, 2)], answered: 1, divergent: 0b001, failed: 0),
    DivergenceCase(name: "five clusters, all distinct before the local", policy: .local, clusters: 5, local: 0b10000,
                   reports: [.ok(0, 1), .ok(1, 2), .ok(2, 3), .ok(3, 4), .ok(4, 3)],
                   answered: 4, divergent: 0b01011, failed: 0),
]

@Test(arguments: divergenceCases)
func divergenceOnceComplete(_ c: DivergenceCase) {
    let (fanOut, answers) = play(c.policy, clusters: c.clusters, local: c.local, c.reports)
    #expect(answers.map(\.cluster) == [c.answered])
    #expect(fanOut.isComplete)
    #expect(fanOut.divergentMask == c.divergent)
    #expect(fanOut.failedMask == c.failed)
    #expect(fanOut.succeededMask == ~c.failed & ((1 << UInt64(c.clusters)) - 1))
}

@Test func divergenceIsHiddenUntilTheAnswer() {
    // Under `all`, the local reply arrives first and the divergent remote before the answer.
    var fanOut = WriteFanOut(clusterCount: 3, localMask: 0b001, policy: .all)
    #expect(fanOut.record(cluster: 0, .success(replyHash: 10)) == .wait)
    #expect(fanOut.record(cluster: 1, .success(replyHash: 11)) == .wait)
    #expect(fanOut.divergentMask == 0)
    #expect(fanOut.record(cluster: 2, .success(replyHash: 10)) == .answer(cluster: 0))
    #expect(fanOut.divergentMask == 0b010)
}

@Test func divergenceGrowsAsLateRepliesArrive() {
    var fanOut = WriteFanOut(clusterCount: 4, localMask: 0, policy: .first)
    #expect(fanOut.record(cluster: 3, .success(replyHash: 1)) == .answer(cluster: 3))
    #expect(fanOut.divergentMask == 0)
    _ = fanOut.record(cluster: 0, .success(replyHash: 2))
    #expect(fanOut.divergentMask == 0b0001)
    _ = fanOut.record(cluster: 1, .failure)
    #expect(fanOut.divergentMask == 0b0001)
    _ = fanOut.record(cluster: 2, .success(replyHash: 3))
    #expect(fanOut.divergentMask == 0b0101)
}

@Test func anAllFailureAnswerHidesDivergence() {
    var fanOut = WriteFanOut(clusterCount: 3, localMask: 0b001, policy: .all)
    _ = fanOut.record(cluster: 0, .success(replyHash: 1))
    #expect(fanOut.record(cluster: 1, .failure) == .answer(cluster: 1))
    _ = fanOut.record(cluster: 2, .success(replyHash: 2))
    #expect(!fanOut.answeredWithSuccess)
    #expect(fanOut.divergentMask == 0)
    #expect(fanOut.succeededMask == 0b101)
}

/// Seven clusters, the local one last, six earlier successes: four distinct hashes are kept
/// inline, a fifth overflows.
private func sevenClusters(localHash: UInt64) -> WriteFanOut {
    let early: [UInt64] = [10, 11, 12, 13, 14, 10]
    var reports = early.enumerated().map { Report.ok($0.offset, $0.element) }
    reports.append(.ok(6, localHash))
    let (fanOut, answers) = play(.local, clusters: 7, local: 1 << 6, reports)
    #expect(answers.map(\.cluster) == [6])
    return fanOut
}

@Test func manyDistinctEarlyRepliesStayExactWhenTheLocalHashWasKept() {
    #expect(sevenClusters(localHash: 10).divergentMask == 0b011110)
    #expect(sevenClusters(localHash: 13).divergentMask == 0b110111)
    #expect(sevenClusters(localHash: 99).divergentMask == 0b111111)
}

@Test func theDocumentedOverflowLimitOverCountsOnlyTheOverflowedCluster() {
    // Hash 14 (cluster 4) was the fifth distinct value, not kept: cluster 4 is counted divergent
    // although it matched the local reply. Every other cluster is right.
    #expect(sevenClusters(localHash: 14).divergentMask == 0b111111)
}
