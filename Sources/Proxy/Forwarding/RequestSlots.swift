import Routing

/// What the proxy remembers about one forwarded request until every cluster involved has reported.
struct RequestSlot {
    /// The request's place in the client's reply order.
    var orderTag: UInt64 = 0
    var isWrite = false
    /// The client's reply filter (see `RoutedSession.respond`).
    var quiet: UInt8 = 0
    /// A write decided by one cluster whose effect the others get, waiting for that cluster.
    var isDecision = false
    /// The server of each cluster the request goes to (unset: the first).
    var placement = Placement()
    /// Set when this request is one part of a client request split per server: its reply goes to
    /// the split, which answers the client once every part is in.
    var split: SplitRequest? = nil
    var part = 0
    /// Reads sampled for verification: what to send to another cluster, and the key to report.
    var verify: VerifySample? = nil
    /// Reads: clusters already tried.
    var tried: UInt64 = 0
    /// Writes: the ack-policy state machine.
    var fanOut = WriteFanOut(clusterCount: 1, localMask: 0, policy: .first)
    /// Writes: clusters that answered with an error reply.
    var errorMask: UInt64 = 0
    /// Writes: replies kept until the policy decides which one answers.
    var held = HeldReplies()
    /// Once decided: the deciding cluster's reply, which is what the client gets on success (the other
    /// clusters' replies answer the effect, not the client's command).
    var decidedReply: [UInt8]? = nil
    /// Writes: the clusters' replies are expected to differ (PUBLISH) and are not compared.
    var repliesDiffer = false
    /// Decisions on a client's own connection: the effect goes out at the end of the loop batch.
    var effectAtBatchEnd = false
    /// A request naming a script the proxy knows: what a cluster answering NOSCRIPT is sent again
    /// (see `RoutedSession+ScriptRepair`).
    var scriptRepair: ScriptRepair? = nil
}

/// A read picked for verification (copied only when picked).
struct VerifySample {
    var frame: [UInt8]
    var key: [UInt8]
}

/// A session's request slots, reused through a free list: a slot's index is the tag its request
/// carries to the backends, so replies find their state without a dictionary or an allocation.
struct RequestSlots {
    private(set) var slots: [RequestSlot] = []
    private var free: [Int] = []

    /// Slots allocated and not released: requests of this session still in flight somewhere.
    var inUse: Int { slots.count - free.count }

    @inline(__always)
    mutating func allocate(orderTag: UInt64) -> Int {
        if let index = free.popLast() {
            slots[index].orderTag = orderTag
            return index
        }
        var slot = RequestSlot()
        slot.orderTag = orderTag
        slots.append(slot)
        return slots.count - 1
    }

    @inline(__always)
    mutating func release(_ index: Int) {
        slots[index].held.clear()
        slots[index].isDecision = false
        slots[index].quiet = 0
        slots[index].decidedReply = nil
        slots[index].repliesDiffer = false
        slots[index].effectAtBatchEnd = false
        slots[index].errorMask = 0
        slots[index].tried = 0
        slots[index].placement.reset()
        slots[index].split = nil
        slots[index].verify = nil
        slots[index].scriptRepair = nil
        free.append(index)
    }

    /// Borrowed, not copied: a copy of a slot retains and releases each of its references
    /// (measured: four of the thirty retains per forwarded SET).
    @inline(__always)
    subscript(index: Int) -> RequestSlot {
        _read { yield slots[index] }
        _modify { yield &slots[index] }
    }
}
