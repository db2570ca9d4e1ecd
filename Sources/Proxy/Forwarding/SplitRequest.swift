/// A client request split into one part per server group (MGET, MSET, DEL ... whose keys live on
/// different servers; memcached multi-key get). Each part travels as a request of its own, with
/// failover and fan-out; the client gets one reply, merged from the parts' replies once every part
/// is in.
///
/// Contract: `record` is called exactly once per part; the call that completes the set hands the
/// merged reply to `emit`. Loop-confined like its session.
final class SplitRequest {
    /// The client request's place in its session's reply order.
    let orderTag: UInt64
    let quiet: UInt8
    private var parts: [[UInt8]]
    private var remaining: Int
    /// Builds the client's reply from every part's reply, in part order.
    private let merge: ([[UInt8]]) -> [UInt8]

    init(orderTag: UInt64, quiet: UInt8, partCount: Int, merge: @escaping ([[UInt8]]) -> [UInt8]) {
        self.orderTag = orderTag
        self.quiet = quiet
        self.parts = Array(repeating: [], count: partCount)
        self.remaining = partCount
        self.merge = merge
    }

    func record(part: Int, reply: UnsafeRawBufferPointer, emit: (UnsafeRawBufferPointer) -> Void) {
        parts[part] = Array(reply)
        remaining -= 1
        guard remaining == 0 else { return }
        let merged = merge(parts)
        parts = []
        merged.withUnsafeBytes(emit)
    }
}
