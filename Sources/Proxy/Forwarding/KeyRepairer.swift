import EventLoop

/// Repairs the keys of writes whose outcome on one server is unknown (sent, then the connection
/// failed before the reply) and which are not safe to send twice (INCR, LPUSH, memcached append ...).
///
/// For each key the write touches, it reads the key's whole state (redis: `DUMP` and `PTTL` in one
/// `MULTI`; memcached: `mg k v f t`) from the best-ranked other cluster whose server for the key has
/// every write so far, over the same connection variant the client's writes use, so the state read
/// includes every write sent there before, and none sent after. Meanwhile the failed server's later
/// writes wait behind the repair (`ShardLink.repairQueue`); the answer becomes a write that sets
/// exactly that state (`RESTORE ... REPLACE` or `DEL`; `ms` or `md`), placed in the failed server's
/// backlog where the repair started, ahead of them. Whatever the failed server did with the lost
/// write, once it has taken its backlog it holds what the other cluster held.
///
/// Contract: loop-confined, owned by its router. A repair that cannot start (keys unknown, no cluster
/// to copy from) returns false and the caller counts an unknown outcome; one whose read fails settles
/// with no write and counts one itself. Cross-variant order is not kept (a key written over RESP2 and
/// RESP3 connections at once has no single order in any cluster).
final class KeyRepairer<Wire: BackendWire>: ReplyConsumer {
    unowned(unsafe) let router: ClusterRouter<Wire>
    private struct Job {
        let target: ShardLink<Wire>
        let key: [UInt8]
        /// The index of the read's last frame: its reply carries the state.
        let lastPart: UInt64
    }
    private var jobs: [UInt64: Job] = [:]
    private var nextID: UInt64 = 1
    /// Parts per repair are few (redis: 4); the tag keeps the part in its low bits.
    private static var partBits: UInt64 { 3 }

    init(router: ClusterRouter<Wire>) {
        self.router = router
    }

    /// Starts repairing every key `frame` writes on `target`'s server, reading from another cluster
    /// over connection `variant`. Returns false when it cannot start.
    func repair(_ frame: UnsafeRawBufferPointer, target: ShardLink<Wire>, variant: Int) -> Bool {
        guard let keys = Wire.repairKeys(frame), !keys.isEmpty else { return false }
        let reads = keys.map { Wire.repairReadFrames(key: $0) }
        var sources: [BackendConnection<Wire>] = []
        for (key, read) in zip(keys, reads) {
            guard let source = source(for: key, excluding: target.cluster, variant: variant, frames: read.count * keys.count) else {
                return false
            }
            sources.append(source)
        }
        for (i, key) in keys.enumerated() {
            let id = nextID
            nextID += 1
            jobs[id] = Job(target: target, key: key, lastPart: UInt64(reads[i].count - 1))
            target.repairQueue.append(.waiting(id))
            for (part, read) in reads[i].enumerated() {
                // Room was checked: a transaction is never left half sent.
                _ = read.withUnsafeBytes { sources[i].send($0, consumer: self, tag: id << Self.partBits | UInt64(part)) }
            }
        }
        return true
    }

    /// The connection of the best-ranked cluster other than `excluded` whose server for `key` has
    /// applied every write so far and has room for `frames` requests.
    private func source(for key: [UInt8], excluding excluded: Int, variant: Int, frames: Int) -> BackendConnection<Wire>? {
        var placement = Placement()
        key.withUnsafeBytes { router.place(key: $0, into: &placement) }
        for c in router.ranking.order where c != excluded {
            let shard = router.clusters[c].shards[placement.shard(c)]
            let backend = shard.backend(variant: variant)
            if shard.isCaughtUp && backend.hasRoom(frames) { return backend }
        }
        return nil
    }

    func backendReplied(tag: UInt64, cluster: Int, reply: UnsafeRawBufferPointer) {
        let id = tag >> Self.partBits
        guard let job = jobs[id], tag & ((1 << Self.partBits) - 1) == job.lastPart else { return }
        settle(id, job, write: Wire.repairWrite(key: job.key, reply: reply, nowMillis: Posix.wallClockMilliseconds()))
    }

    func backendFailed(tag: UInt64, cluster: Int, request: UnsafeRawBufferPointer, reply: UnsafeRawBufferPointer) {
        let id = tag >> Self.partBits
        guard let job = jobs[id], tag & ((1 << Self.partBits) - 1) == job.lastPart else { return }
        settle(id, job, write: nil)
    }

    private func settle(_ id: UInt64, _ job: Job, write: [UInt8]?) {
        jobs[id] = nil
        let target = job.target
        if write != nil {
            target.stats.repairedKeys.bump()
        } else {
            target.stats.unknownOutcomes.bump()
            router.logUnrepaired(key: job.key, shard: target)
        }
        if let at = target.repairQueue.firstIndex(where: { if case .waiting(id) = $0 { true } else { false } }) {
            target.repairQueue[at] = .ready(write)
        }
        router.releaseRepaired(target)
    }
}
