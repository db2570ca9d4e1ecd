import Synchronization

/// The source of twemproxy's `random` distribution: a server index drawn afresh for each request.
///
/// Contract: `next(below:)` returns a value in `0 ..< count`, roughly uniform, with no lock, no
/// system call and no allocation: an xorshift64* generator whose state is an atomic word read and
/// written with relaxed ordering. Threads that race may draw the same number; that only repeats a
/// pick, it never breaks the range. Not for anything that needs unpredictability.
final class RandomShardPicker: Sendable {
    private let state: Atomic<UInt64>

    /// `seed` must not be 0 (xorshift would stay at 0); nil draws one from the system once.
    init(seed: UInt64? = nil) {
        let start = seed ?? UInt64.random(in: 1 ... UInt64.max)
        precondition(start != 0, "an xorshift seed must not be 0")
        state = Atomic(start)
    }

    func next(below count: Int) -> Int {
        var x = state.load(ordering: .relaxed)
        x ^= x >> 12
        x ^= x << 25
        x ^= x >> 27
        state.store(x, ordering: .relaxed)
        // The high half of the scrambled output is the better half; scale it onto 0..<count.
        let high = (x &* 0x2545_F491_4F6C_DD1D) >> 32
        return Int((high &* UInt64(count)) >> 32)
    }
}
