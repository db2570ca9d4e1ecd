/// What a loop watches a descriptor for.
public struct Interest: OptionSet, Sendable {
    public let rawValue: UInt8
    public init(rawValue: UInt8) { self.rawValue = rawValue }
    public static let read = Interest(rawValue: 1)
    public static let write = Interest(rawValue: 2)
}

/// What a descriptor is ready for, as reported to its handler.
public struct IOEvents: OptionSet, Sendable {
    public let rawValue: UInt8
    public init(rawValue: UInt8) { self.rawValue = rawValue }
    public static let read = IOEvents(rawValue: 1)
    public static let write = IOEvents(rawValue: 2)
    /// Hang-up or socket error. Reported even when no interest is set, so a handler must act on it
    /// (a read or SO_ERROR tells which) or the loop would report it again and again.
    public static let failure = IOEvents(rawValue: 4)
}

/// Receives readiness for one registered descriptor. Called only on the owning loop.
public protocol IOHandler: AnyObject {
    func handle(_ events: IOEvents)
}

/// Something that gathered output during a batch and writes it once when the batch ends.
public protocol BatchFlushable: AnyObject {
    func flushAtEndOfBatch()
}

/// A scheduled callback; cancel is idempotent. Loop-confined.
public protocol LoopTimer: AnyObject {
    func cancel()
}

/// The loop contract every backend implements: `DispatchEpollLoop` (the default) and `LibevLoop`.
///
/// Contract:
/// - Every callback (I/O readiness, timer, `execute` task) runs serially on the loop, never two at once,
///   so state owned by the loop needs no locks.
/// - After each batch of callbacks the loop calls `flushAtEndOfBatch` on everything passed to
///   `flushAtEndOfBatch(_:)` during the batch, once each, so output gathered from many events goes
///   out in one write.
/// - A descriptor unregistered during a batch receives no further events from that batch, even if
///   its number is reused by a new registration in the same batch.
/// - Only `execute` may be called from other threads.
public protocol EventLoop: AnyObject, Sendable {
    /// Stable index of this loop among the workers, for logs and metrics.
    var index: Int { get }
    /// The backend's name as the config spells it (`dispatch`, `libev`), for logs and INFO.
    var backendName: String { get }
    /// The loop's buffers; see `BufferPool`.
    var buffers: BufferPool { get }
    /// Monotonic time in nanoseconds sampled at the start of the current batch (cheap to read).
    var batchTime: UInt64 { get }

    func register(_ fd: Int32, interest: Interest, handler: IOHandler) throws
    func setInterest(_ fd: Int32, _ interest: Interest) throws
    /// Stops watching `fd`; the caller closes it afterwards.
    func unregister(_ fd: Int32)

    func flushAtEndOfBatch(_ target: BatchFlushable)

    /// Runs `body` on the loop when the current callback returns, before the batch's flushes.
    /// Loop-only (not thread-safe); for work that must not run re-entrantly inside a callback.
    func deferToEndOfBatch(_ body: @escaping () -> Void)

    /// Runs `body` on the loop after `delay`, then every `repeating` if given.
    @discardableResult
    func schedule(after delay: Duration, repeating: Duration?, _ body: @escaping () -> Void) -> LoopTimer

    /// Runs `body` on the loop soon; callable from any thread.
    func execute(_ body: @escaping @Sendable () -> Void)

    /// Runs `body` on the loop as one batch and waits for it. For start-up, reloads and shutdown, from
    /// a thread that is not a loop thread: calling it from any loop may deadlock.
    func runAndWait<T, E: Error>(_ body: () throws(E) -> T) throws(E) -> T

    /// Stops the loop for good: no further callbacks, descriptors it still watches are not closed.
    func shutdown()
}

extension Duration {
    /// Whole nanoseconds, saturating.
    public var nanoseconds: UInt64 {
        let (seconds, attoseconds) = components
        if seconds < 0 { return 0 }
        return UInt64(seconds).multipliedReportingOverflow(by: 1_000_000_000).partialValue &+ UInt64(attoseconds / 1_000_000_000)
    }
}
