/// A ketama continuum: points on a 32-bit ring, each owned by a server; a key hash belongs to the
/// server of the first point at or after it, and hashes past the last point wrap to the first.
///
/// Contract: built once (allocating), then `owner(of:)` is a binary search that does not allocate.
/// Points with equal values keep the order in which they were built. twemproxy and libmemcached
/// sort with an unstable `qsort`, so on such a tie (a 32-bit collision between two servers'
/// points: about 2 in 100,000 rings of three servers) they may pick the other server.
struct KetamaContinuum: Sendable {
    private let values: [UInt32]
    private let owners: [Int32]

    /// Points as (value, index of the owning server), in build order.
    init(points: [(value: UInt32, owner: Int)]) {
        precondition(!points.isEmpty, "a ketama continuum needs at least one point")
        let sorted = points.enumerated().sorted { lhs, rhs in
            lhs.element.value != rhs.element.value
                ? lhs.element.value < rhs.element.value : lhs.offset < rhs.offset
        }
        values = sorted.map(\.element.value)
        owners = sorted.map { Int32($0.element.owner) }
    }

    /// Number of points on the ring.
    var pointCount: Int { values.count }

    /// The server that owns `hash`.
    func owner(of hash: UInt32) -> Int {
        values.withUnsafeBufferPointer { values in
            var low = 0
            var high = values.count
            while low < high {
                let middle = low + (high - low) / 2
                if values[middle] < hash {
                    low = middle + 1
                } else {
                    high = middle
                }
            }
            return Int(owners[low == values.count ? 0 : low])
        }
    }

    /// twemproxy's `ketama_update` (with every server live), which is also libmemcached's weighted
    /// continuum (`MEMCACHED_DISTRIBUTION_CONSISTENT_WEIGHTED`).
    ///
    /// Each server gets `floorf(weight / totalWeight * 160 / 4 * serverCount) * 4` points, computed
    /// in `float` exactly as the C code does (so rounding matches at the edges): with equal
    /// weights, 160. Its ring name with `-0`, `-1`, ... appended is hashed with MD5, and each
    /// digest gives four points, its four little-endian words. `buildOrder` lists server indices
    /// in the order twemproxy walks them (it only decides ties). twemproxy formats "name-N" into
    /// an 86-byte buffer and hashes the untruncated length, so for ring names over about 80 bytes
    /// it hashes bytes past its buffer and no one can match it; keep names short.
    static func weighted(_ servers: [ShardServer], buildOrder: [Int]) -> KetamaContinuum {
        let serverCount = Float(servers.count)
        let totalWeight = Float(UInt32(truncatingIfNeeded: servers.reduce(0) { $0 + $1.weight }))
        var points: [(value: UInt32, owner: Int)] = []
        for index in buildOrder {
            let server = servers[index]
            let share = Float(UInt32(truncatingIfNeeded: server.weight)) / totalWeight
            // C evaluates `pct * 160 / 4 * (float)n` in float, adds the double 1e-10, then casts
            // back to float before floorf; the addition vanishes in that cast for any real share.
            let quarterPoints = share * 160 / 4 * serverCount
            let rounded = Float(Double(quarterPoints) + 0.000_000_000_1).rounded(.down)
            let pointCount = UInt32(rounded * 4)
            let ringName = server.ringName
            for hashIndex in 0 ..< pointCount / 4 {
                let words = Array("\(ringName)-\(hashIndex)".utf8).withUnsafeBytes { MD5.words(of: $0) }
                points.append((words.0, index))
                points.append((words.1, index))
                points.append((words.2, index))
                points.append((words.3, index))
            }
        }
        return KetamaContinuum(points: points)
    }

    /// libmemcached's unweighted continuum (`MEMCACHED_DISTRIBUTION_CONSISTENT_KETAMA` with every
    /// weight 1), as pylibmc's `{"ketama": True}` builds it: 100 points per server, point `i` being
    /// the key hash (`hash`, libmemcached's `MEMCACHED_BEHAVIOR_HASH`) of the ring name with `-i`
    /// appended.
    static func libmemcached(_ servers: [ShardServer], hash: KeyHashKind) -> KetamaContinuum {
        var points: [(value: UInt32, owner: Int)] = []
        for (index, server) in servers.enumerated() {
            let ringName = server.ringName
            for pointIndex in 0 ..< 100 {
                let value = Array("\(ringName)-\(pointIndex)".utf8).withUnsafeBytes { KeyHash.hash(hash, $0) }
                points.append((value, index))
            }
        }
        return KetamaContinuum(points: points)
    }
}
