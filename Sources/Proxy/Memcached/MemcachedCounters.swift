import Synchronization

/// One loop's memcached request counters, read by any loop for `stats`.
///
/// Contract: only the owning loop writes (a relaxed load and store, not a locked add: there is one
/// writer); readers on other loops may see a slightly old value.
final class MemcachedCounters: Sendable {
    let getCommands = Atomic<UInt64>(0)
    /// Keys asked for by get/gets/gat/gats/mg.
    let getKeys = Atomic<UInt64>(0)
    let setCommands = Atomic<UInt64>(0)
    let touchCommands = Atomic<UInt64>(0)
    let flushCommands = Atomic<UInt64>(0)
    let deleteCommands = Atomic<UInt64>(0)
    let arithmeticCommands = Atomic<UInt64>(0)
    let metaCommands = Atomic<UInt64>(0)
    let totalConnections = Atomic<UInt64>(0)
    /// Requests answered with ERROR, CLIENT_ERROR or a protocol refusal by the proxy itself.
    let protocolErrors = Atomic<UInt64>(0)

    @inline(__always)
    static func bump(_ counter: borrowing Atomic<UInt64>, by n: UInt64 = 1) {
        counter.store(counter.load(ordering: .relaxed) &+ n, ordering: .relaxed)
    }
}
