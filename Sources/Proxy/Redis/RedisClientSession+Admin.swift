import RedisProtocol

/// Administrative commands, refused by default because one stray command would act on every
/// datacenter at once, and let through by the config's `allowCommands` (`allowFlush` being an alias
/// of FLUSHALL and FLUSHDB); see `AdminAllowList` and docs/redis-commands.md.
///
/// - FLUSHALL and FLUSHDB, when allowed, are replicated writes like any other (backlog included).
/// - Any other allowed command goes once to every server of every cluster that is up right now,
///   on the client's shared connections, and is never kept for later; the client gets an error
///   naming the clusters not reached, else the first error reply, else the local cluster's reply
///   (`AdminFanOut.merge`).
extension RedisClientSession {
    /// Dispatch calls this for every `.unsupported` command and for FLUSHALL/FLUSHDB (the
    /// keyspace-wide writes). True: handled (answered or sent), the caller does nothing more. False:
    /// the caller goes on with the command's ordinary treatment — refuse an `.unsupported` command
    /// with its reason, replicate an allowed FLUSHALL/FLUSHDB.
    func runIfAllowed(_ info: CommandInfo, frame: UnsafeRawBufferPointer, base: UnsafeRawBufferPointer,
                      arguments: [Range<Int>]) -> Bool {
        let allowed = worker.allowedCommands.allows(info)
        if AdminAllowList.isGuardedWrite(info) {
            if allowed { return false }
            replyError("ERR \(info.displayName) is disabled: it would empty every cluster; list it in allowCommands (or set allowFlush) in the config")
            return true
        }
        guard AdminAllowList.isGuarded(info), case .unsupported(let reason) = info.access else { return false }
        guard allowed else {
            replyError("ERR \(reason) (or list \(info.displayName) in allowCommands in the config to run it on every cluster)")
            return true
        }
        runOnEveryServer(info, frame: frame)
        return true
    }

    private func runOnEveryServer(_ info: CommandInfo, frame: UnsafeRawBufferPointer) {
        let router = self.router
        var targets: [(cluster: Int, shard: Int)] = []
        for link in router.clusters {
            for shard in link.shards { targets.append((link.index, shard.index)) }
        }
        let parts = AdminFanOut.Parts(clusters: targets.map(\.cluster))
        let local = router.ranking.candidate(after: 0) ?? 0
        let names = router.clusters.map(\.name)
        let command = info.displayName
        let gather = ServerGather(session: self, slot: beginRead(), targets: targets.count) { replies in
            AdminFanOut.merge(replies, parts: parts, local: local, clusterNames: names, command: command)
        }
        let fanOut = AdminFanOut(parts: parts, gather: gather)
        for (i, target) in targets.enumerated() {
            let shard = router.clusters[target.cluster].shards[target.shard]
            let backend = shard.backend(variant: variant)
            // Only servers up right now: one that is down gets nothing, not even a backlog entry.
            if shard.health.state == .up && backend.send(frame, consumer: fanOut, tag: UInt64(i)) { continue }
            backend.unavailableReply.withUnsafeBytes { fanOut.unreached(i, reply: $0) }
        }
    }

    /// CONFIG GET, answered by one cluster (the read plan's first) with the backends' passwords
    /// hidden (`ConfigRedaction`).
    func configGet(frame: UnsafeRawBufferPointer) {
        guard let cluster = router.readTarget(Placement()) else { return reply(RedisWire.noClusterReply) }
        let request = Array(frame)
        gather(cluster: cluster, servers: [0], frame: { _ in request }) { ConfigRedaction.redacted($0[0]) }
    }
}
