import Synchronization

/// What a reload changes in the running server, behind `ProxyServer.state`'s lock.
struct ServerState: Sendable {
    var config: ProxyConfig
    var lastReload: ProxyStatus.ReloadOutcome? = nil
}

/// Every cluster's shared counters by protocol and name, created on first use: a cluster that a
/// reload keeps keeps its counts, one it adds starts from zero.
final class ClusterStatsDirectory: Sendable {
    private let metrics: ProxyMetrics
    private let byKey = Mutex<[String: ClusterStats]>([:])

    init(metrics: ProxyMetrics) {
        self.metrics = metrics
    }

    /// The stats of `config`'s clusters for `protocol`, in configuration order.
    func stats(protocol name: String, config: ProxyConfig) -> [ClusterStats] {
        let names = config.clusters.map(\.name)
        return byKey.withLock { table in
            config.clusters.map { cluster in
                let key = "\(name)/\(cluster.name)"
                if let existing = table[key], existing.isLocal == cluster.local { return existing }
                let created = ClusterStats(
                    name: cluster.name, isLocal: cluster.local, protocolName: name, clusterNames: names, metrics: metrics)
                table[key] = created
                return created
            }
        }
    }
}
