import EventLoop
import Logging

/// Constants of backlog replay (a generic class cannot hold static stored properties).
enum ReplayTuning {
    /// Replayed writes in flight per server and loop.
    static let window = 64
}

/// Delivers one server's backlog, in order, once the server is up again (and, for a journaled
/// server, all the time).
///
/// Contract: at most `ReplayTuning.window` replayed writes are in flight; a record is consumed from
/// the backlog only when the server answered it, so a crash or a failed connection never loses one.
/// After a failed connection the unanswered records go out again from the oldest, except those not
/// safe to repeat, which are skipped and repaired instead (`repairUnknownOutcome`), so the server
/// receives its missed writes in their original order. The records the previous run may have sent
/// (`BacklogStore.possiblySent`) are treated the same way, and so are those a run that died kept
/// after its last marker (`BacklogStore.unconfirmed`), safe to repeat or not. Replies are not compared (the client was
/// answered long ago). Loop-confined.
final class BacklogReplayer<Wire: BackendWire>: ReplyConsumer {
    unowned(unsafe) let link: ShardLink<Wire>
    /// Writes per second (0: unpaced), and a token bucket holding up to a tenth of a second's worth.
    private let rate: Double
    private var tokens: Double
    private var refilledAt = Posix.monotonicNanoseconds()
    /// Called when the last held write has been delivered: the server can serve reads again, so the
    /// read ranking should not wait for the next tick to know it.
    var drained: (() -> Void)?
    /// Repairs a write whose outcome is unknown; returns false when it cannot (counted by the caller).
    var repairUnknownOutcome: ((UnsafeRawBufferPointer) -> Bool)?

    init(link: ShardLink<Wire>, rate: Int) {
        self.link = link
        self.rate = Double(rate)
        self.tokens = max(Double(rate) / 10, 1)
    }

    /// Sends what it can; called by the worker's tick, at the end of a batch that appended, and after
    /// each replayed reply.
    func pump() {
        let backend = link.primary
        let store = link.backlog
        guard link.health.state == .up, backend.canSend, !link.retired, store.sender == nil || store.sender === self else {
            return
        }
        if rate > 0 {
            let now = Posix.monotonicNanoseconds()
            tokens = min(max(rate / 10, 1), tokens + Double(now &- refilledAt) * rate / 1e9)
            refilledAt = now
        }
        var consumed = 0
        defer { if consumed > 0 { link.stats.backlogEntries.subtract(consumed, ordering: .relaxed) } }
        while link.replayInFlight < ReplayTuning.window && (rate == 0 || tokens >= 1) && backend.canSend {
            guard let (frame, seq) = store.nextToSend(consumed: &consumed) else { break }
            if store.unconfirmed.contains(seq)
                || (seq < store.possiblySent && !frame.withUnsafeBytes({ Wire.isSafeToRepeat($0) })) {
                // Kept by a run that died: the other clusters may never have got it, or this server
                // may have applied it already. Either way its keys are copied instead.
                store.skip(seq)
                frame.withUnsafeBytes { unknownOutcome($0) }
                continue
            }
            store.sender = self
            _ = frame.withUnsafeBytes { backend.send($0, consumer: self, tag: seq) }
            link.replayInFlight += 1
            tokens -= 1
        }
        consumed += store.consumeSkippedAtHead()
        if consumed > 0 && link.heldWrites == 0 { drained?() }
    }

    func backendReplied(tag: UInt64, cluster: Int, reply: UnsafeRawBufferPointer) {
        link.replayInFlight -= 1
        link.stats.replayedWrites.bump()
        let consumed = link.backlog.acknowledge()
        link.stats.backlogEntries.subtract(consumed, ordering: .relaxed)
        pump()
        if link.heldWrites == 0 { drained?() }
    }

    func backendFailed(tag: UInt64, cluster: Int, request: UnsafeRawBufferPointer, reply: UnsafeRawBufferPointer) {
        link.replayInFlight -= 1
        // Failures arrive oldest first: the first one rewinds, and every unanswered record goes out
        // again from the oldest, except those not safe to repeat (maybe applied already).
        link.backlog.rewind()
        if !Wire.isSafeToRepeat(request) {
            link.backlog.skip(tag)
            unknownOutcome(request)
        }
    }

    private func unknownOutcome(_ request: UnsafeRawBufferPointer) {
        if repairUnknownOutcome?(request) != true { link.stats.unknownOutcomes.bump() }
    }
}
