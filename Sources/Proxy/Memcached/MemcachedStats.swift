import EventLoop
import MemcachedProtocol

/// The proxy's own `stats` reply, in memcached's `STAT <name> <value>` format ending with `END`:
/// memcached's general counters where the proxy has an equivalent (summed over every loop), then one
/// group of `cluster:<name>:<field>` lines per cluster. Off the hot path.
enum MemcachedStats {
    /// memcached's protocol level first (clients parse it), then the proxy's own version.
    static let version = "1.6.0-metacluster-\(MetaclusterVersion.current)"

    static func render(worker: MemcachedWorker) -> [UInt8] {
        var out: [UInt8] = []
        let now = Posix.wallClockMilliseconds() / 1000
        func stat(_ name: String, _ value: CustomStringConvertible) {
            MemcachedEncoder.stat(name, "\(value)", into: &out)
        }
        func sum(_ field: (MemcachedCounters) -> UInt64) -> UInt64 {
            worker.allCounters.reduce(0) { $0 &+ field($1) }
        }
        stat("pid", Posix.processID)
        stat("uptime", now - worker.startedAt)
        stat("time", now)
        stat("version", version)
        stat("pointer_size", MemoryLayout<Int>.size * 8)
        stat("threads", worker.allCounters.count)
        stat("curr_connections", worker.clientCount.value)
        stat("total_connections", sum { $0.totalConnections.load(ordering: .relaxed) })
        stat("cmd_get", sum { $0.getKeys.load(ordering: .relaxed) })
        stat("cmd_set", sum { $0.setCommands.load(ordering: .relaxed) })
        stat("cmd_touch", sum { $0.touchCommands.load(ordering: .relaxed) })
        stat("cmd_flush", sum { $0.flushCommands.load(ordering: .relaxed) })
        stat("cmd_delete", sum { $0.deleteCommands.load(ordering: .relaxed) })
        stat("cmd_arithmetic", sum { $0.arithmeticCommands.load(ordering: .relaxed) })
        stat("cmd_meta", sum { $0.metaCommands.load(ordering: .relaxed) })
        stat("get_commands", sum { $0.getCommands.load(ordering: .relaxed) })
        stat("protocol_errors", sum { $0.protocolErrors.load(ordering: .relaxed) })
        let router = worker.router
        stat("write_ack", router.policy.rawValue)
        let readOrder = router.ranking.order.prefix(router.ranking.healthyCount).map { router.clusters[$0].name }
        stat("read_order", readOrder.isEmpty ? "-" : readOrder.joined(separator: ","))
        for link in router.clusters {
            let s = link.stats
            let prefix = "cluster:\(link.name):"
            stat(prefix + "local", link.isLocal ? 1 : 0)
            stat(prefix + "state", link.stateName)
            stat(prefix + "servers", link.shards.count)
            stat(prefix + "latency_us", router.latency.estimate(link.index).map { String($0 / 1000) } ?? "-")
            stat(prefix + "backlog", s.backlogEntries.load(ordering: .relaxed))
            stat(prefix + "missed_writes", s.missedWrites.value)
            stat(prefix + "dropped_writes", s.droppedWrites.value)
            stat(prefix + "replayed_writes", s.replayedWrites.value)
            stat(prefix + "divergent_replies", s.divergentReplies.value)
            stat(prefix + "rejected_writes", s.rejectedWrites.value)
            stat(prefix + "unknown_outcomes", s.unknownOutcomes.value)
            stat(prefix + "repaired_keys", s.repairedKeys.value)
            stat(prefix + "verified_reads", s.verification.verifiedTotal)
            stat(prefix + "verify_mismatches", s.verification.mismatchTotal)
        }
        MemcachedEncoder.line("END", into: &out)
        return out
    }
}
