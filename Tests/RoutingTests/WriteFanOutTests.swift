import Testing

import Routing

/// One cluster's report in a scripted sequence: a success with a reply hash, or a failure.
struct Report: CustomStringConvertible, Sendable {
    let cluster: Int
    /// nil = failure.
    let hash: UInt64?

    static func ok(_ cluster: Int, _ hash: UInt64 = 1) -> Report { Report(cluster: cluster, hash: hash) }
    static func fail(_ cluster: Int) -> Report { Report(cluster: cluster, hash: nil) }

    var outcome: WriteFanOut.Outcome { hash.map { .success(replyHash: $0) } ?? .failure }
    var description: String { hash.map { "ok\(cluster)#\($0)" } ?? "fail\(cluster)" }
}

/// Plays `reports` and returns the fan-out with the step (index into `reports`) that answered.
func play(
    _ policy: AckPolicy, clusters: Int, local: UInt64, _ reports: [Report]
) -> (fanOut: WriteFanOut, answers: [(step: Int, cluster: Int)]) {
    var fanOut = WriteFanOut(clusterCount: clusters, localMask: local, policy: policy)
    var answers: [(step: Int, cluster: Int)] = []
    for (step, report) in reports.enumerated() {
        if case .answer(let cluster) = fanOut.record(cluster: report.cluster, report.outcome) {
            answers.append((step, cluster))
        }
    }
    return (fanOut, answers)
}

/// A hand-written case: the step that answers and the cluster it answers with.
struct AckCase: CustomTestStringConvertible, Sendable {
    let name: String
    let policy: AckPolicy
    let clusters: Int
    let local: UInt64
    let reports: [Report]
    let step: Int
    let cluster: Int
    var testDescription: String { "\(policy) \(name): \(reports)" }
}

private let ackCases: [AckCase] = [
    // first
    AckCase(name: "first success answers at once", policy: .first, clusters: 3, local: 0b001,
            reports: [.ok(2), .ok(0), .ok(1)], step: 0, cluster: 2),
    AckCase(name: "a failure is skipped for a later success", policy: .first, clusters: 3, local: 0b001,
            reports: [.fail(0), .fail(2), .ok(1)], step: 2, cluster: 1),
    AckCase(name: "all failed: the local failure", policy: .first, clusters: 3, local: 0b100,
            reports: [.fail(0), .fail(2), .fail(1)], step: 2, cluster: 2),
    AckCase(name: "all failed, several locals: lowest local index", policy: .first, clusters: 3, local: 0b110,
            reports: [.fail(2), .fail(0), .fail(1)], step: 2, cluster: 1),
    AckCase(name: "all failed, no local: first failure by arrival", policy: .first, clusters: 3, local: 0,
            reports: [.fail(1), .fail(2), .fail(0)], step: 2, cluster: 1),
    AckCase(name: "one cluster", policy: .first, clusters: 1, local: 0b1,
            reports: [.fail(0)], step: 0, cluster: 0),
    // local
    AckCase(name: "waits for the local success", policy: .local, clusters: 3, local: 0b010,
            reports: [.ok(0), .ok(2), .ok(1)], step: 2, cluster: 1),
    AckCase(name: "local failure first answers at once", policy: .local, clusters: 3, local: 0b010,
            reports: [.fail(1), .ok(0), .ok(2)], step: 0, cluster: 1),
    AckCase(name: "local failure after remote successes", policy: .local, clusters: 3, local: 0b010,
            reports: [.ok(0), .fail(1), .ok(2)], step: 1, cluster: 1),
    AckCase(name: "several locals: the lowest index", policy: .local, clusters: 3, local: 0b101,
            reports: [.ok(2), .ok(1), .ok(0)], step: 2, cluster: 0),
    AckCase(name: "no local: like first", policy: .local, clusters: 3, local: 0,
            reports: [.fail(0), .ok(2), .ok(1)], step: 1, cluster: 2),
    AckCase(name: "no local, all failed: first failure", policy: .local, clusters: 3, local: 0,
            reports: [.fail(2), .fail(0), .fail(1)], step: 2, cluster: 2),
    // majority
    AckCase(name: "two of three", policy: .majority, clusters: 3, local: 0b001,
            reports: [.ok(1), .ok(2), .ok(0)], step: 1, cluster: 1),
    AckCase(name: "answers with the first success", policy: .majority, clusters: 3, local: 0b001,
            reports: [.ok(2), .fail(0), .ok(1)], step: 2, cluster: 2),
    AckCase(name: "unreachable: the local failure", policy: .majority, clusters: 3, local: 0b010,
            reports: [.ok(2), .fail(0), .fail(1)], step: 2, cluster: 1),
    AckCase(name: "unreachable, local not failed: first failure", policy: .majority, clusters: 3, local: 0b010,
            reports: [.fail(2), .fail(0), .ok(1)], step: 1, cluster: 2),
    AckCase(name: "four clusters need three", policy: .majority, clusters: 4, local: 0b0001,
            reports: [.ok(3), .ok(1), .fail(0), .ok(2)], step: 3, cluster: 3),
    AckCase(name: "four clusters: two failures are enough to fail", policy: .majority, clusters: 4, local: 0,
            reports: [.fail(3), .ok(0), .fail(1)], step: 2, cluster: 3),
    AckCase(name: "two clusters need both", policy: .majority, clusters: 2, local: 0b01,
            reports: [.ok(0), .fail(1)], step: 1, cluster: 1),
    AckCase(name: "one cluster", policy: .majority, clusters: 1, local: 0,
            reports: [.ok(0)], step: 0, cluster: 0),
    // all
    AckCase(name: "every success: the local reply", policy: .all, clusters: 3, local: 0b010,
            reports: [.ok(0), .ok(2), .ok(1)], step: 2, cluster: 1),
    AckCase(name: "local first, still waits for every cluster", policy: .all, clusters: 3, local: 0b010,
            reports: [.ok(1), .ok(0), .ok(2)], step: 2, cluster: 1),
    AckCase(name: "no local: the first success", policy: .all, clusters: 3, local: 0,
            reports: [.ok(2), .ok(0), .ok(1)], step: 2, cluster: 2),
    AckCase(name: "a remote failure answers at once", policy: .all, clusters: 3, local: 0b001,
            reports: [.ok(0), .fail(2), .ok(1)], step: 1, cluster: 2),
    AckCase(name: "the local failure answers at once", policy: .all, clusters: 3, local: 0b001,
            reports: [.ok(1), .fail(0), .fail(2)], step: 1, cluster: 0),
]

