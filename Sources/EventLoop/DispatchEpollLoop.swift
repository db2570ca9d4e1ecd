#if canImport(Glibc)
import Glibc
#endif
import CShims
import Dispatch

/// The default loop backend: an epoll set drained in batches from ONE Dispatch read source.
///
/// Why one source on the epoll fd rather than one per socket: libdispatch drains its own epoll on a
/// manager thread and hands every event to a worker; one source per socket paid that hand-off (about
/// 7 system calls and 1.3 context switches) per request. Here the hand-off is paid once per wake-up,
/// and the handler drains `epoll_wait(timeout: 0)` until the set is quiet, running protocol code
/// inline. Level-triggered, so a handler that reads only part of what is there is called again.
public final class DispatchEpollLoop: EventLoop, @unchecked Sendable {
    public let index: Int
    public var backendName: String { "dispatch" }
    public let buffers = BufferPool()
    public private(set) var batchTime: UInt64 = 0

    /// The serial queue all of this loop's callbacks run on.
    public let queue: DispatchQueue
    private let epfd: Int32
    private var source: DispatchSourceRead?
    private var slots: [Slot] = []
    private let events: UnsafeMutablePointer<epoll_event>
    private let maxEvents: Int32 = 256
    private let batchWork = BatchWork()
    private var isShutdown = false

    private struct Slot {
        var handler: IOHandler?
        var generation: UInt32 = 0
    }

    /// How long a batch that just did work waits in place for more events (0 = return at once).
    public let idleWaitMicros: Int
    /// Longest stretch one wake-up may keep the queue before timers and tasks get their turn.
    private let maxBusyNanoseconds: UInt64 = 2_000_000

    public init(index: Int, idleWaitMicros: Int = 100) throws {
        self.index = index
        self.idleWaitMicros = idleWaitMicros
        self.queue = DispatchQueue(label: "metacluster.loop.\(index)", qos: .userInteractive)
        self.epfd = try Posix.epollCreate()
        self.events = .allocate(capacity: Int(maxEvents))
        let source = DispatchSource.makeReadSource(fileDescriptor: epfd, queue: queue)
        self.source = source
        source.setEventHandler { [unowned self] in self.drain() }
        let epfd = self.epfd
        source.setCancelHandler { Posix.close(epfd) }
        source.resume()
    }

    deinit {
        events.deallocate()
    }

    // MARK: registration

    public func register(_ fd: Int32, interest: Interest, handler: IOHandler) throws {
        let i = Int(fd)
        if i >= slots.count { slots.append(contentsOf: repeatElement(Slot(), count: i + 1 - slots.count + 64)) }
        slots[i].generation &+= 1
        slots[i].handler = handler
        try Posix.epollControl(epfd, EPOLL_CTL_ADD, fd, events: Self.mask(interest), data: key(fd))
    }

    public func setInterest(_ fd: Int32, _ interest: Interest) throws {
        try Posix.epollControl(epfd, EPOLL_CTL_MOD, fd, events: Self.mask(interest), data: key(fd))
    }

    public func unregister(_ fd: Int32) {
        let i = Int(fd)
        guard i < slots.count, slots[i].handler != nil else { return }
        slots[i].handler = nil
        // Bumping the generation makes events already fetched for this fd in the current batch stale.
        slots[i].generation &+= 1
        try? Posix.epollControl(epfd, EPOLL_CTL_DEL, fd, events: 0, data: 0)
    }

    @inline(__always)
    private func key(_ fd: Int32) -> UInt64 {
        UInt64(UInt32(bitPattern: fd)) | UInt64(slots[Int(fd)].generation) << 32
    }

    private static func mask(_ interest: Interest) -> UInt32 {
        var m: UInt32 = 0
        if interest.contains(.read) { m |= cshims_EPOLLIN | cshims_EPOLLRDHUP }
        if interest.contains(.write) { m |= cshims_EPOLLOUT }
        return m
    }

    // MARK: batches

