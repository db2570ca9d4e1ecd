/// What the admin endpoints serve.
///
/// Contract: called on the admin loop only, one request at a time. A slow call delays the admin
/// endpoints (never the proxy's worker loops, which the admin server does not run on).
protocol AdminHandler: AnyObject {
    /// The Prometheus text exposition (format 0.0.4) for `GET /metrics`.
    func metricsText() -> [UInt8]
    /// The snapshot behind `GET /status` and the status page.
    func status() -> ProxyStatus
    /// True when at least one cluster can serve reads for every protocol (`GET /health`).
    func isHealthy() -> Bool
    /// Re-reads the configuration (`POST /reload`): whether it was applied, and a message for the operator.
    func reload() -> (applied: Bool, message: String)
}
