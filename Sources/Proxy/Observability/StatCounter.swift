import CoreMetrics
import Synchronization

/// A monotonic count the proxy both shows itself (INFO, stats, /status) and exports (a swift-metrics
/// `Counter`, so /metrics). Shared by every loop; a relaxed atomic plus the exporter's own atomic,
/// touched on failure, divergence, replay and verification paths and by the per-tick flush of
/// per-loop tallies — never once per request from several loops.
final class StatCounter: Sendable {
    private let count = Atomic<UInt64>(0)
    private let exported: CoreMetrics.Counter?

    init(_ exported: CoreMetrics.Counter?) {
        self.exported = exported
    }

    var value: UInt64 { count.load(ordering: .relaxed) }

    @inline(__always)
    func bump() { add(1) }

    func add(_ n: UInt64) {
        guard n > 0 else { return }
        count.add(n, ordering: .relaxed)
        exported?.increment(by: Int64(truncatingIfNeeded: n))
    }
}
