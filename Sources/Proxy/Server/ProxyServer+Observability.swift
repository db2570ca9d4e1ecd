import EventLoop
import Synchronization

/// What the admin listener serves: the status snapshot, the metrics, health. Everything is read from
/// counters the loops share (atomics), so the admin loop never stops a worker loop to look.
extension ProxyServer {
    /// The protocols the proxy serves, with their shared cluster counters in configuration order.
    func protocolStats(_ config: ProxyConfig) -> [(name: String, clusters: [ClusterStats], servers: [Int])] {
        var out: [(String, [ClusterStats], [Int])] = []
        if config.listen.redis != nil {
            out.append(("redis", clusterStats.stats(protocol: "redis", config: config), config.clusters.map(\.redis.count)))
        }
        if config.listen.memcached != nil {
            out.append(("memcached", clusterStats.stats(protocol: "memcached", config: config), config.clusters.map(\.memcached.count)))
        }
        return out
    }

    func status() -> ProxyStatus {
        let (config, lastReload) = state.withLock { ($0.config, $0.lastReload) }
        var listeners: [ProxyStatus.Listener] = []
        if let address = redisAddress {
            listeners.append(.init(name: "redis", address: "\(address)", clients: redisClients.value,
                                   protocolErrors: redisClients.protocolErrors.value))
        }
        if let address = memcachedAddress {
            listeners.append(.init(name: "memcached", address: "\(address)", clients: memcachedClients.value,
                                   protocolErrors: memcachedClients.protocolErrors.value))
        }
        if let address = adminAddress {
            listeners.append(.init(name: "admin", address: "\(address)", clients: adminServer?.connectionCount ?? 0, protocolErrors: 0))
        }
        let now = Posix.wallClockMilliseconds()
        let protocols = protocolStats(config).map { name, clusters, servers in
            let views = zip(clusters, servers).map { s, count in
                let view = s.view
                let down = view.serversDown
                return ProxyStatus.Cluster(
                    name: s.name, local: s.isLocal,
                    state: view.state(servers: count),
                    servers: count, serversDown: down, latencyMicros: view.latencyNanos.map { Int64($0 / 1000) },
                    readRank: view.readRank, backlog: s.backlogEntries.load(ordering: .relaxed),
                    backlogOldestSeconds: view.oldestBacklogMillis.map { max(0, now - $0) / 1000 },
                    needsResync: s.needsResync.load(ordering: .relaxed),
                    requests: s.requests.value, errors: s.errors.value, missedWrites: s.missedWrites.value,
                    droppedWrites: s.droppedWrites.value, replayedWrites: s.replayedWrites.value,
                    divergentReplies: s.divergentReplies.value, rejectedWrites: s.rejectedWrites.value,
                    unknownOutcomes: s.unknownOutcomes.value, repairedKeys: s.repairedKeys.value,
                    verifiedReads: s.verification.verifiedTotal, verifyMismatches: s.verification.mismatchTotal,
                    verifyErrors: s.verification.failureTotal)
            }
            let order = views.filter { $0.readRank > 0 }.sorted { $0.readRank < $1.readRank }.map(\.name)
            return ProxyStatus.ProtocolView(name: name, readOrder: order, clusters: views)
        }
        return ProxyStatus(
            version: MetaclusterVersion.current, uptimeSeconds: Posix.wallClockMilliseconds() / 1000 - startedAt,
            writeAck: config.writeAck.rawValue, configPath: configPath, lastReload: lastReload,
            listeners: listeners, protocols: protocols)
    }

    /// Prometheus text: gauges refreshed from the shared counters, then every metric.
    func metricsText() -> [UInt8] {
        let config = self.config
        var all: [ClusterStats] = []
        for (name, clusters, servers) in protocolStats(config) {
            for (s, count) in zip(clusters, servers) {
                let labels: KeyValuePairs<String, String> = ["protocol": name, "cluster": s.name]
                let view = s.view
                metrics.setGauge("metacluster_cluster_up", labels, view.serversDown == 0 ? 1 : 0)
                metrics.setGauge("metacluster_cluster_servers", labels, Double(count))
                metrics.setGauge("metacluster_cluster_servers_down", labels, Double(view.serversDown))
                metrics.setGauge("metacluster_cluster_read_rank", labels, Double(view.readRank))
                metrics.setGauge("metacluster_cluster_latency_seconds", labels, Double(view.latencyNanos ?? 0) / 1e9)
                metrics.setGauge("metacluster_backlog_entries", labels, Double(s.backlogEntries.load(ordering: .relaxed)))
                metrics.setGauge("metacluster_backlog_oldest_seconds", labels,
                                 view.oldestBacklogMillis.map { Double(max(0, Posix.wallClockMilliseconds() - $0)) / 1000 } ?? 0)
                metrics.setGauge("metacluster_cluster_needs_resync", labels, s.needsResync.load(ordering: .relaxed) ? 1 : 0)
                all.append(s)
            }
        }
        if config.listen.redis != nil { metrics.setGauge("metacluster_clients", ["listener": "redis"], Double(redisClients.value)) }
        if config.listen.memcached != nil {
            metrics.setGauge("metacluster_clients", ["listener": "memcached"], Double(memcachedClients.value))
        }
        metrics.setGauge("metacluster_uptime_seconds", [:], Double(Posix.wallClockMilliseconds() / 1000 - startedAt))
        return metrics.render(histogramsOf: all)
    }

    /// Healthy while every protocol served has a cluster that can serve reads.
    func isHealthy() -> Bool {
        protocolStats(config).allSatisfy { _, clusters, _ in clusters.contains { $0.view.readRank > 0 } }
    }
}
