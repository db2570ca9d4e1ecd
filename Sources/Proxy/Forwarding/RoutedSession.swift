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
    /// Every request started here has been answered by every cluster involved (called when the
    /// last write's fan-out completes, which may be after its client was answered).
    func allSettled()
}

extension RoutedSession {
    /// Sends a read to the best cluster of the read ranking whose server for `key` can serve it; on a
    /// transport failure it moves on to the next. A nil `key` reads from each cluster's first server.
    /// `verifyKey`, for reads whose reply depends on the data alone, makes the read eligible for
    /// verification and names it in a mismatch report.
    @inline(__always)
    func read(_ frame: UnsafeRawBufferPointer, quiet: UInt8 = 0, key: UnsafeRawBufferPointer?,
              verifyKey: UnsafeRawBufferPointer? = nil) {
        let slot = slots.allocate(orderTag: order.next())
        slots[slot].isWrite = false
        slots[slot].quiet = quiet
        if let key { router.place(key: key, into: &slots[slot].placement) }
        sampleForVerification(slot, frame, verifyKey)
        sendRead(slot, frame, lastError: nil)
    }

    /// One part of a read split per server (see `SplitRequest`).
    func readPart(_ frame: UnsafeRawBufferPointer, placement: Placement, split: SplitRequest, part: Int,
                  verifyKey: UnsafeRawBufferPointer? = nil) {
        let slot = slots.allocate(orderTag: split.orderTag)
        slots[slot].isWrite = false
        slots[slot].placement.copy(from: placement)
        slots[slot].split = split
        slots[slot].part = part
        sampleForVerification(slot, frame, verifyKey)
        sendRead(slot, frame, lastError: nil)
    }

    /// Picks the read for verification (`RoutedSession+Verification`) when the sampler says so.
    @inline(__always)
    private func sampleForVerification(_ slot: Int, _ frame: UnsafeRawBufferPointer, _ verifyKey: UnsafeRawBufferPointer?) {
        if let verifyKey, router.verifier.sample() {
            slots[slot].verify = VerifySample(frame: Array(frame), key: Array(verifyKey))
        }
    }

    /// Sends read `slot` down the read ranking, skipping the clusters already tried (internal for
    /// `RoutedSession+ScriptRepair`).
    func sendRead(_ slot: Int, _ frame: UnsafeRawBufferPointer, lastError: UnsafeRawBufferPointer?) {
        var refused: BackendConnection<Wire>? = nil
        let router = self.router
        // First the clusters whose server for this request can serve it; then, as a last resort, the
        // others (a server marked down may be back, and a stale answer beats none).
        for lastResort in 0..<2 {
            var skipped: UInt64 = 0
            while let c = router.ranking.candidate(after: slots[slot].tried | skipped) {
                let shard = router.clusters[c].shards[slots[slot].placement.shard(c)]
                if lastResort == 0 && !shard.isReadable {
                    skipped |= 1 << UInt64(c)
                    continue
                }
                slots[slot].tried |= 1 << UInt64(c)
                let backend = shard.backend(variant: variant)
                if backend.send(frame, consumer: self, tag: UInt64(slot)) { return }
                refused = backend
            }
        }
        // Every cluster was tried: answer with the most recent reason.
        if slots[slot].isDecision {
            // Nothing was decided anywhere: the session may read on.
            defer { decisionEnded() }
            slots[slot].isDecision = false
            return finish(slot, reply: refused?.unavailableReply ?? Wire.noClusterReply)
        }
        if let refused {
            finish(slot, reply: refused.unavailableReply)
        } else if let lastError {
            finishRead(slot, reply: lastError)
        } else {
            finish(slot, reply: Wire.noClusterReply)
        }
    }

