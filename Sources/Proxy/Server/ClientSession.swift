import EventLoop
import Logging

/// A client connection's reply side and life cycle, the same for every protocol: replies released
/// in request order, the output limit, reading paused while too many requests are outstanding, and
/// closing once every reply is written (quit, a protocol error, end of input, shutdown).
///
/// Contract: loop-confined. A conforming session keeps the state below and calls `complete` once per
/// request tag, and says in `allRepliesWritten` what happens once nothing is outstanding.
protocol ClientSession: ChannelDelegate {
    var channel: SocketChannel { get }
    var logger: Logger { get }
    var limits: LimitConfig { get }
    var order: ReplyOrder { get set }
    /// Reading stopped because `maxClientInFlight` requests are outstanding.
    var pausedForInFlight: Bool { get set }
    /// No more requests are read; the connection closes once every reply is written.
    var closeWhenDone: Bool { get set }
    /// Shutdown is in progress: reading never resumes.
    var draining: Bool { get set }
    /// Every outstanding reply is written and the session stays open (a barrier may lift here).
    func allRepliesWritten()
}

extension ClientSession {
    /// Requests whose replies are not written yet.
    var outstanding: Int { order.outstanding }

    /// Releases the reply for `tag` (and any later ones it was holding back) to the output.
    @inline(__always)
    func complete(tag: UInt64, reply: UnsafeRawBufferPointer) {
        guard channel.state == .open else {
            // Closed client: drop the reply, but keep the count right for shutdown accounting.
            order.complete(tag: tag, reply: reply) { _ in }
            return
        }
        let channel = self.channel
        // An empty reply is a request the client asked not to hear about (memcached noreply).
        order.complete(tag: tag, reply: reply) { if !$0.isEmpty { channel.output.append($0) } }
        afterReplies()
    }

    private func afterReplies() {
        if channel.pendingOutputBytes > limits.clientOutputLimitBytes {
            logger.warning("client output limit reached, disconnecting", metadata: [
                "pendingBytes": "\(channel.pendingOutputBytes)", "limit": "\(limits.clientOutputLimitBytes)",
            ])
            channel.close()
            return
        }
        let outstanding = order.outstanding
        if outstanding == 0 {
            if closeWhenDone {
                channel.notifyWhenDrained()
                return
            }
            allRepliesWritten()
        }
        if pausedForInFlight && outstanding <= limits.maxClientInFlight / 2 {
            pausedForInFlight = false
            if !draining { channel.resumeReading() }
        }
    }

    /// Stops reading once `maxClientInFlight` requests are outstanding; true when it did.
    @inline(__always)
    func pauseIfTooManyInFlight() -> Bool {
        guard order.outstanding >= limits.maxClientInFlight else { return false }
        pausedForInFlight = true
        channel.pauseReading()
        return true
    }

    /// Stops reading; closes once every outstanding reply is written.
    func finishAfterReplies() {
        closeWhenDone = true
        channel.pauseReading()
        if order.outstanding == 0 {
            if channel.pendingOutputBytes == 0 { channel.close() } else { channel.notifyWhenDrained() }
        }
    }

    /// Shutdown: no new requests, finish the ones in flight.
    func drain() {
        draining = true
        finishAfterReplies()
    }

    /// Resumes reading after a pause of the session's own (a decision), unless it is closing.
    func resumeReadingUnlessClosing() {
        if !draining && !closeWhenDone { channel.resumeReading() }
    }

    // Channel callbacks every session handles alike.

    func channelInputClosed(_ channel: SocketChannel) {
        // A client that half-closes after its last command still gets its replies.
        finishAfterReplies()
    }

    func channelDrained(_ channel: SocketChannel) {
        if closeWhenDone && order.outstanding == 0 {
            channel.close()
        }
    }
}
