/// Puts replies back in request order for one client.
///
/// Contract: every request gets a tag from `next()`, in arrival order; `complete(tag:)` is called
/// exactly once per tag, in any order. Replies are released to `emit` strictly in tag order. A reply
/// that arrives ahead of an earlier one is copied and held (the only case that allocates); in the
/// common case it goes straight to the output.
struct ReplyOrder {
    private(set) var nextTag: UInt64 = 0
    private(set) var headTag: UInt64 = 0
    private var held: [UInt64: [UInt8]] = [:]

    /// Requests issued whose reply has not been released yet.
    var outstanding: Int { Int(nextTag &- headTag) }

    mutating func next() -> UInt64 {
        defer { nextTag &+= 1 }
        return nextTag
    }

    /// Records the reply for `tag` and releases every reply that is now in order.
    @inline(__always)
    mutating func complete(tag: UInt64, reply: UnsafeRawBufferPointer, emit: (UnsafeRawBufferPointer) -> Void) {
        guard tag == headTag else {
            held[tag] = Array(reply)
            return
        }
        emit(reply)
        headTag &+= 1
        while !held.isEmpty, let next = held.removeValue(forKey: headTag) {
            next.withUnsafeBytes(emit)
            headTag &+= 1
        }
    }
}
