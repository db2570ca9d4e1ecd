import Testing

import Routing

@Test func nothingBeforeTheFirstSample() {
    let t = LatencyTracker(clusterCount: 3)
    #expect(t.alpha == 0.2 && t.measuredMask == 0)
    for c in 0 ..< 3 {
        #expect(t.estimate(c) == nil && t.lastSample(c) == nil)
    }
}

/// Samples in order and the estimate expected after each, worked by hand.
struct EWMACase: Sendable, CustomTestStringConvertible {
    let alpha: Double
    let samples: [UInt64]
    let estimates: [UInt64]
    var testDescription: String { "alpha \(alpha): \(samples)" }
}

@Test(arguments: [
    // 1000; .2×2000 + .8×1000 = 1200; .2×500 + .8×1200 = 1060; .2×0 + .8×1060 = 848.
    EWMACase(alpha: 0.2, samples: [1_000, 2_000, 500, 0], estimates: [1_000, 1_200, 1_060, 848]),
    // 100; 150; 225; 112.5 rounds to 113; 56.25 rounds to 56.
    EWMACase(alpha: 0.5, samples: [100, 200, 300, 0, 0], estimates: [100, 150, 225, 113, 56]),
    // alpha 1: the last sample.
    EWMACase(alpha: 1, samples: [7, 3_000_000, 42], estimates: [7, 3_000_000, 42]),
    // 10 ms then 20 ms at .1: 11 ms; then 0: 9.9 ms.
    EWMACase(alpha: 0.1, samples: [10_000_000, 20_000_000, 0], estimates: [10_000_000, 11_000_000, 9_900_000]),
])
func ewmaMatchesHandComputedValues(_ c: EWMACase) {
    var t = LatencyTracker(clusterCount: 2, alpha: c.alpha)
    for (i, (sample, expected)) in zip(c.samples, c.estimates).enumerated() {
        t.record(cluster: 1, rttNanoseconds: sample, at: UInt64(i) * 10)
        #expect(t.estimate(1) == expected, "after sample \(i)")
        #expect(t.lastSample(1) == UInt64(i) * 10)
    }
    #expect(t.estimate(0) == nil)
    #expect(t.measuredMask == 0b10)
}

@Test func clustersAreIndependent() {
    var t = LatencyTracker(clusterCount: 3)
    t.record(cluster: 0, rttNanoseconds: 100, at: 1)
    t.record(cluster: 2, rttNanoseconds: 900, at: 2)
    t.record(cluster: 0, rttNanoseconds: 200, at: 3)
    #expect(t.estimate(0) == 120 && t.estimate(1) == nil && t.estimate(2) == 900)
    #expect(t.lastSample(0) == 3 && t.lastSample(2) == 2)
}

@Test func hugeSamplesDoNotTrap() {
    var t = LatencyTracker(clusterCount: 1)
    t.record(cluster: 0, rttNanoseconds: .max, at: 0)
    #expect(t.estimate(0) == .max)
}

@Test func needsProbe() {
    var t = LatencyTracker(clusterCount: 2)
    #expect(t.needsProbe(0, now: 0, interval: 1_000))   // never measured
    t.record(cluster: 0, rttNanoseconds: 50, at: 5_000)
    #expect(!t.needsProbe(0, now: 5_000, interval: 1_000))
    #expect(!t.needsProbe(0, now: 5_999, interval: 1_000))
    #expect(t.needsProbe(0, now: 6_000, interval: 1_000))
    #expect(!t.needsProbe(0, now: 4_000, interval: 1_000))   // clock before the sample: not due
    #expect(t.needsProbe(1, now: 6_000, interval: 1_000))
    t.record(cluster: 0, rttNanoseconds: 50, at: 6_000)    // a fresh sample (a probe's) resets it
    #expect(!t.needsProbe(0, now: 6_500, interval: 1_000))
}

@Test func forgetStartsAfresh() {
    var t = LatencyTracker(clusterCount: 2)
    t.record(cluster: 1, rttNanoseconds: 1_000, at: 1)
    t.forget(1)
    #expect(t.estimate(1) == nil && t.lastSample(1) == nil && t.measuredMask == 0)
    #expect(t.needsProbe(1, now: 2, interval: 1_000))
    t.record(cluster: 1, rttNanoseconds: 5_000, at: 3)
    #expect(t.estimate(1) == 5_000)   // not averaged with the forgotten 1,000
}
