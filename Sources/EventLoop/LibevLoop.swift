#if canImport(Glibc)
import Glibc
#endif
import CShims
import Dispatch
import Synchronization

/// The second loop backend (`"eventLoop": "libev"`): one libev loop with its epoll backend on a thread
/// of its own, `ev_io` watchers for descriptors, `ev_timer` for timers and one `ev_async` for tasks
/// handed over from other threads.
///
/// Contract: the `EventLoop` contract, with these notes on how libev meets it.
/// - A batch is one `ev_invoke_pending`: the loop's invoke hook runs libev's pending callbacks, then the
///   deferred bodies and flushes. Unlike `DispatchEpollLoop` there is no hand-off to a queue: the loop
///   thread blocks in `epoll_wait` itself and runs protocol code as soon as it wakes.
/// - Stopping a watcher clears its pending events (libev's `clear_pending`), which is what keeps a
///   descriptor unregistered within a batch from receiving the rest of that batch's events.
/// - libev reports a hang-up or socket error as read and write readiness, only for the directions
///   watched. So `.failure` is never reported by itself, and a descriptor watched for nothing (read
///   paused, no output queued) hears of its failure when it is next watched, not at once.
public final class LibevLoop: EventLoop, @unchecked Sendable {
    public let index: Int
    public var backendName: String { "libev" }
    public let buffers = BufferPool()
    public private(set) var batchTime: UInt64 = 0

    fileprivate let evLoop: OpaquePointer
    private var thread = pthread_t()
    private let wakeUp: UnsafeMutablePointer<ev_async>
    private var slots: [Slot] = []
    private let batchWork = BatchWork()
    /// Tasks handed over by `execute`; swapped with `running` so neither side allocates in steady state.
    private let submitted = Mutex<(tasks: [@Sendable () -> Void], open: Bool)>(([], true))
    private var running: [@Sendable () -> Void] = []
    fileprivate private(set) var isShutdown = false

    private struct Slot {
        var handler: IOHandler?
        /// Kept for the descriptor number's lifetime in this loop and reused by the next registration,
        /// so a new connection allocates no watcher.
        var watcher: UnsafeMutablePointer<ev_io>?
    }

    /// How long the loop keeps polling without sleeping after a wake-up that did work.
    public let spinNanoseconds: UInt64
    /// When the last wake-up that ran callbacks started.
    private var lastWork: UInt64 = 0

    /// `spinMicros`: after a wake-up that did work, poll for this long before blocking in
    /// `epoll_wait` (0: block at once). The replies a batch just caused usually arrive within tens
    /// of microseconds; catching them without sleeping saves two scheduler wake-ups per round trip,
    /// which is most of what a proxy adds to latency with few clients. Costs CPU only while idle
    /// within that window.
    public init(index: Int, spinMicros: Int = 0) throws {
        guard let evLoop = cshims_ev_loop_new_epoll() else {
            throw SystemError("ev_loop_new", errno: errno)
        }
        self.index = index
        self.spinNanoseconds = UInt64(max(spinMicros, 0)) * 1000
        self.evLoop = evLoop
        self.wakeUp = .allocate(capacity: 1)
        running.reserveCapacity(64)
        ev_set_userdata(evLoop, Unmanaged.passUnretained(self).toOpaque())
        ev_set_invoke_pending_cb(evLoop) { evLoop in
            LibevLoop.owner(of: evLoop).runBatch()
        }
        cshims_ev_async_init(wakeUp) { evLoop, _, _ in
            LibevLoop.owner(of: evLoop).runSubmittedTasks()
        }
        ev_async_start(evLoop, wakeUp)

        // The thread holds the loop until `ev_run` returns, after `shutdown`.
        let retained = Unmanaged.passRetained(self).toOpaque()
        let rc = pthread_create(&thread, nil, { argument in
            let loop = Unmanaged<LibevLoop>.fromOpaque(argument!).takeRetainedValue()
            loop.threadMain()
            return nil
        }, retained)
        guard rc == 0 else {
            Unmanaged<LibevLoop>.fromOpaque(retained).release()
            throw SystemError("pthread_create", errno: rc)
        }
        pthread_detach(thread)
    }

    deinit {
        for slot in slots {
            slot.watcher?.deallocate()
        }
        wakeUp.deallocate()
        ev_loop_destroy(evLoop)
    }

