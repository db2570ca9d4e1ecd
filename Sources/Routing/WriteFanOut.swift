/// The state of one write sent to every cluster: it records each cluster's outcome and decides, by
/// `AckPolicy`, when the client is answered and with which cluster's reply.
///
/// Contract:
/// - Clusters are `0..<clusterCount`, with `clusterCount` in `1...64`; `localMask` marks the local
///   ones (bits at `clusterCount` and above are ignored). Any number of clusters may be local, or none.
/// - The caller reports every cluster exactly once through `record`: a cluster that could not take
///   the write (transport error, timeout, down, the write went to its backlog) or that answered
///   with an error reply is a `.failure`. Reporting a cluster twice, or one out of range, traps.
///   The write is answered at the latest when the last cluster reports, so a timeout must be
///   reported as a failure, or the client may never be answered.
/// - `record` returns `.answer(cluster:)` exactly once over the life of the write, naming the cluster
///   whose reply the client gets (the rules are on `AckPolicy`); every other call returns `.wait`,
///   including every report after the answer.
/// - Divergence is judged on reply hashes (`ReplyHash`), so no reply is copied. When the answer is a
///   success, `divergentMask` holds the clusters that succeeded with a different hash; it is exact for
///   every cluster that has reported, and final once `isComplete`. A failed cluster is in
///   `failedMask`, never in `divergentMask`; when the answer is a failure there is no answered hash and
///   `divergentMask` is 0 (whether other clusters applied the write is in `succeededMask`).
///   One limit: under `local` and `all`, a success that arrives before the preferred local cluster's
///   reply is compared through `ReplyHashGroups`, which keeps four distinct hashes; with six or more
///   clusters and five or more distinct replies ahead of the local one, a cluster may be counted
///   divergent although it matched.
/// - No method allocates: the state is fixed-width masks and words, 128 bytes inline.
public struct WriteFanOut: Sendable {
    /// What one cluster did with the write.
    public enum Outcome: Sendable {
        /// A reply that is not an error; `replyHash` is `ReplyHash.hash` of its bytes.
        case success(replyHash: UInt64)
        /// The cluster could not take the write, or answered with an error reply.
        case failure
    }

    /// What the caller does after a report.
    public enum Decision: Equatable, Sendable {
        /// Not answered by this report (not yet, or already earlier).
        case wait
        /// Answer the client now with this cluster's reply (or failure).
        case answer(cluster: Int)
    }

    public let policy: AckPolicy
    /// The local clusters, restricted to `0..<clusterCount`.
    public let localMask: UInt64
    /// Clusters that have reported.
    public private(set) var reportedMask: UInt64 = 0
    /// Clusters that reported a failure.
    public private(set) var failedMask: UInt64 = 0

    // Cluster indices fit in Int8 (at most 64 clusters); -1 means "none yet". Small fields keep the
    // struct compact, since the caller holds one per write in flight.
    private let count: Int8
    private let preferredLocal: Int8
    /// `local` without a local cluster behaves as `first`.
    private let effectivePolicy: AckPolicy
    /// Under `local` and `all` with a local cluster, the answered success is the preferred local's
    /// reply, which may arrive after other successes; otherwise it is the first success.
    private let referenceIsPreferredLocal: Bool
    private var firstSuccess: Int8 = -1
    private var firstFailure: Int8 = -1
    private var answered: Int8 = -1
    private var referenceKnown = false
    private var referenceHash: UInt64 = 0
    private var divergent: UInt64 = 0
    /// Successes that arrived before the reference reply, by hash.
    private var early = ReplyHashGroups()

    public init(clusterCount: Int, localMask: UInt64, policy: AckPolicy) {
        precondition((1 ... 64).contains(clusterCount), "WriteFanOut: clusterCount must be in 1...64")
        let all: UInt64 = clusterCount == 64 ? ~0 : (1 << UInt64(clusterCount)) &- 1
        let locals = localMask & all
        self.policy = policy
        self.localMask = locals
        self.count = Int8(clusterCount)
        self.preferredLocal = locals == 0 ? -1 : Int8(locals.trailingZeroBitCount)
        self.effectivePolicy = policy == .local && locals == 0 ? .first : policy
        self.referenceIsPreferredLocal = locals != 0 && (policy == .local || policy == .all)
    }

