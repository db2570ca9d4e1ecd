/// Which server of each cluster a request goes to. Unset means the first server everywhere: the
/// unsharded case, which costs nothing. Its storage is kept across reuse, so a request slot places
/// keys without allocating once warm.
struct Placement {
    private(set) var shards: [UInt16] = []
    private(set) var isSet = false

    @inline(__always)
    func shard(_ cluster: Int) -> Int {
        isSet ? Int(shards[cluster]) : 0
    }

    @inline(__always)
    mutating func reset() {
        isSet = false
    }

    /// Starts a placement over `clusters` clusters; every entry must then be set.
    @inline(__always)
    mutating func begin(clusters: Int) {
        if shards.count != clusters { shards = Array(repeating: 0, count: clusters) }
        isSet = true
    }

    @inline(__always)
    mutating func set(_ cluster: Int, _ shard: Int) {
        shards[cluster] = UInt16(truncatingIfNeeded: shard)
    }

    /// Takes `other`'s entries without giving up this placement's storage.
    mutating func copy(from other: Placement) {
        guard other.isSet else { return reset() }
        begin(clusters: other.shards.count)
        for i in other.shards.indices { shards[i] = other.shards[i] }
    }
}