    private func drain() {
        guard !isShutdown else { return }
        let started = Posix.monotonicNanoseconds()
        var timeoutMicros = 0
        while true {
            batchTime = Posix.monotonicNanoseconds()
            let n: Int
            do {
                n = try Posix.epollWait(epfd, events, maxEvents, micros: timeoutMicros)
            } catch {
                n = 0
            }
            if n == 0 { break }
            dispatchEvents(n)
            flushPending()
            if n == Int(maxEvents) {
                timeoutMicros = 0
                continue
            }
            // The set is quiet for now, but what was just written (requests to backends, replies to
            // clients) usually brings an answer within microseconds. Waiting for it here, briefly,
            // saves the round trip through libdispatch's manager thread and a worker wake-up, which
            // dominates latency with few clients. Bounded so timers and tasks on this queue still run.
            guard idleWaitMicros > 0, batchTime &- started < maxBusyNanoseconds else { break }
            timeoutMicros = idleWaitMicros
        }
    }

    @inline(__always)
    private func dispatchEvents(_ n: Int) {
        for i in 0..<n {
            let event = events[i]
            let fd = Int(UInt32(truncatingIfNeeded: event.data.u64))
            let generation = UInt32(truncatingIfNeeded: event.data.u64 >> 32)
            guard fd < slots.count, slots[fd].generation == generation, let handler = slots[fd].handler else {
                continue
            }
            var ready: IOEvents = []
            if event.events & cshims_EPOLLIN != 0 { ready.insert(.read) }
            if event.events & cshims_EPOLLOUT != 0 { ready.insert(.write) }
            if event.events & (cshims_EPOLLERR | cshims_EPOLLHUP | cshims_EPOLLRDHUP) != 0 { ready.insert(.failure) }
            handler.handle(ready)
        }
    }

    public func flushAtEndOfBatch(_ target: BatchFlushable) {
        batchWork.flushAtEndOfBatch(target)
    }

    public func deferToEndOfBatch(_ body: @escaping () -> Void) {
        batchWork.deferToEndOfBatch(body)
    }

    private func flushPending() {
        batchWork.run()
    }

    /// Runs `body` on the loop as one batch and waits for it. For start-up and shutdown only: calling
    /// it from the loop's own queue deadlocks.
    public func runAndWait<T, E: Error>(_ body: () throws(E) -> T) throws(E) -> T {
        let result: Result<T, E> = queue.sync { batch { Result { () throws(E) -> T in try body() } } }
        return try result.get()
    }

    private func runBatch(_ body: () -> Void) {
        guard !isShutdown else { return }
        batch(body)
    }

    /// One batch outside epoll: fresh batch time, the body, then the deferred work and flushes.
    private func batch<T>(_ body: () -> T) -> T {
        batchTime = Posix.monotonicNanoseconds()
        defer { flushPending() }
        return body()
    }

    // MARK: timers and tasks

    @discardableResult
    public func schedule(after delay: Duration, repeating: Duration?, _ body: @escaping () -> Void) -> LoopTimer {
        let timer = DispatchLoopTimer(source: DispatchSource.makeTimerSource(queue: queue))
        let deadline = DispatchTime.now() + .nanoseconds(Int(min(delay.nanoseconds, UInt64(Int.max))))
        if let repeating {
            timer.source.schedule(deadline: deadline, repeating: .nanoseconds(Int(repeating.nanoseconds)), leeway: .milliseconds(1))
        } else {
            timer.source.schedule(deadline: deadline, leeway: .milliseconds(1))
        }
        let oneShot = repeating == nil
        // Strong captures throughout: a weak reference would give the loop a side table, and every
        // retain of it on the request path would then take the runtime's slow path (seen in perf).
        // The handler holds the timer so a discarded handle still fires; cancel breaks the cycle.
        timer.source.setEventHandler { [self, timer] in
            guard !timer.isCancelled else { return }
            if oneShot { timer.cancel() }
            self.runBatch(body)
        }
        timer.source.resume()
        return timer
    }

    public func execute(_ body: @escaping @Sendable () -> Void) {
        queue.async { [self] in runBatch(body) }
    }

    public func shutdown() {
        queue.async { [self] in
            guard !isShutdown else { return }
            isShutdown = true
            source?.cancel()
            source = nil
            slots.removeAll()
        }
    }
}

/// A Dispatch timer source bound to a loop's queue. Never suspended: cancelling a suspended source crashes.
final class DispatchLoopTimer: LoopTimer {
    let source: DispatchSourceTimer
    private(set) var isCancelled = false

    init(source: DispatchSourceTimer) {
        self.source = source
    }

    func cancel() {
        guard !isCancelled else { return }
        isCancelled = true
        source.cancel()
    }
}
