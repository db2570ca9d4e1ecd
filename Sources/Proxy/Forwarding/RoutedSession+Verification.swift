/// Read verification: a sampled read, once answered, goes to a random other cluster that can serve
/// it, and the two replies are compared (`Wire.sameData`). The client's answer never waits for it.
extension RoutedSession {
    func verify(_ sample: VerifySample, placement: Placement, answered: Int, reply: UnsafeRawBufferPointer) {
        let router = self.router
        var candidates: UInt64 = 0
        for link in router.clusters where link.shards[placement.shard(link.index)].isReadable {
            candidates |= 1 << UInt64(link.index)
        }
        switch router.verifier.begin(answered: answered, candidates: candidates) {
        case .noOtherCluster:
            return
        case .busy:
            router.verifySkipped.bump()
        case .against(let other):
            let check = VerificationCheck(router: router, answered: answered, against: other, expected: Array(reply), key: sample.key)
            let backend = router.clusters[other].shards[placement.shard(other)].backend(variant: variant)
            let sent = sample.frame.withUnsafeBytes { backend.send($0, consumer: check, tag: 0) }
            if !sent { check.failed() }
        }
    }
}

/// One verification read in flight: compares the other cluster's reply with the one the client got,
/// and counts the outcome for the pair (answered, against).
final class VerificationCheck<Wire: BackendWire>: ReplyConsumer {
    let router: ClusterRouter<Wire>
    let answered: Int
    let against: Int
    let expected: [UInt8]
    let key: [UInt8]

    init(router: ClusterRouter<Wire>, answered: Int, against: Int, expected: [UInt8], key: [UInt8]) {
        self.router = router
        self.answered = answered
        self.against = against
        self.expected = expected
        self.key = key
    }

    private var stats: VerificationStats { router.clusters[answered].stats.verification }
    private var againstName: String { router.clusters[against].name }

    func backendReplied(tag: UInt64, cluster: Int, reply: UnsafeRawBufferPointer) {
        router.verifier.end()
        let expectedIsError = expected.withUnsafeBytes { Wire.isError($0) }
        if Wire.isError(reply) && !expectedIsError {
            // The other cluster could not answer (LOADING, OOM ...): not evidence about the data.
            stats.failures[againstName]?.bump()
            return
        }
        stats.verified[againstName]?.bump()
        if !expected.withUnsafeBytes({ Wire.sameData($0, reply) }) {
            stats.mismatches[againstName]?.bump()
            router.reportMismatch(key: key, answered: answered, against: against)
        }
    }

    func backendFailed(tag: UInt64, cluster: Int, request: UnsafeRawBufferPointer, reply: UnsafeRawBufferPointer) {
        failed()
    }

    /// The check could not be sent or got no reply.
    func failed() {
        router.verifier.end()
        stats.failures[againstName]?.bump()
    }
}
