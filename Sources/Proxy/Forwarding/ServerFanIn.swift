/// A write sent to every server of every cluster (a keyless write on a sharded router: FLUSHALL,
/// SCRIPT LOAD, memcached flush_all ...). Each cluster's servers are gathered into one outcome per
/// cluster, which feeds the session's ack policy like any write: the cluster succeeded when every
/// server did, with its first server's reply; otherwise it failed with the first error.
///
/// Contract: created by `RoutedSession.broadcast`, which sends with this object as the consumer and
/// the server's index as the tag. A server that cannot take the write gets it in its backlog.
final class ServerFanIn<Session: RoutedSession>: ReplyConsumer {
    /// Strong: a session that closes with replies outstanding must still take them.
    let session: Session
    let slot: Int
    private var remaining: [Int]
    private var unreachable: [Bool]
    private var firstReply: [[UInt8]?]
    private var failure: [[UInt8]?]

    init(session: Session, slot: Int, serverCounts: [Int]) {
        self.session = session
        self.slot = slot
        self.remaining = serverCounts
        self.firstReply = Array(repeating: nil, count: serverCounts.count)
        self.failure = Array(repeating: nil, count: serverCounts.count)
        self.unreachable = Array(repeating: false, count: serverCounts.count)
    }

    func backendReplied(tag: UInt64, cluster: Int, reply: UnsafeRawBufferPointer) {
        if Session.Wire.isError(reply) {
            if failure[cluster] == nil { failure[cluster] = Array(reply) }
        } else if tag == 0 || firstReply[cluster] == nil {
            firstReply[cluster] = Array(reply)
        }
        serverDone(cluster)
    }

    func backendFailed(tag: UInt64, cluster: Int, request: UnsafeRawBufferPointer, reply: UnsafeRawBufferPointer) {
        let router = session.router
        router.keepAfterFailure(request, shard: router.clusters[cluster].shards[Int(tag)], variant: session.variant)
        refused(cluster: cluster, reply: reply)
    }

    /// The server could not take the write (already kept for later by the caller, or here).
    func refused(cluster: Int, reply: UnsafeRawBufferPointer) {
        unreachable[cluster] = true
        if failure[cluster] == nil { failure[cluster] = Array(reply) }
        serverDone(cluster)
    }

    private func serverDone(_ cluster: Int) {
        remaining[cluster] -= 1
        guard remaining[cluster] == 0 else { return }
        if let failure = failure[cluster] {
            // An error reply counts against the cluster like a transport failure; both reach the policy.
            failure.withUnsafeBytes {
                if unreachable[cluster] {
                    session.clusterFailed(slot, cluster: cluster, reply: $0)
                } else {
                    session.clusterAnswered(slot, cluster: cluster, reply: $0)
                }
            }
        } else {
            (firstReply[cluster] ?? []).withUnsafeBytes { session.clusterAnswered(slot, cluster: cluster, reply: $0) }
        }
    }
}