@Test(arguments: ackCases)
func ackPolicyAnswersOnceAtTheRightStep(_ c: AckCase) {
    let (fanOut, answers) = play(c.policy, clusters: c.clusters, local: c.local, c.reports)
    #expect(answers.count == 1)
    #expect(answers.first?.step == c.step)
    #expect(answers.first?.cluster == c.cluster)
    #expect(fanOut.answeredCluster == c.cluster)
    #expect(fanOut.isComplete == (c.reports.count == c.clusters))
}

@Test func unansweredAndIncompleteBeforeTheDecidingReport() {
    var fanOut = WriteFanOut(clusterCount: 3, localMask: 0b001, policy: .local)
    #expect(fanOut.answeredCluster == nil && !fanOut.isComplete && !fanOut.answeredWithSuccess)
    #expect(fanOut.record(cluster: 2, .success(replyHash: 1)) == .wait)
    #expect(fanOut.record(cluster: 1, .failure) == .wait)
    #expect(fanOut.answeredCluster == nil && !fanOut.isComplete)
    #expect(fanOut.reportedMask == 0b110 && fanOut.failedMask == 0b010 && fanOut.succeededMask == 0b100)
    #expect(fanOut.record(cluster: 0, .success(replyHash: 1)) == .answer(cluster: 0))
    #expect(fanOut.isComplete && fanOut.answeredWithSuccess)
}

@Test func reportsAfterTheAnswerWaitAndStillCount() {
    var fanOut = WriteFanOut(clusterCount: 3, localMask: 0b001, policy: .first)
    #expect(fanOut.record(cluster: 1, .success(replyHash: 4)) == .answer(cluster: 1))
    #expect(fanOut.record(cluster: 0, .failure) == .wait)
    #expect(fanOut.record(cluster: 2, .failure) == .wait)
    #expect(fanOut.answeredCluster == 1 && fanOut.isComplete)
    #expect(fanOut.failedMask == 0b101)
}

@Test func localMaskBitsBeyondTheClusterCountAreIgnored() {
    let fanOut = WriteFanOut(clusterCount: 2, localMask: 0b1100, policy: .local)
    #expect(fanOut.localMask == 0)
    let (_, answers) = play(.local, clusters: 2, local: 0b1100, [.fail(1), .ok(0)])
    #expect(answers.map(\.cluster) == [0])   // behaves as `first`
}

@Test func sixtyFourClusters() {
    var fanOut = WriteFanOut(clusterCount: 64, localMask: 1 << 63, policy: .all)
    for cluster in 0 ..< 63 {
        #expect(fanOut.record(cluster: cluster, .success(replyHash: 9)) == .wait)
    }
    #expect(fanOut.record(cluster: 63, .success(replyHash: 9)) == .answer(cluster: 63))
    #expect(fanOut.isComplete && fanOut.divergentMask == 0 && fanOut.succeededMask == ~0)
}

@Test func defaultPolicyIsFirstAndNamesRoundTrip() {
    #expect(AckPolicy.default == .first)
    #expect(AckPolicy.allCases.map(\.rawValue) == ["first", "local", "majority", "all"])
    #expect(AckPolicy(rawValue: "majority") == .majority && AckPolicy(rawValue: "quorum") == nil)
}

@Test func reportingAClusterTwiceTraps() async {
    await #expect(processExitsWith: .failure) {
        var fanOut = WriteFanOut(clusterCount: 2, localMask: 0, policy: .first)
        _ = fanOut.record(cluster: 0, .failure)
        _ = fanOut.record(cluster: 0, .failure)
    }
}

@Test func aClusterOutOfRangeTraps() async {
    await #expect(processExitsWith: .failure) {
        var fanOut = WriteFanOut(clusterCount: 2, localMask: 0, policy: .first)
        _ = fanOut.record(cluster: 2, .failure)
    }
}