    /// Runs the write on the best cluster for reads of `key` (the local one while its server for the
    /// key is healthy); the others get its effect (`decisionEffect`). The session reads nothing more
    /// until `decisionEnded`.
    ///
    /// With `dedicated` (a client's own connection, see `DedicatedConnections`) the write runs there
    /// and nowhere else: a transaction under WATCH, a blocking command.
    func decide(_ frame: UnsafeRawBufferPointer, quiet: UInt8 = 0, key: UnsafeRawBufferPointer?,
                on dedicated: BackendConnection<Wire>? = nil) {
        let slot = slots.allocate(orderTag: order.next())
        slots[slot].isWrite = false
        slots[slot].isDecision = true
        slots[slot].quiet = quiet
        if let key { router.place(key: key, into: &slots[slot].placement) }
        guard let dedicated else { return sendRead(slot, frame, lastError: nil) }
        slots[slot].tried = 1 << UInt64(dedicated.cluster)
        slots[slot].effectAtBatchEnd = true
        if dedicated.send(frame, consumer: self, tag: UInt64(slot)) { return }
        slots[slot].isDecision = false
        finish(slot, reply: dedicated.unavailableReply)
        decisionEnded()
    }

    /// Sends a request whose reply goes to the client as is, on one given connection (WATCH and
    /// UNWATCH on the client's own connection).
    func read(_ frame: UnsafeRawBufferPointer, on backend: BackendConnection<Wire>) {
        let slot = slots.allocate(orderTag: order.next())
        slots[slot].isWrite = false
        slots[slot].tried = ~0
        if !backend.send(frame, consumer: self, tag: UInt64(slot)) { finish(slot, reply: backend.unavailableReply) }
    }

    /// The deciding cluster answered: the other clusters get its effect, and from here on it is a
    /// write like any other — the ack policy decides when the client gets the deciding reply.
    private func decided(_ slot: Int, cluster: Int, reply: UnsafeRawBufferPointer) {
        defer { decisionEnded() }
        slots[slot].isDecision = false
        guard let effect = decisionEffect(reply: reply) else {
            return finishRead(slot, reply: reply)
        }
        let router = self.router
        slots[slot].isWrite = true
        slots[slot].decidedReply = Array(reply)
        slots[slot].fanOut = WriteFanOut(clusterCount: router.clusters.count, localMask: router.localMask, policy: router.policy)
        var refused: [Int] = []
        effect.withUnsafeBytes { frame in
            for link in router.clusters where link.index != cluster {
                let shard = link.shards[slots[slot].placement.shard(link.index)]
                if shard.takesWritesDirectly && shard.backend(variant: variant).send(frame, consumer: self, tag: UInt64(slot)) {
                    continue
                }
                router.keepForLater(frame, shard: shard)
                refused.append(link.index)
            }
        }
        // Exactly one record per cluster; whichever comes last releases the slot.
        for c in refused {
            router.clusters[c].primary.unavailableReply.withUnsafeBytes {
                clusterFailed(slot, cluster: c, reply: $0)
            }
        }
        recordWrite(slot, cluster: cluster, reply: reply, failed: false)
    }

    /// Sends a write to every cluster, to the server owning `key` there: directly where that server
    /// can take it, to its backlog otherwise. A nil `key` on a sharded router goes to every server
    /// (see `broadcast`).
    ///
    /// `repliesDiffer`: the clusters' replies are expected to differ (PUBLISH counts each cluster's
    /// receivers), so they are not compared.
    @inline(__always)
    func write(_ frame: UnsafeRawBufferPointer, quiet: UInt8 = 0, key: UnsafeRawBufferPointer?, repliesDiffer: Bool = false) {
        let router = self.router
        guard key != nil || !router.isSharded else { return broadcast(frame, quiet: quiet, repliesDiffer: repliesDiffer) }
        let slot = slots.allocate(orderTag: order.next())
        slots[slot].quiet = quiet
        slots[slot].repliesDiffer = repliesDiffer
        if let key { router.place(key: key, into: &slots[slot].placement) }
        sendWrite(slot, frame)
    }

    /// One part of a write split per server (see `SplitRequest`).
    func writePart(_ frame: UnsafeRawBufferPointer, placement: Placement, split: SplitRequest, part: Int) {
        let slot = slots.allocate(orderTag: split.orderTag)
        slots[slot].placement.copy(from: placement)
        slots[slot].split = split
        slots[slot].part = part
        sendWrite(slot, frame)
    }