    @inline(__always)
    private static func owner(of evLoop: OpaquePointer?) -> LibevLoop {
        Unmanaged<LibevLoop>.fromOpaque(ev_userdata(evLoop)!).takeUnretainedValue()
    }

    private func threadMain() {
        "mc-libev-\(index)".withCString { cshims_set_thread_name($0) }
        guard spinNanoseconds > 0 else {
            ev_run(evLoop, 0)
            return
        }
        while !isShutdown {
            let spinning = Posix.monotonicNanoseconds() &- lastWork < spinNanoseconds
            ev_run(evLoop, spinning ? cshims_EVRUN_NOWAIT : cshims_EVRUN_ONCE)
        }
    }

    private var isLoopThread: Bool { pthread_equal(pthread_self(), thread) != 0 }

    // MARK: registration

    public func register(_ fd: Int32, interest: Interest, handler: IOHandler) throws {
        let i = Int(fd)
        if i >= slots.count { slots.append(contentsOf: repeatElement(Slot(), count: i + 1 - slots.count + 64)) }
        let watcher: UnsafeMutablePointer<ev_io>
        if let existing = slots[i].watcher {
            ev_io_stop(evLoop, existing)
            watcher = existing
        } else {
            watcher = .allocate(capacity: 1)
            slots[i].watcher = watcher
        }
        slots[i].handler = handler
        start(watcher, fd: fd, interest: interest)
    }

    public func setInterest(_ fd: Int32, _ interest: Interest) throws {
        let i = Int(fd)
        guard i < slots.count, slots[i].handler != nil, let watcher = slots[i].watcher else { return }
        let events = Self.events(interest)
        // Unchanged interest is common (SocketChannel re-arms after every flush); libev would still
        // queue an epoll_ctl for a stop and start.
        if watcher.pointee.active != 0 && watcher.pointee.events & (cshims_EV_READ | cshims_EV_WRITE) == events { return }
        ev_io_stop(evLoop, watcher)
        start(watcher, fd: fd, interest: interest)
    }

    public func unregister(_ fd: Int32) {
        let i = Int(fd)
        guard i < slots.count, slots[i].handler != nil else { return }
        slots[i].handler = nil
        if let watcher = slots[i].watcher { ev_io_stop(evLoop, watcher) }
    }

    private func start(_ watcher: UnsafeMutablePointer<ev_io>, fd: Int32, interest: Interest) {
        let events = Self.events(interest)
        cshims_ev_io_init(watcher, { evLoop, watcher, revents in
            LibevLoop.owner(of: evLoop).dispatch(fd: watcher!.pointee.fd, revents: revents)
        }, fd, events)
        if events != 0 { ev_io_start(evLoop, watcher) }
    }

    private static func events(_ interest: Interest) -> Int32 {
        var events: Int32 = 0
        if interest.contains(.read) { events |= cshims_EV_READ }
        if interest.contains(.write) { events |= cshims_EV_WRITE }
        return events
    }

    @inline(__always)
    private func dispatch(fd: Int32, revents: Int32) {
        guard let handler = slots[Int(fd)].handler else { return }
        var ready: IOEvents = []
        if revents & cshims_EV_READ != 0 { ready.insert(.read) }
        if revents & cshims_EV_WRITE != 0 { ready.insert(.write) }
        if revents & cshims_EV_ERROR != 0 { ready.insert(.failure) }
        handler.handle(ready)
    }

    // MARK: batches

    /// libev's invoke hook: the pending callbacks of one wake-up, then the end-of-batch work.
    private func runBatch() {
        batchTime = Posix.monotonicNanoseconds()
        if ev_pending_count(evLoop) > 0 { lastWork = batchTime }
        ev_invoke_pending(evLoop)
        batchWork.run()
    }

    public func flushAtEndOfBatch(_ target: BatchFlushable) {
        batchWork.flushAtEndOfBatch(target)
    }

    public func deferToEndOfBatch(_ body: @escaping () -> Void) {
        batchWork.deferToEndOfBatch(body)
    }

    // MARK: timers and tasks

    @discardableResult
    public func schedule(after delay: Duration, repeating: Duration?, _ body: @escaping () -> Void) -> LoopTimer {
        let timer = LibevLoopTimer(loop: self, body: body)
        timer.start(after: delay, repeating: repeating)
        return timer
    }

