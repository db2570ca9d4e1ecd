import Synchronization

/// Counts one listener's clients across all loops, for `maxClients` and /metrics, and its clients'
/// protocol errors and failed authentications.
final class ClientCounter: Sendable {
    private let count = Atomic<Int>(0)
    let listener: String
    let protocolErrors: StatCounter
    /// AUTH and HELLO ... AUTH attempts refused (wrong password, unknown user).
    let authFailures: StatCounter

    init(listener: String, metrics: ProxyMetrics?) {
        self.listener = listener
        self.protocolErrors = StatCounter(metrics?.counter("metacluster_protocol_errors_total", ["listener": listener]))
        self.authFailures = StatCounter(metrics?.counter("metacluster_auth_failures_total", ["listener": listener]))
    }

    func tryAdd(limit: Int) -> Bool {
        let now = count.add(1, ordering: .relaxed).newValue
        if now > limit {
            count.subtract(1, ordering: .relaxed)
            return false
        }
        return true
    }

    func remove() {
        count.subtract(1, ordering: .relaxed)
    }

    var value: Int { count.load(ordering: .relaxed) }
}
