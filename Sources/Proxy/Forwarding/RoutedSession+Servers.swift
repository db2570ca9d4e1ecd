/// Requests that go to several servers of a cluster at once: keyless writes to every server, and
/// whole-keyspace reads gathered from one cluster's servers.
extension RoutedSession {
    /// Sends a keyless write to every server of every cluster (see `ServerFanIn`).
    func broadcast(_ frame: UnsafeRawBufferPointer, quiet: UInt8, repliesDiffer: Bool = false) {
        let router = self.router
        let slot = beginWrite(quiet: quiet)
        slots[slot].repliesDiffer = repliesDiffer
        let fanIn = ServerFanIn(session: self, slot: slot, serverCounts: router.clusters.map(\.shards.count))
        for link in router.clusters {
            for shard in link.shards {
                let backend = shard.backend(variant: variant)
                if shard.takesWritesDirectly && backend.send(frame, consumer: fanIn, tag: UInt64(shard.index)) { continue }
                router.keepForLater(frame, shard: shard)
                backend.unavailableReply.withUnsafeBytes { fanIn.refused(cluster: link.index, reply: $0) }
            }
        }
    }

    /// Sends `frame(i)` to server `servers[i]` of `cluster` and answers the client with `merge` of the
    /// replies in that order.
    func gather(cluster: Int, servers: [Int], quiet: UInt8 = 0, frame: (Int) -> [UInt8],
                merge: @escaping ([[UInt8]]) -> [UInt8]) {
        let slot = beginRead(quiet: quiet)
        let gather = ServerGather(session: self, slot: slot, targets: servers.count, merge: merge)
        let link = router.clusters[cluster]
        for (i, s) in servers.enumerated() {
            let backend = link.shards[s].backend(variant: variant)
            let sent = frame(i).withUnsafeBytes { backend.send($0, consumer: gather, tag: UInt64(i)) }
            if !sent { backend.unavailableReply.withUnsafeBytes { gather.partDone(i, $0) } }
        }
    }
}