    public func execute(_ body: @escaping @Sendable () -> Void) {
        let accepted = submitted.withLock { state in
            guard state.open else { return false }
            state.tasks.append(body)
            return true
        }
        // ev_async_send is libev's one thread-safe call; it writes the loop's eventfd only when no
        // wake-up is already pending.
        if accepted { ev_async_send(evLoop, wakeUp) }
    }

    private func runSubmittedTasks() {
        submitted.withLock { swap(&$0.tasks, &running) }
        for task in running where !isShutdown {
            task()
        }
        running.removeAll(keepingCapacity: true)
    }

    public func runAndWait<T, E: Error>(_ body: () throws(E) -> T) throws(E) -> T {
        if isLoopThread {
            return try body()
        }
        let result: Result<T, E>? = withoutActuallyEscaping(body) { body in
            let box = ResultBox<T, E>(body)
            let done = DispatchSemaphore(value: 0)
            execute { [self] in
                // The whole batch, its deferred work and flushes included, ends before the caller
                // goes on: it may release what those would touch.
                batchTime = Posix.monotonicNanoseconds()
                box.run()
                batchWork.run()
                done.signal()
            }
            done.wait()
            return box.result
        }
        guard let result else {
            // The loop was shut down before it could run the body.
            preconditionFailure("LibevLoop.runAndWait after shutdown")
        }
        return try result.get()
    }

    public func shutdown() {
        execute { [self] in
            guard !isShutdown else { return }
            isShutdown = true
            submitted.withLock { $0.open = false }
            for i in slots.indices {
                slots[i].handler = nil
                if let watcher = slots[i].watcher { ev_io_stop(evLoop, watcher) }
            }
            ev_async_stop(evLoop, wakeUp)
            ev_break(evLoop, cshims_EVBREAK_ALL)
        }
    }
}

/// Carries a non-escaping body and its result across to the loop thread for `runAndWait`, which
/// waits for it, so nothing is shared while both sides run. The body is dropped as soon as it ran:
/// `withoutActuallyEscaping` traps if it outlives the call, and the task holding this box may be
/// released only later.
private final class ResultBox<T, E: Error>: @unchecked Sendable {
    private var body: (() throws(E) -> T)?
    private(set) var result: Result<T, E>?

    init(_ body: @escaping () throws(E) -> T) {
        self.body = body
    }

    func run() {
        guard let body else { return }
        self.body = nil
        result = Result { () throws(E) -> T in try body() }
    }
}

/// An `ev_timer` on one libev loop. While started it holds itself (through the watcher's data
/// pointer), so a discarded handle still fires; firing a one-shot timer or cancelling breaks that.
final class LibevLoopTimer: LoopTimer {
    /// unowned(unsafe): a loop outlives its timers' callbacks (it runs them), as with `SocketChannel`.
    private unowned(unsafe) let loop: LibevLoop
    private let evLoop: OpaquePointer
    private let watcher: UnsafeMutablePointer<ev_timer>
    private let body: () -> Void
    private var isActive = false

    init(loop: LibevLoop, body: @escaping () -> Void) {
        self.loop = loop
        self.evLoop = loop.evLoop
        self.body = body
        self.watcher = .allocate(capacity: 1)
    }

    deinit {
        watcher.deallocate()
    }

    func start(after delay: Duration, repeating: Duration?) {
        let after = Double(delay.nanoseconds) / 1e9
        let interval = repeating.map { Double($0.nanoseconds) / 1e9 } ?? 0
        cshims_ev_timer_init(watcher, { _, watcher, _ in
            let timer = Unmanaged<LibevLoopTimer>.fromOpaque(watcher!.pointee.data!).takeUnretainedValue()
            timer.fire()
        }, after, interval)
        watcher.pointee.data = Unmanaged.passRetained(self).toOpaque()
        isActive = true
        ev_timer_start(evLoop, watcher)
    }

    private func fire() {
        // A timer already due in the wake-up that shut the loop down would otherwise still run.
        guard !loop.isShutdown else { return }
        // libev has already stopped a one-shot timer; the body may cancel a repeating one.
        if watcher.pointee.repeat == 0 {
            withExtendedLifetime(self) {
                cancel()
                body()
            }
        } else {
            withExtendedLifetime(self) { body() }
        }
    }

    func cancel() {
        guard isActive else { return }
        isActive = false
        ev_timer_stop(evLoop, watcher)
        Unmanaged.passUnretained(self).release()
    }
}
