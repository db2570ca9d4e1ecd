/// How one cluster's servers for one protocol share out keys.
///
/// Contract: for `ketama`, `modula` and `random` a key goes where twemproxy (nutcracker 0.5.0,
/// without `auto_eject_hosts`) sends it for a pool with the same servers, `hash`, `hash_tag` and
/// `distribution`; for `libmemcachedKetama`, where pylibmc / libmemcached 1.0 with
/// `{"ketama": True, "hash": ...}` stores it (see `ShardDistribution`). Indices returned are
/// positions in `servers` as given, whatever order twemproxy keeps them in internally.
///
/// - The key hash is taken over the hash-tagged part of the key (`HashTag`); an empty part hashes
///   to 0, as in twemproxy (only Redis allows an empty key).
/// - With one server, every key goes to it, without hashing (twemproxy and libmemcached both skip
///   the hash then).
/// - `keyHash` and `shard` never allocate; building the map does (ketama rings hold 160 points
///   per server).
///
/// Preconditions, which configuration checks should catch first: at least one server, every
/// weight at least 1 (and their total below 2^32), `hashTag` empty or two bytes.
public struct ShardMap: Sendable {
    public let servers: [ShardServer]
    public let distribution: ShardDistribution
    public let hash: KeyHashKind
    public let hashTag: HashTag
    private let placement: Placement

    private enum Placement: Sendable {
        case single
        case continuum(KetamaContinuum)
        /// `ends[i]` is the running total of weights up to the i-th server in twemproxy's order,
        /// `owners[i]` that server's index in `servers`.
        case modula(ends: [UInt32], owners: [Int32])
        case random(RandomShardPicker)
    }

    public init(servers: [ShardServer], distribution: ShardDistribution, hash: KeyHashKind, hashTag: String) {
        precondition(!servers.isEmpty, "a shard map needs at least one server")
        precondition(servers.allSatisfy { $0.weight >= 1 }, "every server weight must be at least 1")
        precondition(servers.reduce(0) { $0 + $1.weight } <= Int(UInt32.max), "total weight must fit 32 bits")
        guard let tag = HashTag(hashTag) else {
            preconditionFailure("a hash tag is two bytes, like \"{}\", or empty; got \"\(hashTag)\"")
        }
        self.servers = servers
        self.distribution = distribution
        self.hash = hash
        self.hashTag = tag
        if servers.count == 1 {
            placement = .single
            return
        }
        switch distribution {
        case .ketama:
            placement = .continuum(.weighted(servers, buildOrder: ShardMap.twemproxyOrder(servers)))
        case .modula:
            var ends: [UInt32] = []
            var owners: [Int32] = []
            var total: UInt32 = 0
            for index in ShardMap.twemproxyOrder(servers) {
                total &+= UInt32(truncatingIfNeeded: servers[index].weight)
                ends.append(total)
                owners.append(Int32(index))
            }
            placement = .modula(ends: ends, owners: owners)
        case .random:
            placement = .random(RandomShardPicker())
        case .libmemcachedKetama:
            // libmemcached switches to its weighted continuum (twemproxy's layout) as soon as a
            // server with a weight above 1 is added after ketama was turned on, as pylibmc does.
            if servers.contains(where: { $0.weight > 1 }) {
                placement = .continuum(.weighted(servers, buildOrder: Array(servers.indices)))
            } else {
                placement = .continuum(.libmemcached(servers, hash: hash))
            }
        }
    }

    /// Number of servers.
    public var count: Int { servers.count }

    /// The hash of the tagged part of `key` (0 when that part is empty).
    public func keyHash(_ key: UnsafeRawBufferPointer) -> UInt32 {
        let part = hashTag.hashedPart(of: key)
        if part.isEmpty { return 0 }
        return KeyHash.hash(hash, part)
    }

    /// The server (index into `servers`) for a key whose `keyHash` is `hash`. For `random`, a
    /// fresh pick that ignores `hash`.
    public func shard(forHash hash: UInt32) -> Int {
        switch placement {
        case .single:
            return 0
        case .continuum(let continuum):
            return continuum.owner(of: hash)
        case .modula(let ends, let owners):
            return ends.withUnsafeBufferPointer { ends in
                let slot = hash % ends[ends.count - 1]
                // The first server whose running weight total passes the slot.
                var low = 0
                var high = ends.count - 1
                while low < high {
                    let middle = low + (high - low) / 2
                    if ends[middle] <= slot {
                        low = middle + 1
                    } else {
                        high = middle
                    }
                }
                return Int(owners[low])
            }
        case .random(let picker):
            return picker.next(below: servers.count)
        }
    }

    /// The server (index into `servers`) for `key`. With one server, or for `random`, the key is
    /// not hashed.
    public func shard(forKey key: UnsafeRawBufferPointer) -> Int {
        switch placement {
        case .single:
            return 0
        case .random(let picker):
            return picker.next(below: servers.count)
        case .continuum, .modula:
            return shard(forHash: keyHash(key))
        }
    }

    /// Whether `other` computes the same `keyHash` for every key (same hash function and hash
    /// tag), so a hash computed for one map can be passed to the other's `shard(forHash:)`.
    public func hashesLike(_ other: ShardMap) -> Bool {
        hash == other.hash && hashTag == other.hashTag
    }

    /// The order in which twemproxy keeps a pool's servers: it sorts them by ring name (shorter
    /// names first, then bytewise) while checking for duplicates, and `modula` hands out its slots
    /// in that order. Duplicate names, which twemproxy refuses, keep their configured order.
    static func twemproxyOrder(_ servers: [ShardServer]) -> [Int] {
        let names = servers.map { Array($0.ringName.utf8) }
        return servers.indices.sorted { lhs, rhs in
            let left = names[lhs], right = names[rhs]
            if left.count != right.count { return left.count < right.count }
            if left != right { return left.lexicographicallyPrecedes(right) }
            return lhs < rhs
        }
    }
}
