/// When a write sent to every cluster is answered, and with which cluster's reply (`writeAck`).
///
/// "Success" is a reply that is not an error; "failure" is a cluster that could not take the write
/// (transport error, timeout, down, backlogged) or answered with an error reply (`-WRONGTYPE` ...).
/// The preferred local cluster is the local cluster with the lowest index. A *failure answer* is the
/// failed local cluster with the lowest index, or, when no local cluster has failed, the cluster
/// that failed first (in arrival order). `WriteFanOut` implements these rules.
///
/// - `first` (the default): the first successful reply; when every cluster failed, the failure answer.
/// - `local`: the preferred local cluster's reply, success or failure, as soon as it arrives; with no
///   local cluster, the same as `first`.
/// - `majority`: the first successful reply, once more than half of the clusters have succeeded; the
///   failure answer as soon as a majority can no longer be reached.
/// - `all`: once every cluster has succeeded, the preferred local cluster's reply (with no local
///   cluster, the first successful reply); the failure answer as soon as any cluster fails.
public enum AckPolicy: String, Sendable, CaseIterable {
    case first, local, majority, all

    /// The policy when the configuration names none.
    public static let `default`: AckPolicy = .first
}
