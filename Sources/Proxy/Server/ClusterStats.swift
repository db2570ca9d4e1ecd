import CoreMetrics
import Synchronization

/// Counters of one cluster for one protocol, shared by every worker loop and exported to /metrics.
/// Touched on failure, divergence, replay and verification paths and by the loops' periodic flush
/// of their per-request tallies, never once per request, so loops do not contend on them.
final class ClusterStats: Sendable {
    let name: String
    let isLocal: Bool
    let protocolName: String
    /// Request frames sent to the cluster's servers (client traffic, replicated and replayed
    /// writes, the proxy's own queries; not health probes).
    let requests: StatCounter
    /// Requests that failed (transport, timeout, unavailable) or got an error reply.
    let errors: StatCounter
    /// Writes this cluster did not get directly: kept in its backlog (down, backlog not drained yet,
    /// or its connection failed with the write in flight).
    let missedWrites: StatCounter
    /// Missed writes that did not fit in the backlog: lost for this cluster, and counted here.
    let droppedWrites: StatCounter
    /// Backlogged writes later delivered.
    let replayedWrites: StatCounter
    /// Writes whose successful reply here differed from the reply the client got.
    let divergentReplies: StatCounter
    /// Writes this cluster answered with an error while the client got a success.
    let rejectedWrites: StatCounter
    /// Writes sent here whose connection failed before the reply, and which are not safe to send
    /// twice (INCR, APPEND, LPUSH ...): not replayed, so the cluster may or may not have them.
    let unknownOutcomes: StatCounter
    /// Keys whose write had an unknown outcome here and that were repaired from another cluster.
    let repairedKeys: StatCounter
    /// Reads this cluster answered that were checked against another cluster, and how they compared.
    let verification: VerificationStats
    let latency = LatencyHistogram()
    /// Set when a write did not fit in one of this cluster's backlogs: the cluster has lost writes and
    /// needs a resync from another cluster (sticky until the proxy restarts).
    let needsResync = Atomic<Bool>(false)
    /// Writes now held in this cluster's backlogs, across loops.
    let backlogEntries = Atomic<Int>(0)
    /// What each loop last saw of this cluster, by loop index (written on the loops' ticks and on
    /// ranking changes). Loops judge health on their own traffic, so their views can differ for a
    /// moment; readers take the worst.
    let loopViews = Mutex<[Int: LoopView]>([:])

    struct LoopView: Sendable {
        /// Place in the read order, 1 = first; 0 = not ranked (no server can serve).
        var readRank: Int
        var serversDown: Int
        var latencyNanos: UInt64?
        /// Arrival time (wall-clock ms) of the oldest write this loop holds for the cluster.
        var oldestBacklogMillis: Int64? = nil

        /// `up` with no server down, `down` with every one of `servers` down, `degraded` between
        /// (the down servers' keys are read from other clusters).
        func state(servers: Int) -> String {
            serversDown == 0 ? "up" : (serversDown >= servers ? "down" : "degraded")
        }
    }

    /// The worst view: not ranked if any loop cannot rank it (else the first loop's rank), the most
    /// servers any loop sees down, the slowest measured latency.
    var view: LoopView {
        loopViews.withLock { views in
            let ranks = views.values.map(\.readRank)
            return LoopView(
                readRank: ranks.contains(0) || ranks.isEmpty ? 0 : (views[0]?.readRank ?? ranks.max()!),
                serversDown: views.values.map(\.serversDown).max() ?? 0,
                latencyNanos: views.values.compactMap(\.latencyNanos).max(),
                oldestBacklogMillis: views.values.compactMap(\.oldestBacklogMillis).min())
        }
    }

    init(name: String, isLocal: Bool, protocolName: String, clusterNames: [String], metrics: ProxyMetrics?) {
        self.name = name
        self.isLocal = isLocal
        self.protocolName = protocolName
        func counter(_ metric: String) -> StatCounter {
            StatCounter(metrics?.counter(metric, ["protocol": protocolName, "cluster": name]))
        }
        requests = counter("metacluster_requests_total")
        errors = counter("metacluster_request_errors_total")
        missedWrites = counter("metacluster_missed_writes_total")
        droppedWrites = counter("metacluster_dropped_writes_total")
        replayedWrites = counter("metacluster_replayed_writes_total")
        divergentReplies = counter("metacluster_divergent_replies_total")
        rejectedWrites = counter("metacluster_rejected_writes_total")
        unknownOutcomes = counter("metacluster_unknown_outcome_writes_total")
        repairedKeys = counter("metacluster_repaired_keys_total")
        verification = VerificationStats(protocolName: protocolName, cluster: name, others: clusterNames, metrics: metrics)
    }
}

/// Verification outcomes of the reads one cluster answered, per cluster they were checked against.
final class VerificationStats: Sendable {
    let verified: [String: StatCounter]
    let mismatches: [String: StatCounter]
    let failures: [String: StatCounter]

    init(protocolName: String, cluster: String, others: [String], metrics: ProxyMetrics?) {
        func counters(_ metric: String) -> [String: StatCounter] {
            Dictionary(uniqueKeysWithValues: others.filter { $0 != cluster }.map {
                ($0, StatCounter(metrics?.counter(metric, ["protocol": protocolName, "cluster": cluster, "against": $0])))
            })
        }
        verified = counters("metacluster_verified_reads_total")
        mismatches = counters("metacluster_verify_mismatches_total")
        failures = counters("metacluster_verify_errors_total")
    }

    var verifiedTotal: UInt64 { verified.values.reduce(0) { $0 + $1.value } }
    var mismatchTotal: UInt64 { mismatches.values.reduce(0) { $0 + $1.value } }
    var failureTotal: UInt64 { failures.values.reduce(0) { $0 + $1.value } }
}
