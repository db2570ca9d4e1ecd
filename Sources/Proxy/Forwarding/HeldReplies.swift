/// The replies of a write kept until its ack policy decides which one answers the client (see
/// `RoutedSession.recordWrite`), at most one per cluster.
///
/// Contract: `clear` forgets the replies but keeps the storage, so a request slot that is reused
/// keeps replies without allocating once warm. (A write to a cluster that is behind was measured at
/// two allocations per request for this when each reply was its own array.)
struct HeldReplies {
    private var bytes: [UInt8] = []
    /// Per cluster, where its reply starts in `bytes`, or -1; its end is the next start or the end.
    private var starts: [Int] = []
    private var ends: [Int] = []

    var isEmpty: Bool { bytes.isEmpty && !starts.contains { $0 >= 0 } }

    /// Keeps `reply` as cluster `cluster`'s (one of `clusters`), replacing an earlier one.
    mutating func keep(_ reply: UnsafeRawBufferPointer, cluster: Int, clusters: Int) {
        if starts.count < clusters {
            starts.append(contentsOf: repeatElement(-1, count: clusters - starts.count))
            ends.append(contentsOf: repeatElement(-1, count: clusters - ends.count))
        }
        starts[cluster] = bytes.count
        bytes.append(contentsOf: reply)
        ends[cluster] = bytes.count
    }

    /// Cluster `cluster`'s kept reply as `storage[range]`, or nil. The storage is shared, not copied:
    /// let it go before `clear`, or clearing copies it.
    func reply(cluster: Int) -> (storage: [UInt8], range: Range<Int>)? {
        guard cluster < starts.count, starts[cluster] >= 0 else { return nil }
        return (bytes, starts[cluster]..<ends[cluster])
    }

    mutating func clear() {
        guard !isEmpty else { return }
        bytes.removeAll(keepingCapacity: true)
        for i in starts.indices { starts[i] = -1 }
    }
}