    public var clusterCount: Int { Int(count) }

    /// Clusters that reported a success.
    public var succeededMask: UInt64 { reportedMask & ~failedMask }

    /// The cluster whose reply answered the client, once answered.
    public var answeredCluster: Int? { answered < 0 ? nil : Int(answered) }

    /// True once answered and the answer is a success reply.
    public var answeredWithSuccess: Bool {
        answered >= 0 && failedMask & (1 << UInt64(answered)) == 0
    }

    /// Every cluster has reported.
    public var isComplete: Bool { reportedMask.nonzeroBitCount == Int(count) }

    /// Clusters that succeeded with a reply hash different from the answered reply's (see the type's
    /// contract); 0 before the answer and when the answer is a failure.
    public var divergentMask: UInt64 { answeredWithSuccess ? divergent : 0 }

    /// Records cluster `cluster`'s outcome (once per cluster). Returns `.answer(cluster:)` exactly once
    /// over the life of the write — the cluster whose reply the client gets — and `.wait` otherwise.
    public mutating func record(cluster: Int, _ outcome: Outcome) -> Decision {
        precondition(cluster >= 0 && cluster < Int(count), "WriteFanOut: cluster index out of range")
        let bit: UInt64 = 1 << UInt64(cluster)
        precondition(reportedMask & bit == 0, "WriteFanOut: cluster reported twice")
        reportedMask |= bit
        let succeeded: Bool
        switch outcome {
        case .success(let hash):
            succeeded = true
            if firstSuccess < 0 { firstSuccess = Int8(cluster) }
            noteSuccess(cluster: cluster, bit: bit, hash: hash)
        case .failure:
            succeeded = false
            failedMask |= bit
            if firstFailure < 0 { firstFailure = Int8(cluster) }
        }
        guard answered < 0, let chosen = decide(cluster: cluster, succeeded: succeeded) else { return .wait }
        answered = Int8(chosen)
        return .answer(cluster: chosen)
    }

    /// Tracks divergence against the reference reply (the success that is, or will be, answered).
    private mutating func noteSuccess(cluster: Int, bit: UInt64, hash: UInt64) {
        if referenceKnown {
            if hash != referenceHash { divergent |= bit }
        } else if !referenceIsPreferredLocal || cluster == Int(preferredLocal) {
            referenceKnown = true
            referenceHash = hash
            divergent |= early.mismatching(hash)
            early = ReplyHashGroups()
        } else {
            early.add(bit, hash: hash)
        }
    }

    /// The answer this report triggers, if any; called only while unanswered.
    private func decide(cluster: Int, succeeded: Bool) -> Int? {
        let n = Int(count)
        switch effectivePolicy {
        case .first:
            // Unanswered means no earlier success, so a success here is the first one.
            if succeeded { return cluster }
            return failedMask.nonzeroBitCount == n ? failureAnswer : nil
        case .local:
            return cluster == Int(preferredLocal) ? cluster : nil
        case .majority:
            let needed = n / 2 + 1
            if succeededMask.nonzeroBitCount >= needed { return Int(firstSuccess) }
            return failedMask.nonzeroBitCount > n - needed ? failureAnswer : nil
        case .all:
            if !succeeded { return failureAnswer }
            guard succeededMask.nonzeroBitCount == n else { return nil }
            return preferredLocal >= 0 ? Int(preferredLocal) : Int(firstSuccess)
        }
    }

    /// The failed local cluster with the lowest index, else the cluster that failed first.
    private var failureAnswer: Int {
        let failedLocals = failedMask & localMask
        return failedLocals != 0 ? failedLocals.trailingZeroBitCount : Int(firstFailure)
    }
}
