import RedisProtocol

/// An allowed administrative command (CONFIG SET, SAVE, SHUTDOWN ..., see `AdminAllowList`) sent
/// once to every server of every cluster that is up: the replies are gathered by a `ServerGather`
/// (one part per server, in `targets` order), and this consumer in front of it notes which parts
/// got no reply from their server, so the merged answer can name the clusters it did not reach.
///
/// Contract: created by `RedisClientSession.runIfAllowed`, which sends with this object as the
/// consumer and the part's index as the tag, and calls `unreached` for a server it could not send
/// to. Exactly one call per part reaches the gather. Nothing is kept for later delivery: a CONFIG
/// SET or SHUTDOWN replayed an hour later would be worse than none.
final class AdminFanOut: ReplyConsumer {
    /// Which part went to which cluster, and which of them got no reply; shared with the merge.
    final class Parts {
        let clusters: [Int]
        var unreached: [Bool]

        init(clusters: [Int]) {
            self.clusters = clusters
            self.unreached = Array(repeating: false, count: clusters.count)
        }
    }

    let parts: Parts
    private let gather: ServerGather<RedisClientSession>

    init(parts: Parts, gather: ServerGather<RedisClientSession>) {
        self.parts = parts
        self.gather = gather
    }

    func backendReplied(tag: UInt64, cluster: Int, reply: UnsafeRawBufferPointer) {
        gather.partDone(Int(tag), reply)
    }

    /// The connection failed with the command on it: whether it ran there is unknown (SHUTDOWN
    /// closes the connection without a reply when it succeeds).
    func backendFailed(tag: UInt64, cluster: Int, request: UnsafeRawBufferPointer, reply: UnsafeRawBufferPointer) {
        unreached(Int(tag), reply: reply)
    }

    /// Part `index`'s server was not sent the command, or gave no reply.
    func unreached(_ index: Int, reply: UnsafeRawBufferPointer) {
        parts.unreached[index] = true
        gather.partDone(index, reply)
    }

    /// The client's reply, from every server's (`replies`, in part order): an error naming the
    /// clusters some server of which was not reached; else the first error reply, the `local`
    /// cluster's first; else the local cluster's first server's reply (servers may legitimately
    /// differ, e.g. CLIENT KILL's count: the local cluster's is what a standalone server would
    /// say).
    static func merge(_ replies: [[UInt8]], parts: Parts, local: Int, clusterNames: [String], command: String) -> [UInt8] {
        var missed: [Int] = []
        for (i, c) in parts.clusters.enumerated() where parts.unreached[i] && !missed.contains(c) { missed.append(c) }
        var out: [UInt8] = []
        if !missed.isEmpty {
            let others = Set(parts.clusters).subtracting(missed).isEmpty ? "no cluster answered" : "the other clusters answered"
            let names = missed.sorted().map { clusterNames[$0] }.joined(separator: ", ")
            RESPEncoder.error("ERR \(command): no answer from \(names) (down, or the connection was lost before a reply: it may or may not have run there); \(others)", into: &out)
            return out
        }
        // Local cluster first, then the others in configuration order.
        let order = replies.indices.sorted { a, b in
            let (la, lb) = (parts.clusters[a] == local, parts.clusters[b] == local)
            return la != lb ? la : a < b
        }
        if let error = order.first(where: { isError(replies[$0]) }) { return replies[error] }
        return order.first.map { replies[$0] } ?? out
    }

    private static func isError(_ reply: [UInt8]) -> Bool {
        reply.first.map(RESPType.isError) ?? true
    }
}
