/// One loop's count of the requests it sent to one cluster and how they fared, kept in plain
/// integers on the request path and handed to the shared `ClusterStats` on the router's tick.
/// Loop-confined.
struct RequestTally {
    var requests: UInt64 = 0
    var errors: UInt64 = 0
    var latency = LatencyHistogram.Counts()

    @inline(__always)
    mutating func recordReply(rttNanos: UInt64) {
        latency.buckets[LatencyHistogram.bucket(rttNanos)] += 1
        latency.sumNanos &+= rttNanos
        latency.count += 1
    }

    /// Moves the counts into `stats` and starts again from zero (keeping the bucket storage).
    mutating func flush(into stats: ClusterStats) {
        stats.requests.add(requests)
        stats.errors.add(errors)
        requests = 0
        errors = 0
        if latency.count > 0 {
            stats.latency.merge(latency)
            for i in latency.buckets.indices { latency.buckets[i] = 0 }
            latency.sumNanos = 0
            latency.count = 0
        }
    }
}
