import Routing
import Testing

@Suite("ReadVerifier")
struct ReadVerifierTests {
    @Test func rateZeroNeverSamplesAndOneAlwaysDoes() {
        var never = ReadVerifier(rate: 0, maxInFlight: 8)
        var always = ReadVerifier(rate: 1, maxInFlight: 8)
        #expect(!never.isOn && always.isOn)
        #expect((0..<10_000).allSatisfy { _ in !never.sample() })
        #expect((0..<10_000).allSatisfy { _ in always.sample() })
    }

    @Test(arguments: [0.01, 0.1, 0.5, 0.9])
    func samplingFollowsTheRate(rate: Double) {
        var v = ReadVerifier(rate: rate, maxInFlight: 8, seed: 42)
        let n = 200_000
        let hits = (0..<n).reduce(0) { acc, _ in acc + (v.sample() ? 1 : 0) }
        let expected = rate * Double(n)
        // Five standard deviations of a binomial count.
        #expect(abs(Double(hits) - expected) < 5 * (expected * (1 - rate)).squareRoot() + 1)
    }

    @Test func picksAnotherCandidateUniformly() {
        var v = ReadVerifier(rate: 1, maxInFlight: 1_000_000, seed: 7)
        var seen = [Int](repeating: 0, count: 5)
        for _ in 0..<30_000 {
            guard case .against(let c) = v.begin(answered: 1, candidates: 0b11011) else {
                Issue.record("no pick")
                return
            }
            seen[c] += 1
        }
        // Never the answering cluster, never a non-candidate; the three others about equally.
        #expect(seen[1] == 0 && seen[2] == 0)
        for c in [0, 3, 4] { #expect(abs(seen[c] - 10_000) < 600) }
    }

    @Test func noOtherClusterAndTheBound() {
        var v = ReadVerifier(rate: 1, maxInFlight: 2)
        #expect(v.begin(answered: 0, candidates: 0b1) == .noOtherCluster)
        #expect(v.begin(answered: 0, candidates: 0) == .noOtherCluster)
        #expect(v.begin(answered: 0, candidates: 0b11) == .against(1))
        #expect(v.begin(answered: 0, candidates: 0b11) == .against(1))
        #expect(v.begin(answered: 0, candidates: 0b11) == .busy)
        #expect(v.inFlight == 2)
        v.end()
        #expect(v.begin(answered: 0, candidates: 0b11) == .against(1))
    }
}
