import Testing

import Routing

private func health(limit: Int = 3, initial: UInt64 = 100, max: UInt64 = 1_000) -> ClusterHealth {
    ClusterHealth(failureLimit: limit, retryInitial: initial, retryMax: max)
}

@Test func startsUpWithNothingToProbe() {
    let h = health()
    #expect(h.state == .up && h.consecutiveFailures == 0 && h.nextProbeAt == nil)
    #expect(!h.probeDue(at: .max))
}

@Test(arguments: [1, 2, 3, 5])
func goesDownAtExactlyTheFailureLimit(_ limit: Int) {
    var h = health(limit: limit)
    for n in 1 ..< limit {
        #expect(h.recordFailure(at: UInt64(n)) == .none)
        #expect(h.state == .up && h.consecutiveFailures == n)
    }
    #expect(h.recordFailure(at: 50) == .wentDown)
    #expect(h.state == .down && h.changedAt == 50 && h.consecutiveFailures == limit)
}

@Test func aSuccessResetsTheFailureCount() {
    var h = health(limit: 3)
    _ = h.recordFailure(at: 1)
    _ = h.recordFailure(at: 2)
    #expect(h.recordSuccess(at: 3) == .none)
    #expect(h.consecutiveFailures == 0)
    #expect(h.recordFailure(at: 4) == .none)
    #expect(h.recordFailure(at: 5) == .none)
    #expect(h.state == .up)
    #expect(h.recordFailure(at: 6) == .wentDown)
}

@Test func aFailedConnectMarksDownAtOnce() {
    var h = health(limit: 10)
    #expect(h.recordConnectFailure(at: 7) == .wentDown)
    #expect(h.state == .down && h.changedAt == 7 && h.consecutiveFailures == 1)
    #expect(h.recordConnectFailure(at: 8) == .none)
    #expect(h.recordFailure(at: 9) == .none)
    #expect(h.state == .down && h.consecutiveFailures == 3 && h.changedAt == 7)
}

@Test func probesBackOffDoublingUpToTheCap() {
    var h = health(limit: 1, initial: 100, max: 1_000)
    #expect(h.recordFailure(at: 1_000) == .wentDown)
    #expect(h.nextProbeAt == 1_100)
    #expect(!h.probeDue(at: 1_099) && h.probeDue(at: 1_100))
    // Each probe is started when due and fails; the gap to the next one doubles, capped at 1,000.
    var now: UInt64 = 1_100
    for gap: UInt64 in [200, 400, 800, 1_000, 1_000] {
        h.probeStarted(at: now)
        #expect(!h.probeDue(at: now), "gap \(gap)")
        #expect(h.recordFailure(at: now + 1) == .none)
        #expect(h.state == .down)
        #expect(h.nextProbeAt == now + gap, "gap \(gap)")
        #expect(!h.probeDue(at: now + gap - 1) && h.probeDue(at: now + gap))
        now += gap
    }
}

@Test func aLateProbeStartCountsFromWhenItStarted() {
    var h = health(limit: 1, initial: 100, max: 1_000)
    _ = h.recordFailure(at: 0)
    h.probeStarted(at: 5_000)   // the caller got to it late
    #expect(h.nextProbeAt == 5_200)
}

@Test func aProbeSuccessComesUpAndTheBackoffStartsAgain() {
    var h = health(limit: 1, initial: 100, max: 1_000)
    _ = h.recordFailure(at: 0)
    for t: UInt64 in [100, 300, 700] { h.probeStarted(at: t) }
    #expect(h.nextProbeAt == 1_500)
    #expect(h.recordSuccess(at: 750) == .cameUp)
    #expect(h.state == .up && h.changedAt == 750 && h.consecutiveFailures == 0 && h.nextProbeAt == nil)
    #expect(!h.probeDue(at: 10_000))
    #expect(h.recordSuccess(at: 800) == .none)
    #expect(h.recordConnectFailure(at: 2_000) == .wentDown)
    #expect(h.nextProbeAt == 2_100)
    h.probeStarted(at: 2_100)
    #expect(h.nextProbeAt == 2_300)
}

@Test func probeStartedWhileUpDoesNothing() {
    var h = health(limit: 1, initial: 100, max: 1_000)
    h.probeStarted(at: 0)
    h.probeStarted(at: 0)
    _ = h.recordFailure(at: 10)
    #expect(h.nextProbeAt == 110)
    h.probeStarted(at: 110)
    #expect(h.nextProbeAt == 310)   // not advanced by the starts while up
}

@Test func equalInitialAndMaxKeepAFixedInterval() {
    var h = health(limit: 1, initial: 500, max: 500)
    _ = h.recordFailure(at: 0)
    #expect(h.nextProbeAt == 500)
    h.probeStarted(at: 500)
    #expect(h.nextProbeAt == 1_000)
    h.probeStarted(at: 1_000)
    #expect(h.nextProbeAt == 1_500)
}

@Test func timesSaturateInsteadOfWrapping() {
    var h = health(limit: 1, initial: 100, max: .max)
    _ = h.recordFailure(at: .max - 10)
    #expect(h.nextProbeAt == .max)
    #expect(h.probeDue(at: .max))
    for _ in 0 ..< 70 { h.probeStarted(at: 1) }   // back-off doubles past 2^63 without overflow
    #expect(h.nextProbeAt == .max)
}
