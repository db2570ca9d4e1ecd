/// Up to four distinct reply hashes, each with the mask of the clusters that replied with it, kept
/// inline (no allocation) by `WriteFanOut` for the successes that arrive before the reply they are
/// to be compared with.
///
/// Contract: `mismatching(hash)` is exact while at most four distinct hashes were added. Beyond
/// that, the clusters whose hash did not fit are reported as mismatching, which is wrong only for
/// those of them whose hash equals `hash` when `hash` is none of the four kept.
struct ReplyHashGroups: Sendable {
    private var hash0: UInt64 = 0
    private var hash1: UInt64 = 0
    private var hash2: UInt64 = 0
    private var hash3: UInt64 = 0
    // A group is in use when its mask is non-zero; groups fill in order 0, 1, 2, 3.
    private var mask0: UInt64 = 0
    private var mask1: UInt64 = 0
    private var mask2: UInt64 = 0
    private var mask3: UInt64 = 0
    /// Clusters whose hash was a fifth (or later) distinct value.
    private var overflow: UInt64 = 0

    init() {}

    /// Clusters added so far.
    var members: UInt64 { mask0 | mask1 | mask2 | mask3 | overflow }

    mutating func add(_ bit: UInt64, hash: UInt64) {
        if mask0 == 0 || hash0 == hash {
            hash0 = hash
            mask0 |= bit
        } else if mask1 == 0 || hash1 == hash {
            hash1 = hash
            mask1 |= bit
        } else if mask2 == 0 || hash2 == hash {
            hash2 = hash
            mask2 |= bit
        } else if mask3 == 0 || hash3 == hash {
            hash3 = hash
            mask3 |= bit
        } else {
            overflow |= bit
        }
    }

    /// The clusters added with a hash other than `hash` (see the type's contract for the overflow).
    func mismatching(_ hash: UInt64) -> UInt64 {
        var mask = overflow
        // Unused groups have an empty mask, so they add nothing whatever their stale hash.
        if hash0 != hash { mask |= mask0 }
        if hash1 != hash { mask |= mask1 }
        if hash2 != hash { mask |= mask2 }
        if hash3 != hash { mask |= mask3 }
        return mask
    }
}
