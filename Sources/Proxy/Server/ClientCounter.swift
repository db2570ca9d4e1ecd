import Synchronization

/// Counts clients across all loops, for `maxClients`.
final class ClientCounter: Sendable {
    private let count = Atomic<Int>(0)

    func tryAdd(limit: Int) -> Bool {
        let now = count.add(1, ordering: .relaxed).newValue
        if now > limit {
            count.subtract(1, ordering: .relaxed)
            return false
        }
        return true
    }

    func remove() {
        count.subtract(1, ordering: .relaxed)
    }

    var value: Int { count.load(ordering: .relaxed) }
}
