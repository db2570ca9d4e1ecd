/// Decides which reads are checked against another cluster, and against which, within a bound.
///
/// Contract (one per loop and protocol, loop-confined, no allocation):
/// - `sample()` is true with probability `rate` (0: never, 1: always), from a seeded xorshift
///   generator, so a test can reproduce a sequence.
/// - `begin(answered:candidates:)` picks uniformly one cluster of `candidates` (a mask) other than
///   `answered`, and takes one of `maxInFlight` slots; nil when no other cluster can serve or every
///   slot is taken (`skipped` is counted only for the latter). Each successful `begin` must be
///   followed by exactly one `end()`.
public struct ReadVerifier: Sendable {
    public let rate: Double
    public let maxInFlight: Int
    public private(set) var inFlight = 0
    private var state: UInt64
    /// `rate` as a threshold on 53 random bits, so `sample` needs no floating point per read.
    private let threshold: UInt64

    public init(rate: Double, maxInFlight: Int, seed: UInt64 = 0x9E37_79B9_7F4A_7C15) {
        self.rate = min(max(rate, 0), 1)
        self.maxInFlight = max(maxInFlight, 0)
        self.state = seed == 0 ? 0x9E37_79B9_7F4A_7C15 : seed
        self.threshold = UInt64(self.rate * Double(1 << 53))
    }

    /// Whether sampling can ever say yes (lets callers skip the rest on the request path).
    @inline(__always)
    public var isOn: Bool { threshold > 0 }

    @inline(__always)
    public mutating func sample() -> Bool {
        guard threshold > 0 else { return false }
        if threshold >= 1 << 53 { return true }
        return next() >> 11 < threshold
    }

    public enum Begin: Equatable, Sendable {
        /// Check against this cluster.
        case against(Int)
        /// No other cluster can serve the read.
        case noOtherCluster
        /// `maxInFlight` checks are outstanding.
        case busy
    }

    public mutating func begin(answered: Int, candidates: UInt64) -> Begin {
        let others = candidates & ~(1 << UInt64(answered))
        guard others != 0 else { return .noOtherCluster }
        guard inFlight < maxInFlight else { return .busy }
        var pick = Int(next() % UInt64(others.nonzeroBitCount))
        var mask = others
        while pick > 0 {
            mask &= mask - 1
            pick -= 1
        }
        inFlight += 1
        return .against(mask.trailingZeroBitCount)
    }

    public mutating func end() {
        inFlight -= 1
    }

    private mutating func next() -> UInt64 {
        state ^= state >> 12
        state ^= state << 25
        state ^= state >> 27
        return state &* 2_685_821_657_736_338_717
    }
}
