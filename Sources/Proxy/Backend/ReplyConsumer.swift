/// Receives the outcome of one request sent to a backend. Called on the loop that owns both.
protocol ReplyConsumer: AnyObject {
    /// The reply of `cluster`'s server to the request sent with `tag`; `reply` is only valid during the call.
    func backendReplied(tag: UInt64, cluster: Int, reply: UnsafeRawBufferPointer)
    /// The request sent with `tag` will get no reply from `cluster`. `request` is the frame that was
    /// sent (so it can be retried elsewhere or kept for later delivery) and `reply` the error to answer
    /// with; both are only valid during the call.
    func backendFailed(tag: UInt64, cluster: Int, request: UnsafeRawBufferPointer, reply: UnsafeRawBufferPointer)
}

/// Hears how a cluster's connections fare, for health and latency. Called on the owning loop.
protocol BackendObserver: AnyObject {
    func backendConnected(cluster: Int, shard: Int)
    /// A reply arrived `rtt` nanoseconds after its request was sent.
    func backendAnswered(cluster: Int, shard: Int, rtt: UInt64)
    /// The connection failed; `connecting` when it never got up.
    func backendFailed(cluster: Int, shard: Int, connecting: Bool)
}

/// Takes the replies of requests whose outcome nobody needs (the SCRIPT LOAD ahead of a retried
/// EVALSHA, the UNWATCH after a DISCARD).
final class DiscardedReplies: ReplyConsumer, Sendable {
    static let shared = DiscardedReplies()
    func backendReplied(tag: UInt64, cluster: Int, reply: UnsafeRawBufferPointer) {}
    func backendFailed(tag: UInt64, cluster: Int, request: UnsafeRawBufferPointer, reply: UnsafeRawBufferPointer) {}
}
