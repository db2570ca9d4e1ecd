/// The health of one cluster (or one server): up or down, when to probe it while down, and the
/// transitions the caller logs.
///
/// Contract:
/// - Starts `up`. Optimistic on purpose: the proxy serves from the first request instead of refusing
///   or re-routing everything until a probe has run, and a cluster that is in fact unreachable is
///   found out at once, since a failed connect marks it down immediately.
/// - While up: `failureLimit` consecutive failures, or one failed connect, mark it down (`wentDown`).
///   A success resets the count of consecutive failures.
/// - While down: the first probe is due `retryInitial` after going down. `probeStarted` schedules the
///   next one, `retryInitial` doubled once more each time (2×, 4×, ...) up to `retryMax`, so a probe
///   that fails (or never answers) is followed by the next at a longer interval. Failures while down
///   change nothing else. Any success, a probe's or a request's, marks it up (`cameUp`), and the back-off
///   starts again from `retryInitial` the next time it goes down.
/// - The caller starts at most one probe at a time and gives it a timeout shorter than the interval.
/// - Times are monotonic nanoseconds supplied by the caller; additions saturate at `UInt64.max`.
///   No randomness: a caller that wants jitter adds it to the times it passes.
public struct ClusterHealth: Sendable {
    public enum State: Equatable, Sendable { case up, down }

    /// What a report changed, for the caller to log.
    public enum Transition: Equatable, Sendable { case none, wentDown, cameUp }

    public let failureLimit: Int
    public let retryInitial: UInt64
    public let retryMax: UInt64
    /// Read-only: a state change must also set the probe schedule; use the `record` methods.
    public private(set) var state: State = .up
    /// Failures (of any kind) since the last success.
    public private(set) var consecutiveFailures = 0
    /// When the state last changed (0 before any change).
    public private(set) var changedAt: UInt64 = 0
    private var probeAt: UInt64 = 0
    /// The interval `probeStarted` schedules next.
    private var backoff: UInt64

    public init(failureLimit: Int, retryInitial: UInt64, retryMax: UInt64) {
        precondition(failureLimit >= 1, "ClusterHealth: failureLimit must be at least 1")
        precondition(retryInitial >= 1 && retryMax >= retryInitial, "ClusterHealth: need 1 <= retryInitial <= retryMax")
        self.failureLimit = failureLimit
        self.retryInitial = retryInitial
        self.retryMax = retryMax
        self.backoff = retryInitial
    }

    /// While down, when the next probe is due; nil while up (for arming a timer).
    public var nextProbeAt: UInt64? { state == .down ? probeAt : nil }

    public mutating func recordSuccess(at now: UInt64) -> Transition {
        consecutiveFailures = 0
        guard state == .down else { return .none }
        state = .up
        changedAt = now
        return .cameUp
    }

    /// A request (or probe) failed: `failureLimit` consecutive failures mark it down.
    public mutating func recordFailure(at now: UInt64) -> Transition {
        consecutiveFailures += 1
        guard state == .up, consecutiveFailures >= failureLimit else { return .none }
        goDown(at: now)
        return .wentDown
    }

    /// A connect failed: marks it down at once.
    public mutating func recordConnectFailure(at now: UInt64) -> Transition {
        consecutiveFailures += 1
        guard state == .up else { return .none }
        goDown(at: now)
        return .wentDown
    }

    /// While down: the next probe time has been reached.
    public func probeDue(at now: UInt64) -> Bool {
        state == .down && now >= probeAt
    }

    /// A probe is being sent at `now`: the next one is due after the current back-off, which then
    /// doubles (up to `retryMax`). Does nothing while up.
    public mutating func probeStarted(at now: UInt64) {
        guard state == .down else { return }
        probeAt = Self.saturatingAdd(now, backoff)
        backoff = doubled(backoff)
    }

    private mutating func goDown(at now: UInt64) {
        state = .down
        changedAt = now
        probeAt = Self.saturatingAdd(now, retryInitial)
        backoff = doubled(retryInitial)
    }

    private func doubled(_ interval: UInt64) -> UInt64 {
        interval > retryMax / 2 ? retryMax : interval * 2
    }

    private static func saturatingAdd(_ a: UInt64, _ b: UInt64) -> UInt64 {
        let (sum, overflow) = a.addingReportingOverflow(b)
        return overflow ? .max : sum
    }
}