    @inline(__always)
    func sendWrite(_ slot: Int, _ frame: UnsafeRawBufferPointer) {
        let router = self.router
        slots[slot].isWrite = true
        slots[slot].fanOut = WriteFanOut(clusterCount: router.clusters.count, localMask: router.localMask, policy: router.policy)
        for link in router.clusters {
            let shard = link.shards[slots[slot].placement.shard(link.index)]
            let backend = shard.backend(variant: variant)
            if shard.takesWritesDirectly && backend.send(frame, consumer: self, tag: UInt64(slot)) { continue }
            if let repair = slots[slot].scriptRepair {
                // The script goes ahead of its call, so a replay after a restart finds it.
                keepScriptForLater(frame, body: repair.body, shard: shard)
            } else {
                router.keepForLater(frame, shard: shard)
            }
            backend.unavailableReply.withUnsafeBytes { recordWrite(slot, cluster: link.index, reply: $0, failed: true) }
        }
    }

    /// Starts a write that reports per cluster through `clusterAnswered`/`clusterFailed` (used by
    /// writes sent to every server of each cluster); returns its slot.
    func beginWrite(quiet: UInt8) -> Int {
        let slot = slots.allocate(orderTag: order.next())
        slots[slot].isWrite = true
        slots[slot].quiet = quiet
        slots[slot].fanOut = WriteFanOut(clusterCount: router.clusters.count, localMask: router.localMask, policy: router.policy)
        return slot
    }

    /// A cluster's reply to write `slot`; error replies count as failures.
    func clusterAnswered(_ slot: Int, cluster: Int, reply: UnsafeRawBufferPointer) {
        // A script the cluster lost: given back and run again there, the retry's reply counts instead.
        if slots[slot].scriptRepair != nil && repairScriptWrite(slot, cluster: cluster, reply: reply) { return }
        let isError = Wire.isError(reply)
        if isError { slots[slot].errorMask |= 1 << UInt64(cluster) }
        recordWrite(slot, cluster: cluster, reply: reply, failed: isError)
    }

    /// A cluster could not take write `slot` (what it missed is already kept for later).
    func clusterFailed(_ slot: Int, cluster: Int, reply: UnsafeRawBufferPointer) {
        recordWrite(slot, cluster: cluster, reply: reply, failed: true)
    }

