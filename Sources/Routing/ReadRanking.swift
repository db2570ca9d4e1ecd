/// The read plan: the order in which clusters are tried for a read.
///
/// Contract:
/// - Clusters are `0..<clusterCount`, `clusterCount` in `1...64`; `localMask` marks the local ones.
/// - `order` always holds every cluster exactly once, in this order:
///   1. healthy local clusters, by measured latency (fastest first);
///   2. healthy remote clusters, by measured latency;
///   3. the unhealthy clusters, local ones first, by index — a last resort, so a read is still
///      attempted when every cluster is marked down (their latency estimates are stale, so unused).
///   Within 1 and 2, measured clusters come before unmeasured ones, and ties (and the unmeasured)
///   go by index.
/// - Before the first `update`, every cluster counts as healthy and unmeasured: locals by index,
///   then remotes by index — the same optimism as `ClusterHealth`.
/// - `update` is meant for health transitions and a periodic timer, not every request; it does not
///   allocate (storage is allocated in `init` and rewritten in place), nor do `candidate` and the
///   getters — as long as the ranking has one owner (see `LatencyTracker`).
public struct ReadRanking: Sendable {
    public let clusterCount: Int
    public let localMask: UInt64
    /// Every cluster, best first (see the type's contract).
    public private(set) var order: [Int]
    /// How many clusters at the front of `order` are healthy.
    public private(set) var healthyCount: Int
    /// The order before the last `update`, kept to detect a change without allocating.
    private var previous: [Int]
    /// Sort key per cluster for the update in progress.
    private var keys: [UInt64]
    private let allMask: UInt64

    // Sort key layout, compared as an unsigned integer, ties broken by index: bit 63 unhealthy,
    // bit 62 remote, bit 61 unmeasured, bits 0...60 the latency estimate (clamped; 2^61 ns is
    // decades). Unhealthy and unmeasured clusters leave the latency bits at 0, so they go by index.
    private static let unhealthyBit: UInt64 = 1 << 63
    private static let remoteBit: UInt64 = 1 << 62
    private static let unmeasuredBit: UInt64 = 1 << 61
    private static let latencyLimit: UInt64 = (1 << 61) - 1

    public init(clusterCount: Int, localMask: UInt64) {
        precondition((1 ... 64).contains(clusterCount), "ReadRanking: clusterCount must be in 1...64")
        let all: UInt64 = clusterCount == 64 ? ~0 : (1 << UInt64(clusterCount)) &- 1
        self.clusterCount = clusterCount
        self.localMask = localMask & all
        self.allMask = all
        self.order = Array(0 ..< clusterCount)
        self.previous = order
        self.keys = Array(repeating: 0, count: clusterCount)
        self.healthyCount = clusterCount
        for cluster in 0 ..< clusterCount {
            keys[cluster] = Self.key(healthy: true, local: isLocal(cluster), estimate: nil)
        }
        sortOrder()
    }

    /// Recomputes `order` from the healthy clusters and the latency estimates. Returns true when the
    /// healthy prefix (its length or any of its entries) changed — the caller logs that at info
    /// level. (The unhealthy tail follows from the prefix, so it cannot change on its own.)
    public mutating func update(healthyMask: UInt64, latency: LatencyTracker) -> Bool {
        precondition(latency.clusterCount == clusterCount, "ReadRanking: tracker has a different cluster count")
        let healthy = healthyMask & allMask
        for cluster in 0 ..< clusterCount {
            let bit: UInt64 = 1 << UInt64(cluster)
            keys[cluster] = Self.key(
                healthy: healthy & bit != 0,
                local: localMask & bit != 0,
                estimate: latency.estimate(cluster)
            )
        }
        swap(&order, &previous)
        // Start from the previous order: usually already sorted, so the insertion sort is linear.
        for index in 0 ..< clusterCount {
            order[index] = previous[index]
        }
        sortOrder()
        let newHealthyCount = healthy.nonzeroBitCount
        var changed = newHealthyCount != healthyCount
        var index = 0
        while !changed && index < newHealthyCount {
            changed = order[index] != previous[index]
            index += 1
        }
        healthyCount = newHealthyCount
        return changed
    }

    /// The best cluster not in `triedMask` (attempt k passes the k clusters already tried), healthy
    /// or not; nil when every cluster has been tried.
    public func candidate(after triedMask: UInt64) -> Int? {
        for cluster in order where triedMask & (1 << UInt64(cluster)) == 0 {
            return cluster
        }
        return nil
    }

    private func isLocal(_ cluster: Int) -> Bool {
        localMask & (1 << UInt64(cluster)) != 0
    }

    private static func key(healthy: Bool, local: Bool, estimate: UInt64?) -> UInt64 {
        var key: UInt64 = local ? 0 : remoteBit
        guard healthy else { return key | unhealthyBit }
        guard let estimate else { return key | unmeasuredBit }
        key |= min(estimate, latencyLimit)
        return key
    }

    /// Insertion sort of `order` by (key, index): at most 64 entries, in place, no allocation.
    private mutating func sortOrder() {
        guard clusterCount > 1 else { return }
        for start in 1 ..< clusterCount {
            let cluster = order[start]
            let clusterKey = keys[cluster]
            var slot = start
            while slot > 0 {
                let other = order[slot - 1]
                let otherKey = keys[other]
                guard clusterKey < otherKey || (clusterKey == otherKey && cluster < other) else { break }
                order[slot] = other
                slot -= 1
            }
            order[slot] = cluster
        }
    }
}
