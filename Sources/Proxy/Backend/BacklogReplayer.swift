import EventLoop
import Logging

/// Delivers one server's backlog, in order, once the server is up again.
///
/// Contract: at most `window` replayed writes are in flight; a replayed write whose connection fails
/// is queued to go out again before anything later, so the server receives its missed writes in
/// their original order. Its replies are not compared (the client was answered long ago). Loop-confined.
final class BacklogReplayer<Wire: BackendWire>: ReplyConsumer {
    unowned(unsafe) let link: ShardLink<Wire>
    private let window: Int
    /// Writes per second (0: unpaced), and a token bucket holding up to a tenth of a second's worth.
    private let rate: Double
    private var tokens: Double
    private var refilledAt = Posix.monotonicNanoseconds()
    /// Called when the last held write has been delivered: the server can serve reads again, so the
    /// read ranking should not wait for the next tick to know it.
    var drained: (() -> Void)?

    init(link: ShardLink<Wire>, window: Int = 64, rate: Int) {
        self.link = link
        self.window = window
        self.rate = Double(rate)
        self.tokens = max(Double(rate) / 10, 1)
    }

    /// Sends what it can; called by the worker's tick and after each replayed reply.
    func pump() {
        let backend = link.primary
        guard link.health.state == .up, backend.isReady, !link.retired else { return }
        if rate > 0 {
            let now = Posix.monotonicNanoseconds()
            tokens = min(max(rate / 10, 1), tokens + Double(now &- refilledAt) * rate / 1e9)
            refilledAt = now
        }
        while link.replayInFlight < window && (rate == 0 || tokens >= 1) {
            let frame: [UInt8]
            if let retry = link.replayRetry.popFirst() {
                frame = retry
            } else if let next = link.backlog.popFirst() {
                frame = next
            } else {
                return
            }
            let sent = frame.withUnsafeBytes { backend.send($0, consumer: self, tag: 0) }
            guard sent else {
                link.replayRetry.insert(frame, at: 0)
                return
            }
            link.replayInFlight += 1
            tokens -= 1
            link.stats.backlogEntries.subtract(1, ordering: .relaxed)
        }
    }

    func backendReplied(tag: UInt64, cluster: Int, reply: UnsafeRawBufferPointer) {
        link.replayInFlight -= 1
        link.stats.replayedWrites.bump()
        pump()
        if link.heldWrites == 0 { drained?() }
    }

    func backendFailed(tag: UInt64, cluster: Int, request: UnsafeRawBufferPointer, reply: UnsafeRawBufferPointer) {
        link.replayInFlight -= 1
        // A replayed write may have been applied before its connection failed: only writes safe to
        // repeat go out again; the others count as unknown outcomes (see `ClusterRouter.keepAfterFailure`).
        guard Wire.isSafeToRepeat(request) else {
            link.stats.unknownOutcomes.bump()
            return
        }
        // Failures arrive oldest first, so appending keeps them in order ahead of the backlog.
        link.replayRetry.append(Array(request))
        link.stats.backlogEntries.add(1, ordering: .relaxed)
    }
}