    /// Feeds one cluster's outcome to the write's ack policy; answers the client when it decides.
    private func recordWrite(_ slot: Int, cluster c: Int, reply: UnsafeRawBufferPointer, failed: Bool) {
        let router = self.router
        // A decided write's successes answer different commands (SPOP here, SREM there): one hash for all.
        let hash = slots[slot].decidedReply == nil && !slots[slot].repliesDiffer ? ReplyHash.hash(reply) : 0
        let outcome: WriteFanOut.Outcome = failed ? .failure : .success(replyHash: hash)
        switch slots[slot].fanOut.record(cluster: c, outcome) {
        case .answer(let answered):
            if let decidedReply = slots[slot].decidedReply, slots[slot].fanOut.answeredWithSuccess {
                decidedReply.withUnsafeBytes { deliver(slot, reply: $0) }
            } else if answered == c {
                deliver(slot, reply: reply)
            } else if let kept = slots[slot].held.reply(cluster: answered) {
                // Delivered outside the slot's access: answering may touch the slots.
                kept.storage.withUnsafeBytes { deliver(slot, reply: UnsafeRawBufferPointer(rebasing: $0[kept.range])) }
            } else {
                // The policy chose a cluster whose reply was not kept: cannot happen by WriteFanOut's contract.
                Wire.noClusterReply.withUnsafeBytes { deliver(slot, reply: $0) }
            }
            slots[slot].held.clear()
        case .wait:
            // Only `majority` and `all` (and `first` when everything so far failed) may later answer
            // with a reply that arrived earlier; `first` on success and `local` never need a copy.
            if router.policy != .local && slots[slot].fanOut.answeredCluster == nil {
                slots[slot].held.keep(reply, cluster: c, clusters: router.clusters.count)
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
            if slots.inUse == 0 { allSettled() }
        }
    }

    /// Starts a read answered through `finishRead` (used by reads gathered from several servers).
    func beginRead(quiet: UInt8 = 0) -> Int {
        let slot = slots.allocate(orderTag: order.next())
        slots[slot].isWrite = false
        slots[slot].quiet = quiet
        return slot
    }

    /// Answers read `slot` (or its part of a split) with `reply` and frees the slot.
    func finishRead(_ slot: Int, reply: UnsafeRawBufferPointer) {
        let tag = slots[slot].orderTag
        let quiet = slots[slot].quiet
        let split = slots[slot].split
        let part = slots[slot].part
        slots.release(slot)
        answer(tag: tag, quiet: quiet, split: split, part: part, reply: reply)
    }

    private func finish(_ slot: Int, reply: [UInt8]) {
        reply.withUnsafeBytes { finishRead(slot, reply: $0) }
    }

    /// Answers the client for `slot`, or hands the reply to the split it is part of.
    @inline(__always)
    private func deliver(_ slot: Int, reply: UnsafeRawBufferPointer) {
        answer(tag: slots[slot].orderTag, quiet: slots[slot].quiet, split: slots[slot].split, part: slots[slot].part, reply: reply)
    }

    @inline(__always)
    private func answer(tag: UInt64, quiet: UInt8, split: SplitRequest?, part: Int, reply: UnsafeRawBufferPointer) {
        if let split {
            split.record(part: part, reply: reply) { merged in respond(tag: split.orderTag, quiet: split.quiet, reply: merged) }
        } else {
            respond(tag: tag, quiet: quiet, reply: reply)
        }
    }

    // MARK: backend outcomes

    func backendReplied(tag: UInt64, cluster: Int, reply: UnsafeRawBufferPointer) {
        let slot = Int(tag)
        if slots[slot].isWrite {
            clusterAnswered(slot, cluster: cluster, reply: reply)
        } else if slots[slot].isDecision {
            guard slots[slot].effectAtBatchEnd else { return decided(slot, cluster: cluster, reply: reply) }
            // A blocking command woken by another client's write: that write's own effects, decided
            // in this batch, go to the other clusters first (an XCLAIM must find the entry its XADD
            // brings). Writes read in a later batch can still come after it (docs/redis-commands.md).
            let kept = Array(reply)
            router.loop.deferToEndOfBatch { [self] in kept.withUnsafeBytes { decided(slot, cluster: cluster, reply: $0) } }
        } else {
            if slots[slot].scriptRepair != nil && repairScriptRead(slot, cluster: cluster, reply: reply) { return }
            if let sample = slots[slot].verify { verify(sample, placement: slots[slot].placement, answered: cluster, reply: reply) }
            finishRead(slot, reply: reply)
        }
    }

    func backendFailed(tag: UInt64, cluster: Int, request: UnsafeRawBufferPointer, reply: UnsafeRawBufferPointer) {
        let slot = Int(tag)
        if slots[slot].isWrite {
            // Sent but unanswered: it may or may not have been applied (see `keepAfterFailure`).
            router.keepAfterFailure(request, shard: router.clusters[cluster].shards[slots[slot].placement.shard(cluster)], variant: variant)
            recordWrite(slot, cluster: cluster, reply: reply, failed: true)
        } else if slots[slot].isDecision {
            // It may or may not have run there; trying elsewhere could decide differently. Report it.
            finishRead(slot, reply: reply)
            decisionEnded()
        } else if slots[slot].tried == ~0 {
            // Sent on a given connection (`read(_:on:)`): no other cluster may answer it.
            finishRead(slot, reply: reply)
        } else {
            sendRead(slot, request, lastError: reply)
        }
    }
}
