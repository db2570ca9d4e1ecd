import CoreMetrics
import Prometheus

/// The proxy's metrics registry: swift-metrics handles are created through a factory backed by
/// swift-prometheus's registry (no global bootstrap, so several servers can live in one process),
/// and `render` writes the Prometheus text exposition for `GET /metrics`.
///
/// Contract: counters are created once (per cluster, listener, pair) and incremented from any
/// thread; gauges are set from shared atomics just before rendering; the round-trip histograms,
/// merged from per-loop tallies, are written by `PrometheusHistogramText` after the registry's own
/// output.
final class ProxyMetrics: Sendable {
    private let registry = PrometheusCollectorRegistry()
    private let factory: PrometheusMetricsFactory

    init() {
        factory = PrometheusMetricsFactory(registry: registry)
    }

    func counter(_ name: String, _ labels: KeyValuePairs<String, String>) -> CoreMetrics.Counter {
        CoreMetrics.Counter(label: name, dimensions: labels.map { ($0.key, $0.value) }, factory: factory)
    }

    func setGauge(_ name: String, _ labels: KeyValuePairs<String, String>, _ value: Double) {
        CoreMetrics.Gauge(label: name, dimensions: labels.map { ($0.key, $0.value) }, factory: factory).record(value)
    }

    /// The exposition: every registered metric, then the histograms of `clusters`.
    func render(histogramsOf clusters: [ClusterStats]) -> [UInt8] {
        var out: [UInt8] = []
        registry.emit(into: &out)
        PrometheusHistogramText.write(
            name: "metacluster_request_duration_seconds",
            help: "Round trip of each reply from a cluster's servers",
            series: clusters.map { (["protocol": $0.protocolName, "cluster": $0.name], $0.latency.snapshot) },
            into: &out)
        return out
    }
}

/// Writes one histogram family in the Prometheus text format (cumulative buckets, `le` in seconds).
enum PrometheusHistogramText {
    static func write(name: String, help: String, series: [(labels: KeyValuePairs<String, String>, counts: LatencyHistogram.Counts)],
                      into out: inout [UInt8]) {
        guard !series.isEmpty else { return }
        var text = "# HELP \(name) \(help)\n# TYPE \(name) histogram\n"
        for (labels, counts) in series {
            let base = labels.map { "\($0.key)=\"\(escape($0.value))\"" }.joined(separator: ",")
            var cumulative: UInt64 = 0
            for (i, bound) in LatencyHistogram.bounds.enumerated() {
                cumulative += counts.buckets[i]
                text += "\(name)_bucket{\(base),le=\"\(seconds(bound))\"} \(cumulative)\n"
            }
            text += "\(name)_bucket{\(base),le=\"+Inf\"} \(counts.count)\n"
            text += "\(name)_sum{\(base)} \(seconds(counts.sumNanos))\n"
            text += "\(name)_count{\(base)} \(counts.count)\n"
        }
        out.append(contentsOf: text.utf8)
    }

    static func seconds(_ nanos: UInt64) -> String {
        let whole = nanos / 1_000_000_000
        var fraction = String(nanos % 1_000_000_000)
        fraction = String(repeating: "0", count: 9 - fraction.count) + fraction
        while fraction.hasSuffix("0") { fraction.removeLast() }
        return fraction.isEmpty ? "\(whole)" : "\(whole).\(fraction)"
    }

    static func escape(_ value: String) -> String {
        var out = ""
        for c in value {
            switch c {
            case "\\": out += "\\\\"
            case "\"": out += "\\\""
            case "\n": out += "\\n"
            default: out.append(c)
            }
        }
        return out
    }
}
