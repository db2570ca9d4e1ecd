/// An exponentially weighted moving average (EWMA) of round-trip times per cluster, and when each
/// cluster was last measured, so idle clusters can be probed to keep their estimate fresh.
///
/// Contract:
/// - Clusters are `0..<clusterCount`, `clusterCount` in `1...64`; an index out of range traps.
/// - The first sample sets the estimate; each later one moves it by `alpha` towards the sample:
///   `estimate = alpha × rtt + (1 − alpha) × estimate`. Estimates are kept as `Double` and returned
///   rounded to the nearest nanosecond.
/// - Times are monotonic nanoseconds supplied by the caller; nothing here reads a clock.
/// - Storage is allocated once, in `init`; `record` and the queries do not allocate — as long as the
///   tracker has one owner (mutating a copy that shares storage copies it, as any Swift array would).
public struct LatencyTracker: Sendable {
    public let clusterCount: Int
    /// Weight of the newest sample, in `(0, 1]`.
    public let alpha: Double
    /// Clusters with at least one sample since `init` or their last `forget`.
    public private(set) var measuredMask: UInt64 = 0
    private var estimates: [Double]
    private var sampledAt: [UInt64]

    public init(clusterCount: Int, alpha: Double = 0.2) {
        precondition((1 ... 64).contains(clusterCount), "LatencyTracker: clusterCount must be in 1...64")
        precondition(alpha > 0 && alpha <= 1, "LatencyTracker: alpha must be in (0, 1]")
        self.clusterCount = clusterCount
        self.alpha = alpha
        self.estimates = Array(repeating: 0, count: clusterCount)
        self.sampledAt = Array(repeating: 0, count: clusterCount)
    }

    /// Adds one measured round trip of `cluster`, taken at `now`.
    public mutating func record(cluster: Int, rttNanoseconds: UInt64, at now: UInt64) {
        let bit = bitOf(cluster)
        let rtt = Double(rttNanoseconds)
        if measuredMask & bit == 0 {
            estimates[cluster] = rtt
            measuredMask |= bit
        } else {
            estimates[cluster] += alpha * (rtt - estimates[cluster])
        }
        sampledAt[cluster] = now
    }

    /// The smoothed round trip of `cluster` in nanoseconds; nil until a first sample.
    public func estimate(_ cluster: Int) -> UInt64? {
        guard measuredMask & bitOf(cluster) != 0 else { return nil }
        let value = estimates[cluster]
        // UInt64(Double) traps at 2^64 and above (Double(UInt64.max) rounds up to 2^64).
        return value >= 0x1p64 ? .max : UInt64(value.rounded())
    }

    /// When the last sample of `cluster` was taken; nil until a first sample.
    public func lastSample(_ cluster: Int) -> UInt64? {
        measuredMask & bitOf(cluster) != 0 ? sampledAt[cluster] : nil
    }

    /// True when `cluster` has never been measured, or not for `interval` nanoseconds: an idle
    /// cluster whose estimate needs a probe. A `now` earlier than the last sample is "not due".
    public func needsProbe(_ cluster: Int, now: UInt64, interval: UInt64) -> Bool {
        guard measuredMask & bitOf(cluster) != 0 else { return true }
        let last = sampledAt[cluster]
        return now >= last && now - last >= interval
    }

    /// Drops the estimate of `cluster` (say, after it came back up: the old one is stale); the next
    /// sample starts it afresh.
    public mutating func forget(_ cluster: Int) {
        measuredMask &= ~bitOf(cluster)
    }

    @inline(__always)
    private func bitOf(_ cluster: Int) -> UInt64 {
        precondition(cluster >= 0 && cluster < clusterCount, "LatencyTracker: cluster index out of range")
        return 1 << UInt64(cluster)
    }
}
