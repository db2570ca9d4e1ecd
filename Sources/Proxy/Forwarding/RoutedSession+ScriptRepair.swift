/// Repairing a cluster that lost a script: a request naming a script by its digest (redis
/// `EVALSHA`, `EVALSHA_RO`) that a cluster answers "no such script" (`NOSCRIPT`: its server
/// restarted, and Redis keeps no scripts across a restart) is, when the proxy knows the script's
/// body, given the script (`SCRIPT LOAD`) and sent again to that cluster; the retry's reply counts as
/// that cluster's answer. The client normally sees the script's result, and the clusters stay alike.
///
/// Contract:
/// - Each cluster is repaired at most once per request; a second "no such script" is its answer (an
///   error reply: for a write, counted as a rejected write like any other).
/// - The script-load request's own reply is ignored; the retry's reply (or its failure) is handled
///   like the original's would have been.
/// - A write's cluster that cannot take it directly (down, or behind on its backlog) keeps the
///   script-load request ahead of the request in its backlog, so the replay finds the script even
///   after a restart.
/// - A read whose cluster cannot take the retry moves on down the read ranking.
///
/// Ordering caveat: the retry reaches its cluster after every request the client pipelined behind
/// the original, which that cluster has already run; the other clusters ran the script before them.
/// A script and a later pipelined write that touch the same keys may then leave that one cluster
/// different (e.g. `EVALSHA` incrementing `k`, then `SET k 5`: 5 elsewhere, 6 on the repaired
/// cluster). Scripts that do not share keys with the writes pipelined right behind them are unaffected.
extension RoutedSession {
    /// A write naming a script whose body the proxy knows (`Wire.scriptLoadFrame`): like `write`, sent
    /// to every cluster, to the server owning `key` there; a nil `key` only on an unsharded router.
    func writeScript(_ frame: UnsafeRawBufferPointer, key: UnsafeRawBufferPointer?, body: [UInt8]) {
        let slot = slots.allocate(orderTag: order.next())
        if let key { router.place(key: key, into: &slots[slot].placement) }
        slots[slot].scriptRepair = ScriptRepair(body: body, request: Array(frame))
        sendWrite(slot, frame)
    }

    /// A read naming a script whose body the proxy knows: like `read`, down the read ranking. Not
    /// sampled for verification: the other cluster might lack the script and report a false mismatch.
    func readScript(_ frame: UnsafeRawBufferPointer, key: UnsafeRawBufferPointer?, body: [UInt8]) {
        let slot = beginRead()
        if let key { router.place(key: key, into: &slots[slot].placement) }
        slots[slot].scriptRepair = ScriptRepair(body: body, request: Array(frame))
        sendRead(slot, frame, lastError: nil)
    }

    /// Write `slot`'s reply from `cluster`: when it is "no such script" and the cluster was not
    /// repaired yet, loads the script there and sends the write again; true when `reply` was taken.
    func repairScriptWrite(_ slot: Int, cluster c: Int, reply: UnsafeRawBufferPointer) -> Bool {
        guard let repair = slots[slot].scriptRepair, let load = repair.begin(cluster: c, reply: reply, Wire.self) else {
            return false
        }
        let router = self.router
        let shard = router.clusters[c].shards[slots[slot].placement.shard(c)]
        let backend = shard.backend(variant: variant)
        if shard.takesWritesDirectly && send(load, then: repair.request, slot: slot, on: backend) { return true }
        repair.request.withUnsafeBytes { keepScriptForLater($0, body: repair.body, shard: shard) }
        backend.unavailableReply.withUnsafeBytes { clusterFailed(slot, cluster: c, reply: $0) }
        return true
    }

    /// Read `slot`'s reply from `cluster`: when it is "no such script" and the cluster was not
    /// repaired yet, loads the script there and reads again (or, when that cluster cannot take it,
    /// tries the next cluster of the ranking); true when `reply` was taken.
    func repairScriptRead(_ slot: Int, cluster c: Int, reply: UnsafeRawBufferPointer) -> Bool {
        guard let repair = slots[slot].scriptRepair, let load = repair.begin(cluster: c, reply: reply, Wire.self) else {
            return false
        }
        let backend = router.clusters[c].shards[slots[slot].placement.shard(c)].backend(variant: variant)
        if send(load, then: repair.request, slot: slot, on: backend) { return true }
        repair.request.withUnsafeBytes { sendRead(slot, $0, lastError: reply) }
        return true
    }

    /// Pipelines the script load (reply ignored) and the retry (reply to this session) on one
    /// connection, so the server runs them in that order; false when the retry was not sent.
    private func send(_ load: [UInt8], then request: [UInt8], slot: Int, on backend: BackendConnection<Wire>) -> Bool {
        // A lost script load needs no keeping: the retry behind it on the same connection fails too,
        // and is handled as any failed request.
        load.withUnsafeBytes { backend.send($0, consumer: DiscardedReplies.shared, tag: 0) }
            && request.withUnsafeBytes { backend.send($0, consumer: self, tag: UInt64(slot)) }
    }

    /// Keeps the script load, then `frame`, for `shard`'s server.
    func keepScriptForLater(_ frame: UnsafeRawBufferPointer, body: [UInt8], shard: ShardLink<Wire>) {
        if let load = Wire.scriptLoadFrame(body: body) {
            load.withUnsafeBytes { router.keepForLater($0, shard: shard) }
        }
        router.keepForLater(frame, shard: shard)
    }
}

/// What a request naming a script carries for its repair (`RoutedSession+ScriptRepair`): the
/// script's body, the request to send again, and the clusters repaired so far. A class, so a
/// request slot grows by one reference only; allocated only for requests naming a known script.
final class ScriptRepair {
    let body: [UInt8]
    let request: [UInt8]
    /// Clusters already repaired (one bit per cluster index).
    private var repaired: UInt64 = 0

    init(body: [UInt8], request: [UInt8]) {
        self.body = body
        self.request = request
    }

    /// The script-load request when `reply` from `cluster` calls for a repair (it says the script is
    /// missing and the cluster was not repaired yet), marking the cluster repaired; nil otherwise.
    func begin<Wire: BackendWire>(cluster: Int, reply: UnsafeRawBufferPointer, _ wire: Wire.Type) -> [UInt8]? {
        let bit: UInt64 = 1 << UInt64(cluster)
        guard repaired & bit == 0, Wire.isMissingScript(reply), let load = Wire.scriptLoadFrame(body: body) else { return nil }
        repaired |= bit
        return load
    }
}
