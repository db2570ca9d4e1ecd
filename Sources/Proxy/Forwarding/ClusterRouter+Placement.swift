/// Where keys live: the server of each cluster that owns a key, and the cluster a read goes to.
extension ClusterRouter {
    /// Sets `placement` to the server owning `key` in every cluster; leaves it unset (the first
    /// server everywhere) when no cluster is sharded. A key's hash is computed once for all clusters
    /// that hash alike.
    @inline(__always)
    func place(key: UnsafeRawBufferPointer, into placement: inout Placement) {
        guard isSharded else { return }
        placement.begin(clusters: clusters.count)
        var hashedBy = -1
        var hash: UInt32 = 0
        for link in clusters {
            let map = link.shardMap
            guard map.count > 1 else {
                placement.set(link.index, 0)
                continue
            }
            if hashedBy < 0 || !clusters[hashedBy].shardMap.hashesLike(map) {
                hash = map.keyHash(key)
                hashedBy = link.index
            }
            placement.set(link.index, map.shard(forHash: hash))
        }
    }

    /// Groups keys `0..<count` by the servers owning them: keys in one group live on the same server
    /// in every cluster. Groups come in order of their first key, keys in client order.
    func groupByServer(_ count: Int, key: (Int) -> UnsafeRawBufferPointer) -> [(placement: Placement, keys: [Int])] {
        var groups: [(placement: Placement, keys: [Int])] = []
        for position in 0..<count {
            var placement = Placement()
            place(key: key(position), into: &placement)
            if let g = groups.firstIndex(where: { $0.placement.shards == placement.shards }) {
                groups[g].keys.append(position)
            } else {
                groups.append((placement, [position]))
            }
        }
        return groups
    }

    /// The cluster a read with `placement` goes to first: the best ranked one whose server for it can
    /// serve, else the best ranked one at all.
    func readTarget(_ placement: Placement) -> Int? {
        bestRanked { clusters[$0].shards[placement.shard($0)].isReadable }
    }

    /// The cluster whole-keyspace reads go to: the best ranked one whose every server can serve,
    /// else the best ranked one at all.
    func wholeKeyspaceTarget() -> Int? {
        bestRanked { clusters[$0].isWhollyReadable }
    }

    /// The best ranked cluster that `fits`, else the best ranked one at all; never one in `excluded`
    /// (a cluster mask).
    func bestRanked(excluding excluded: UInt64 = 0, _ fits: (Int) -> Bool) -> Int? {
        var skipped = excluded
        while let c = ranking.candidate(after: skipped) {
            if fits(c) { return c }
            skipped |= 1 << UInt64(c)
        }
        return ranking.candidate(after: excluded)
    }
}
