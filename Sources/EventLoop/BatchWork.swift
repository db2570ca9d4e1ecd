/// The end-of-batch work every loop backend runs after a batch of callbacks: deferred bodies first,
/// then one `flushAtEndOfBatch` per registered target. Loop-confined; both arrays keep their capacity,
/// so a steady state allocates nothing. A class, not a struct: the bodies it runs queue more work on it,
/// which a mutating method of a stored struct would see as overlapping access.
final class BatchWork {
    private var flushList: [BatchFlushable] = []
    private var deferred: [() -> Void] = []

    init() {
        flushList.reserveCapacity(64)
        deferred.reserveCapacity(16)
    }

    func flushAtEndOfBatch(_ target: BatchFlushable) {
        flushList.append(target)
    }

    func deferToEndOfBatch(_ body: @escaping () -> Void) {
        deferred.append(body)
    }

    /// Runs everything queued. A flush can fail a connection, which can queue more output or work
    /// elsewhere, so it loops until nothing new was queued.
    func run() {
        var d = 0
        var f = 0
        while d < deferred.count || f < flushList.count {
            while d < deferred.count {
                deferred[d]()
                d += 1
            }
            while f < flushList.count {
                flushList[f].flushAtEndOfBatch()
                f += 1
            }
        }
        deferred.removeAll(keepingCapacity: true)
        flushList.removeAll(keepingCapacity: true)
    }
}
