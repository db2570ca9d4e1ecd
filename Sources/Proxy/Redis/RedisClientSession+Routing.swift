import EventLoop
import RedisProtocol
import Routing

/// Where a session's forwarded requests go: reads down the read ranking, writes to every cluster
/// under the ack policy, writes with dice in them rewritten or decided by one cluster; and what
/// happens when each cluster answers or fails.
extension RedisClientSession {
    /// Sends a read to the best cluster of the read ranking; on a transport failure it moves on to the next.
    @inline(__always)
    func read(_ frame: UnsafeRawBufferPointer) {
        let slot = slots.allocate(orderTag: order.next())
        slots[slot].isWrite = false
        sendRead(slot, frame, lastError: nil)
    }

    private func sendRead(_ slot: Int, _ frame: UnsafeRawBufferPointer, lastError: UnsafeRawBufferPointer?) {
        var refused: BackendConnection? = nil
        while let c = worker.ranking.candidate(after: slots[slot].tried) {
            slots[slot].tried |= 1 << UInt64(c)
            let backend = worker.clusters[c].backend(protocolVersion: protocolVersion)
            if backend.send(frame, consumer: self, tag: UInt64(slot)) { return }
            refused = backend
        }
        // Every cluster was tried: answer with the most recent reason.
        if let refused {
            finish(slot, reply: refused.unavailableReply)
        } else if let lastError {
            finish(slot, reply: lastError)
        } else {
            finish(slot, reply: Self.noClusterReply)
        }
    }

    /// Writes whose outcome is not fixed by the data alone: rewritten, decided by one cluster, or refused
    /// (see `DeterministicRewrite`). False while it waits for an earlier decision.
    func replicateDeterministically(
        _ info: CommandInfo, frame: UnsafeRawBufferPointer, base: UnsafeRawBufferPointer, arguments: [Range<Int>]
    ) -> Bool {
        // The common SET k v and GETEX k carry no expiry option: keep them on the allocation-free path.
        if (info.name == "set" && arguments.count <= 3) || (info.name == "getex" && arguments.count <= 2) {
            write(frame)
            return true
        }
        let args = arguments.map { Array(base[$0]) }
        switch DeterministicRewrite.plan(info.name, args, nowMs: Posix.wallClockMilliseconds()) {
        case .asIs:
            write(frame)
        case .rewritten(let rewritten):
            rewritten.withUnsafeBytes { write($0) }
        case .refuse(let reason):
            replyError("ERR \(reason)")
        case .decideLocally(let kind):
            decide(kind, args: args, frame: frame)
        }
        return true
    }

    /// Runs the write on the best cluster for reads (the local one while it is healthy); the others get
    /// its effect. Later requests wait until then, so every cluster sees this client's writes in order.
    private func decide(_ kind: DeterministicRewrite.Kind, args: [[UInt8]], frame: UnsafeRawBufferPointer) {
        let slot = slots.allocate(orderTag: order.next())
        slots[slot].isWrite = false
        slots[slot].decision = (kind, args)
        waitingForDecision = true
        channel.pauseReading()
        sendRead(slot, frame, lastError: nil)
    }

    /// The deciding cluster answered: the other clusters get its effect, and from here on it is a
    /// write like any other — the ack policy decides when the client gets the deciding reply.
    private func decided(_ slot: Int, cluster: Int, reply: UnsafeRawBufferPointer) {
        defer { endDecision() }
        guard let (kind, args) = slots[slot].decision,
              let value = try? RESPValue.parse(Array(reply)).0,
              let effect = DeterministicRewrite.effect(of: kind, args: args, reply: value)
        else {
            // Nothing changed (an error, nothing popped): nothing to replicate.
            return finish(slot, reply: reply)
        }
        slots[slot].decision = nil
        slots[slot].isWrite = true
        slots[slot].decidedReply = Array(reply)
        slots[slot].fanOut = WriteFanOut(clusterCount: worker.clusters.count, localMask: worker.localMask, policy: worker.policy)
        var refused: [Int] = []
        effect.withUnsafeBytes { frame in
            for link in worker.clusters where link.index != cluster {
                if link.takesWritesDirectly
                    && link.backend(protocolVersion: protocolVersion).send(frame, consumer: self, tag: UInt64(slot)) {
                    continue
                }
                worker.keepForLater(frame, link: link)
                refused.append(link.index)
            }
        }
        // Exactly one record per cluster; whichever comes last releases the slot.
        for c in refused {
            worker.clusters[c].backends[0].unavailableReply.withUnsafeBytes {
                recordWrite(slot, cluster: c, reply: $0, failed: true)
            }
        }
        recordWrite(slot, cluster: cluster, reply: reply, failed: false)
    }

