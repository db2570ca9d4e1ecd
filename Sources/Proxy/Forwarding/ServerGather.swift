/// Reads sent to chosen servers of one cluster (whole-keyspace commands: DBSIZE, KEYS, SCAN,
/// RANDOMKEY); the client gets the merge of their replies, in target order (see `SplitRequest`).
/// A server that cannot be reached contributes its error reply, which the merge passes on. No
/// failover: such a reply is about one cluster's keyspace.
final class ServerGather<Session: RoutedSession>: ReplyConsumer {
    /// Strong: a session that closes with replies outstanding must still take them.
    let session: Session
    let slot: Int
    private let parts: SplitRequest

    init(session: Session, slot: Int, targets: Int, merge: @escaping ([[UInt8]]) -> [UInt8]) {
        self.session = session
        self.slot = slot
        self.parts = SplitRequest(orderTag: 0, quiet: 0, partCount: targets, merge: merge)
    }

    /// `tag` is the target's position in the list the read was sent to.
    func backendReplied(tag: UInt64, cluster: Int, reply: UnsafeRawBufferPointer) {
        partDone(Int(tag), reply)
    }

    func backendFailed(tag: UInt64, cluster: Int, request: UnsafeRawBufferPointer, reply: UnsafeRawBufferPointer) {
        partDone(Int(tag), reply)
    }

    func partDone(_ index: Int, _ reply: UnsafeRawBufferPointer) {
        parts.record(part: index, reply: reply) { session.finishRead(slot, reply: $0) }
    }
}
