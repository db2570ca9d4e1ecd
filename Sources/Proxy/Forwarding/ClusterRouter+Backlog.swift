import EventLoop
import Logging

/// The router's side of the backlogs: what happens to a write a server could not take or whose
/// outcome is unknown (kept, repaired, dropped), and the end-of-batch work of the disk backlogs
/// (group commit, markers, starting replay).
extension ClusterRouter {
    /// A write sent to `shard`'s server over connection `variant` whose connection failed before the
    /// reply: it may or may not have been applied. Writes safe to repeat are kept for replay like any
    /// missed write; for the others (INCR, APPEND, LPUSH, memcached incr/append ...), applying them
    /// twice is as wrong as missing them, so their keys are repaired from another cluster
    /// (`KeyRepairer`); one that cannot be repaired is counted as an unknown outcome and logged.
    func keepAfterFailure(_ frame: UnsafeRawBufferPointer, shard: ShardLink<Wire>, variant: Int) {
        if Wire.isSafeToRepeat(frame) { return keepForLater(frame, shard: shard) }
        if let successor {
            // A reload replaced this router: the repair belongs where the server's writes now wait.
            if let target = handedOver(shard, by: successor) { successor.keepAfterFailure(frame, shard: target, variant: variant) }
            return
        }
        if repairer.repair(frame, target: shard, variant: variant) { return }
        shard.stats.unknownOutcomes.bump()
        if failureLog.allow(now: loop.batchTime) {
            logger.warning("write with an unknown outcome not replayed", metadata: [
                "cluster": "\(clusters[shard.cluster].name)", "server": "\(shard.server)",
                "request": "\(String(decoding: frame.prefix(120), as: UTF8.self).split(whereSeparator: \.isNewline).joined(separator: " "))",
            ])
        }
    }

    /// The link of `successor` (the router a reload replaced this one with) for `shard`'s server, or
    /// nil, logged, when the reload removed that server: its writes are discarded.
    private func handedOver(_ shard: ShardLink<Wire>, by successor: ClusterRouter<Wire>) -> ShardLink<Wire>? {
        if let target = successor.counterpart(of: shard, in: self) { return target }
        logger.info("write for a server no longer configured discarded", metadata: [
            "cluster": "\(clusters[shard.cluster].name)", "server": "\(shard.server)",
        ])
        return nil
    }

    /// A key repair failed: the key may differ on `shard`'s server.
    func logUnrepaired(key: [UInt8], shard: ShardLink<Wire>) {
        guard failureLog.allow(now: loop.batchTime) else { return }
        logger.warning("key with an unknown outcome could not be repaired", metadata: [
            "cluster": "\(clusters[shard.cluster].name)", "server": "\(shard.server)",
            "key": "\(String(decoding: key.prefix(200), as: UTF8.self))",
        ])
    }

    /// Moves the settled head of `shard`'s repair queue into its backlog, in order (its writes were
    /// counted when they were queued).
    func releaseRepaired(_ shard: ShardLink<Wire>) {
        while case .ready(let write) = shard.repairQueue.first {
            shard.repairQueue.removeFirst()
            if let write { write.withUnsafeBytes { appendToBacklog($0, shard: shard, missed: false) } }
        }
        if shard.repairQueue.isEmpty { replayers[shard.cluster][shard.index].pump() }
    }

    /// Keeps `frame` for `shard`'s server; counted as missed (unless the server is journaled and up:
    /// then the backlog is simply its way in), or as dropped when the backlog is full.
    func keepForLater(_ frame: UnsafeRawBufferPointer, shard: ShardLink<Wire>) {
        if let successor {
            // Replaced by a reload: the server's writes now wait in the new router, in order.
            if let target = handedOver(shard, by: successor) { successor.keepForLater(frame, shard: target) }
            return
        }
        let missed = !shard.journaled || shard.health.state != .up
        if !shard.repairQueue.isEmpty {
            // Behind a repair under way: it joins the backlog once the repair's write is in.
            if missed { shard.stats.missedWrites.bump() }
            shard.repairQueue.append(.ready(Array(frame)))
            return
        }
        appendToBacklog(frame, shard: shard, missed: missed)
    }

    func appendToBacklog(_ frame: UnsafeRawBufferPointer, shard: ShardLink<Wire>, missed: Bool) {
        if let successor {
            if let target = handedOver(shard, by: successor) { successor.appendToBacklog(frame, shard: target, missed: missed) }
            return
        }
        let kept = Wire.frameForLater(frame, nowSeconds: Posix.wallClockMilliseconds() / 1000) ?? Array(frame)
        if shard.backlog.append(kept) {
            if missed { shard.stats.missedWrites.bump() }
            shard.stats.backlogEntries.add(1, ordering: .relaxed)
            if !shard.touchedInBatch {
                if touched.isEmpty { loop.deferToEndOfBatch(endBatchOnce) }
                shard.touchedInBatch = true
                touched.append(shard)
            }
        } else {
            shard.stats.droppedWrites.bump()
            if !shard.stats.needsResync.exchange(true, ordering: .relaxed) {
                logger.critical("backlog full: cluster has lost writes and needs a resync", metadata: [
                    "cluster": "\(clusters[shard.cluster].name)", "server": "\(shard.server)",
                    "entries": "\(shard.backlog.count)", "bytes": "\(shard.backlog.bytes)",
                ])
            }
            if failureLog.allow(now: loop.batchTime) {
                logger.error("backlog full, write dropped for server", metadata: [
                    "cluster": "\(clusters[shard.cluster].name)", "server": "\(shard.server)",
                    "entries": "\(shard.backlog.count)", "bytes": "\(shard.backlog.bytes)",
                ])
            }
        }
    }

    /// The end of a batch that appended to backlogs: one flush for all its writes (group commit under
    /// `fsync: always`, before any reply of the batch goes out), then what can be sent goes.
    func endBatch() {
        let shards = touched
        touched.removeAll(keepingCapacity: true)
        for shard in shards {
            shard.touchedInBatch = false
            shard.backlog.commit()
            replayers[shard.cluster][shard.index].pump()
        }
        // Registered now, so it runs after the flushes of the connections this batch sent on.
        loop.flushAtEndOfBatch(markers)
    }

    /// Marks every disk backlog that owes one (see `BacklogStore.writeMarker`), once every write sent
    /// directly is in the kernel; otherwise the next batch or tick tries again.
    func writeMarkers() {
        for link in clusters {
            for shard in link.shards where !shard.journaled {
                for backend in shard.backends where backend.pendingOutput > 0 { return }
            }
        }
        for link in clusters { for shard in link.shards where shard.backlog.markerOwed { shard.backlog.writeMarker() } }
    }
}

/// Runs `ClusterRouter.writeMarkers` among the end-of-batch flushes.
final class BacklogMarkers<Wire: BackendWire>: BatchFlushable {
    unowned(unsafe) let router: ClusterRouter<Wire>

    init(router: ClusterRouter<Wire>) {
        self.router = router
    }

    func flushAtEndOfBatch() {
        router.writeMarkers()
    }
}

