import EventLoop
import Routing

/// A client session whose forwarded requests go through a `ClusterRouter`: reads down the read
/// ranking, writes to every cluster under the ack policy, and writes decided by one cluster whose
/// effect the others get. Written once for every protocol; a session supplies its codec's part.
///
/// Contract for conforming sessions: loop-confined; `respond` is called exactly once per request
/// started here, with the request's reply-order tag; a session has at most one decision in flight
/// and reads no further input until `decisionEnded` (so every cluster sees its writes in order).
protocol RoutedSession: ReplyConsumer {
    associatedtype Wire: BackendWire
    var router: ClusterRouter<Wire> { get }
    /// The connection variant this client's requests need (redis: RESP2 or RESP3).
    var variant: Int { get }
    var slots: RequestSlots { get set }
    var order: ReplyOrder { get set }
    /// Answers the request with reply-order `tag`; `quiet` is the filter the request asked for
    /// (memcached `noreply` and meta quiet mode), 0 for none.
    func respond(tag: UInt64, quiet: UInt8, reply: UnsafeRawBufferPointer)
    /// What the other clusters must get once the deciding cluster answered `reply`, or nil when
    /// nothing changed there (an error, nothing stored or popped).
    func decisionEffect(reply: UnsafeRawBufferPointer) -> [UInt8]?
    /// The decision in flight is over (answered or failed): input may be read again.
    func decisionEnded()
}

extension RoutedSession {
    /// Sends a read to the best cluster of the read ranking; on a transport failure it moves on to the next.
    @inline(__always)
    func read(_ frame: UnsafeRawBufferPointer, quiet: UInt8 = 0) {
        let slot = slots.allocate(orderTag: order.next())
        slots[slot].isWrite = false
        slots[slot].quiet = quiet
        sendRead(slot, frame, lastError: nil)
    }

    private func sendRead(_ slot: Int, _ frame: UnsafeRawBufferPointer, lastError: UnsafeRawBufferPointer?) {
        var refused: BackendConnection<Wire>? = nil
        let router = self.router
        while let c = router.ranking.candidate(after: slots[slot].tried) {
            slots[slot].tried |= 1 << UInt64(c)
            let backend = router.clusters[c].backend(variant: variant)
            if backend.send(frame, consumer: self, tag: UInt64(slot)) { return }
            refused = backend
        }
        // Every cluster was tried: answer with the most recent reason.
        if let refused {
            finish(slot, reply: refused.unavailableReply)
        } else if let lastError {
            finish(slot, reply: lastError)
        } else {
            finish(slot, reply: Wire.noClusterReply)
        }
    }

    /// Runs the write on the best cluster for reads (the local one while it is healthy); the others get
    /// its effect (`decisionEffect`). The session reads nothing more until `decisionEnded`.
    func decide(_ frame: UnsafeRawBufferPointer, quiet: UInt8 = 0) {
        let slot = slots.allocate(orderTag: order.next())
        slots[slot].isWrite = false
        slots[slot].isDecision = true
        slots[slot].quiet = quiet
        sendRead(slot, frame, lastError: nil)
    }

    /// The deciding cluster answered: the other clusters get its effect, and from here on it is a
    /// write like any other — the ack policy decides when the client gets the deciding reply.
    private func decided(_ slot: Int, cluster: Int, reply: UnsafeRawBufferPointer) {
        defer { decisionEnded() }
        slots[slot].isDecision = false
        guard let effect = decisionEffect(reply: reply) else {
            return finish(slot, reply: reply)
        }
        let router = self.router
        slots[slot].isWrite = true
        slots[slot].decidedReply = Array(reply)
        slots[slot].fanOut = WriteFanOut(clusterCount: router.clusters.count, localMask: router.localMask, policy: router.policy)
        var refused: [Int] = []
        effect.withUnsafeBytes { frame in
            for link in router.clusters where link.index != cluster {
                if link.takesWritesDirectly && link.backend(variant: variant).send(frame, consumer: self, tag: UInt64(slot)) {
                    continue
                }
                router.keepForLater(frame, link: link)
                refused.append(link.index)
            }
        }
        // Exactly one record per cluster; whichever comes last releases the slot.
        for c in refused {
            router.clusters[c].primary.unavailableReply.withUnsafeBytes {
                recordWrite(slot, cluster: c, reply: $0, failed: true)
            }
        }
        recordWrite(slot, cluster: cluster, reply: reply, failed: false)
    }

