import Testing

import Routing

// Every arrival order of every success/failure pattern, for 1 to 4 clusters and every set of local
// clusters, checked against an oracle written from the policy text rather than from the code: it
// looks at each prefix of the reports as a whole ("is the answer known after these?") where the
// implementation keeps running state.

/// The answer (step and cluster) the policy text prescribes for `reports`, or nil if none.
private func oracleAnswer(
    _ policy: AckPolicy, clusters n: Int, local: UInt64, _ reports: [Report]
) -> (step: Int, cluster: Int)? {
    let locals = (0 ..< n).filter { local & (1 << UInt64($0)) != 0 }
    for end in 1 ... reports.count {
        let seen = reports[0 ..< end]
        let successes = seen.filter { $0.hash != nil }.map(\.cluster)
        let failures = seen.filter { $0.hash == nil }.map(\.cluster)
        let failurePick = failures.filter(locals.contains).min() ?? failures.first
        let step = end - 1
        switch policy {
        case .first, .local where locals.isEmpty:
            if let s = successes.first { return (step, s) }
            if failures.count == n { return (step, failurePick!) }
        case .local:
            if seen.contains(where: { $0.cluster == locals.min()! }) { return (step, locals.min()!) }
        case .majority:
            let needed = n / 2 + 1
            if successes.count >= needed { return (step, successes.first!) }
            if failures.count > n - needed { return (step, failurePick!) }
        case .all:
            if !failures.isEmpty { return (step, failurePick!) }
            if successes.count == n { return (step, locals.min() ?? successes.first!) }
        }
    }
    return nil
}

/// The clusters among `reports` that succeeded with a hash different from the answered success.
private func oracleDivergence(answered: Int, _ reports: some Sequence<Report>) -> UInt64 {
    let all = Array(reports)
    guard let answeredHash = all.first(where: { $0.cluster == answered })?.hash else { return 0 }
    return all.reduce(0) { mask, r in
        r.hash != nil && r.hash != answeredHash ? mask | 1 << UInt64(r.cluster) : mask
    }
}

func permutations<T>(_ items: [T]) -> [[T]] {
    guard items.count > 1 else { return [items] }
    return items.indices.flatMap { i -> [[T]] in
        var rest = items
        let head = rest.remove(at: i)
        return permutations(rest).map { [head] + $0 }
    }
}

/// Reply hashes per cluster: all equal (SET), all different (INCR), and two values.
private func hashPatterns(_ n: Int) -> [[UInt64]] {
    [
        Array(repeating: 7, count: n),
        (0 ..< n).map { UInt64($0 + 1) },
        (0 ..< n).map { UInt64($0 % 2) },
        (0 ..< n).map { $0 == n - 1 ? 5 : 6 },
    ]
}

@Test(arguments: AckPolicy.allCases, 1 ... 4)
func everyOrderOfEveryOutcomeMatchesTheOracle(_ policy: AckPolicy, _ n: Int) {
    var checked = 0
    var problems: [String] = []
    for local in UInt64(0) ..< (1 << UInt64(n)) {
        for failures in UInt64(0) ..< (1 << UInt64(n)) {
            for hashes in hashPatterns(n) {
                let reports = (0 ..< n).map { c in
                    failures & (1 << UInt64(c)) != 0 ? Report.fail(c) : Report.ok(c, hashes[c])
                }
                for order in permutations(reports) {
                    check(policy, n, local, order, &problems)
                    checked += 1
                }
            }
        }
    }
    #expect(checked == (1 << n) * (1 << n) * 4 * (1 ... n).reduce(1, *))
    // Plain comparisons, one expectation: an #expect per step would make this test slow.
    #expect(problems.isEmpty, "\(problems.count) problems, first: \(problems.prefix(5))")
}

private func check(_ policy: AckPolicy, _ n: Int, _ local: UInt64, _ order: [Report], _ problems: inout [String]) {
    func problem(_ what: String) {
        problems.append("\(policy) n=\(n) local=\(String(local, radix: 2)) \(order): \(what)")
    }
    guard let expected = oracleAnswer(policy, clusters: n, local: local, order) else {
        return problem("the oracle found no answer")   // every policy answers by the last report
    }
    var fanOut = WriteFanOut(clusterCount: n, localMask: local, policy: policy)
    var answers = 0
    var failed: UInt64 = 0
    for (step, report) in order.enumerated() {
        let decision = fanOut.record(cluster: report.cluster, report.outcome)
        let wanted: WriteFanOut.Decision = step == expected.step ? .answer(cluster: expected.cluster) : .wait
        if decision != wanted { problem("step \(step): \(decision), expected \(wanted)") }
        if case .answer = decision { answers += 1 }
        // Divergence: exact for every cluster reported so far, once answered with a success.
        let reported = order[0 ... step]
        let divergent = fanOut.answeredCluster.map { oracleDivergence(answered: $0, reported) } ?? 0
        if fanOut.divergentMask != divergent { problem("step \(step): divergent \(fanOut.divergentMask), expected \(divergent)") }
        if report.hash == nil { failed |= 1 << UInt64(report.cluster) }
        if fanOut.failedMask != failed { problem("step \(step): failed \(fanOut.failedMask), expected \(failed)") }
        if fanOut.isComplete != (step == n - 1) { problem("step \(step): isComplete \(fanOut.isComplete)") }
    }
    if answers != 1 { problem("\(answers) answers") }
    if fanOut.answeredCluster != expected.cluster { problem("answeredCluster \(String(describing: fanOut.answeredCluster))") }
    let answeredSucceeded = order.first { $0.cluster == expected.cluster }?.hash != nil
    if fanOut.answeredWithSuccess != answeredSucceeded { problem("answeredWithSuccess \(fanOut.answeredWithSuccess)") }
}