    private func endDecision() {
        waitingForDecision = false
        if !draining && !closeWhenDone { channel.resumeReading() }
        worker.loop.deferToEndOfBatch { [self] in processInput() }
    }

    /// Sends a write to every cluster: directly where the cluster can take it, to its backlog otherwise.
    @inline(__always)
    func write(_ frame: UnsafeRawBufferPointer) {
        let slot = slots.allocate(orderTag: order.next())
        slots[slot].isWrite = true
        slots[slot].fanOut = WriteFanOut(clusterCount: worker.clusters.count, localMask: worker.localMask, policy: worker.policy)
        for link in worker.clusters {
            let backend = link.backend(protocolVersion: protocolVersion)
            if link.takesWritesDirectly && backend.send(frame, consumer: self, tag: UInt64(slot)) { continue }
            worker.keepForLater(frame, link: link)
            backend.unavailableReply.withUnsafeBytes { recordWrite(slot, cluster: link.index, reply: $0, failed: true) }
        }
    }

    /// Feeds one cluster's outcome to the write's ack policy; answers the client when it decides.
    private func recordWrite(_ slot: Int, cluster c: Int, reply: UnsafeRawBufferPointer, failed: Bool) {
        // A decided write's successes answer different commands (SPOP here, SREM there): one hash for all.
        let hash = slots[slot].decidedReply == nil ? ReplyHash.hash(reply) : 0
        let outcome: WriteFanOut.Outcome = failed ? .failure : .success(replyHash: hash)
        switch slots[slot].fanOut.record(cluster: c, outcome) {
        case .answer(let answered):
            if let decidedReply = slots[slot].decidedReply, slots[slot].fanOut.answeredWithSuccess {
                decidedReply.withUnsafeBytes { complete(tag: slots[slot].orderTag, reply: $0) }
            } else if answered == c {
                complete(tag: slots[slot].orderTag, reply: reply)
            } else if let kept = slots[slot].held?[answered] {
                kept.withUnsafeBytes { complete(tag: slots[slot].orderTag, reply: $0) }
            } else {
                // The policy chose a cluster whose reply was not kept: cannot happen by WriteFanOut's contract.
                Self.noClusterReply.withUnsafeBytes { complete(tag: slots[slot].orderTag, reply: $0) }
            }
            slots[slot].held = nil
        case .wait:
            // Only `majority` and `all` (and `first` when everything so far failed) may later answer
            // with a reply that arrived earlier; `first` on success and `local` never need a copy.
            if worker.policy != .local && slots[slot].fanOut.answeredCluster == nil {
                if slots[slot].held == nil { slots[slot].held = Array(repeating: nil, count: worker.clusters.count) }
                slots[slot].held![c] = Array(reply)
            }
        }
        if slots[slot].fanOut.isComplete {
            let fanOut = slots[slot].fanOut
            if let answered = fanOut.answeredCluster, fanOut.divergentMask | slots[slot].errorMask != 0 {
                worker.noteDivergence(
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
        slots.release(slot)
        complete(tag: tag, reply: reply)
    }

    static let noClusterReply: [UInt8] = Array("-ERR no cluster is available for this read\r\n".utf8)

    // MARK: backend outcomes

    func backendReplied(tag: UInt64, cluster: Int, reply: UnsafeRawBufferPointer) {
        let slot = Int(tag)
        if slots[slot].isWrite {
            let isError = reply.first.map(RESPType.isError) ?? true
            if isError { slots[slot].errorMask |= 1 << UInt64(cluster) }
            recordWrite(slot, cluster: cluster, reply: reply, failed: isError)
        } else if slots[slot].decision != nil {
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
            worker.keepForLater(request, link: worker.clusters[cluster])
            recordWrite(slot, cluster: cluster, reply: reply, failed: true)
        } else if slots[slot].decision != nil {
            // It may or may not have run there; trying elsewhere could decide differently. Report it.
            finish(slot, reply: reply)
            endDecision()
        } else {
            sendRead(slot, request, lastError: reply)
        }
    }

}
