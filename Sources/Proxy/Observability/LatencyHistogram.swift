import Synchronization

/// Round trips of one cluster's replies, in Prometheus histogram buckets, merged from every loop's
/// `RequestTally` on the loops' ticks (a few times a second), never per request.
final class LatencyHistogram: Sendable {
    /// Upper bounds in nanoseconds: 100 µs to 2.5 s, then +Inf.
    static let bounds: [UInt64] = [
        100_000, 250_000, 500_000, 1_000_000, 2_500_000, 5_000_000, 10_000_000, 25_000_000, 50_000_000,
        100_000_000, 250_000_000, 500_000_000, 1_000_000_000, 2_500_000_000,
    ]

    struct Counts: Sendable {
        /// Per bucket (not cumulative), the last one +Inf.
        var buckets = [UInt64](repeating: 0, count: LatencyHistogram.bounds.count + 1)
        var sumNanos: UInt64 = 0
        var count: UInt64 = 0
    }

    private let counts = Mutex(Counts())

    /// The bucket a round trip falls in.
    @inline(__always)
    static func bucket(_ nanos: UInt64) -> Int {
        var i = 0
        while i < bounds.count && nanos > bounds[i] { i += 1 }
        return i
    }

    func merge(_ other: Counts) {
        counts.withLock { c in
            for i in c.buckets.indices { c.buckets[i] += other.buckets[i] }
            c.sumNanos &+= other.sumNanos
            c.count += other.count
        }
    }

    var snapshot: Counts { counts.withLock { $0 } }
}