    /// Sends a write to every cluster: directly where the cluster can take it, to its backlog otherwise.
    @inline(__always)
    func write(_ frame: UnsafeRawBufferPointer, quiet: UInt8 = 0) {
        let router = self.router
        let slot = slots.allocate(orderTag: order.next())
        slots[slot].isWrite = true
        slots[slot].quiet = quiet
        slots[slot].fanOut = WriteFanOut(clusterCount: router.clusters.count, localMask: router.localMask, policy: router.policy)
        for link in router.clusters {
            let backend = link.backend(variant: variant)
            if link.takesWritesDirectly && backend.send(frame, consumer: self, tag: UInt64(slot)) { continue }
            router.keepForLater(frame, link: link)
            backend.unavailableReply.withUnsafeBytes { recordWrite(slot, cluster: link.index, reply: $0, failed: true) }
        }
    }

    /// Feeds one cluster's outcome to the write's ack policy; answers the client when it decides.
    private func recordWrite(_ slot: Int, cluster c: Int, reply: UnsafeRawBufferPointer, failed: Bool) {
        let router = self.router
        // A decided write's successes answer different commands (SPOP here, SREM there): one hash for all.
        let hash = slots[slot].decidedReply == nil ? ReplyHash.hash(reply) : 0
        let outcome: WriteFanOut.Outcome = failed ? .failure : .success(replyHash: hash)
        let tag = slots[slot].orderTag
        let quiet = slots[slot].quiet
        switch slots[slot].fanOut.record(cluster: c, outcome) {
        case .answer(let answered):
            if let decidedReply = slots[slot].decidedReply, slots[slot].fanOut.answeredWithSuccess {
                decidedReply.withUnsafeBytes { respond(tag: tag, quiet: quiet, reply: $0) }
            } else if answered == c {
                respond(tag: tag, quiet: quiet, reply: reply)
            } else if let kept = slots[slot].held?[answered] {
                kept.withUnsafeBytes { respond(tag: tag, quiet: quiet, reply: $0) }
            } else {
                // The policy chose a cluster whose reply was not kept: cannot happen by WriteFanOut's contract.
                Wire.noClusterReply.withUnsafeBytes { respond(tag: tag, quiet: quiet, reply: $0) }
            }
            slots[slot].held = nil
        case .wait:
            // Only `majority` and `all` (and `first` when everything so far failed) may later answer
            // with a reply that arrived earlier; `first` on success and `local` never need a copy.
            if router.policy != .local && slots[slot].fanOut.answeredCluster == nil {
                if slots[slot].held == nil { slots[slot].held = Array(repeating: nil, count: router.clusters.count) }
                slots[slot].held![c] = Array(reply)
            }
        }
        if slots[slot].fanOut.isComplete {
            let fanOut = slots[slot].fanOut
            if let answered = fanOut.answeredCluster, fanOut.divergentMask | slots[slot].errorMask != 0 {
                router.noteDivergence(
                    answered: answered, divergent: fanOut.divergentMask,
                    rejected: fanOut.answeredWithSuccess ? slots[slot].errorMask : 0)
            }
            slots.release(slot)
        }
    }

    private func finish(_ slot: Int, reply: [UInt8]) {
        reply.withUnsafeBytes { finish(slot, reply: $0) }
    }

    private func finish(_ slot: Int, reply: UnsafeRawBufferPointer) {
        let tag = slots[slot].orderTag
        let quiet = slots[slot].quiet
        slots.release(slot)
        respond(tag: tag, quiet: quiet, reply: reply)
    }

    // MARK: backend outcomes

    func backendReplied(tag: UInt64, cluster: Int, reply: UnsafeRawBufferPointer) {
        let slot = Int(tag)
        if slots[slot].isWrite {
            let isError = Wire.isError(reply)
            if isError { slots[slot].errorMask |= 1 << UInt64(cluster) }
            recordWrite(slot, cluster: cluster, reply: reply, failed: isError)
        } else if slots[slot].isDecision {
            decided(slot, cluster: cluster, reply: reply)
        } else {
            finish(slot, reply: reply)
        }
    }

    func backendFailed(tag: UInt64, cluster: Int, request: UnsafeRawBufferPointer, reply: UnsafeRawBufferPointer) {
        let slot = Int(tag)
        if slots[slot].isWrite {
            // Sent but unanswered: it may or may not have been applied. Kept for replay (issue #7
            // refines this for writes that are not idempotent).
            router.keepForLater(request, link: router.clusters[cluster])
            recordWrite(slot, cluster: cluster, reply: reply, failed: true)
        } else if slots[slot].isDecision {
            // It may or may not have run there; trying elsewhere could decide differently. Report it.
            finish(slot, reply: reply)
            decisionEnded()
        } else {
            sendRead(slot, request, lastError: reply)
        }
    }
}
