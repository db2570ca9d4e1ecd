import CShims
#if canImport(Glibc)
import Glibc
#endif

/// What a `SocketChannel` tells its owner. Called on the channel's loop.
public protocol ChannelDelegate: AnyObject {
    /// A non-blocking connect finished; the channel is open.
    func channelConnected(_ channel: SocketChannel)
    /// New bytes are in `channel.input`; consume what forms whole messages, leave the rest.
    func channelRead(_ channel: SocketChannel)
    /// The peer closed its sending side. The channel stays open for output until `close()`.
    func channelInputClosed(_ channel: SocketChannel)
    /// Queued output was fully written after having been held back (below the low-water mark).
    func channelDrained(_ channel: SocketChannel)
    /// The channel is closed, by `close()` (error nil) or by a failure; no callback follows.
    func channelClosed(_ channel: SocketChannel, error: Error?)
}

extension ChannelDelegate {
    public func channelConnected(_ channel: SocketChannel) {}
    public func channelDrained(_ channel: SocketChannel) {}
}

/// One non-blocking TCP stream on one loop: input buffer, pending output, connect, close.
///
/// Contract:
/// - Writes are gathered in `output` and flushed once at the end of the loop's batch; write interest
///   is armed only when the kernel would block, and dropped as soon as the output is written.
/// - Buffers come from the loop's pool and go back when empty, so an idle channel holds none.
/// - `close()` is idempotent; after it no delegate callback other than the one `channelClosed` runs.
public final class SocketChannel: IOHandler, BatchFlushable {
    public enum State { case connecting, open, closed }

    public let fd: Int32
    /// unowned(unsafe): a loop outlives every channel registered on it (channels are closed before a
    /// loop shuts down), and a checked reference would cost an atomic operation per access.
    public unowned(unsafe) let loop: EventLoop
    /// Strong until close, which breaks the cycle with the owner.
    public var delegate: ChannelDelegate?
    public private(set) var state: State
    private var input_: IOBuffer?
    private var output_: IOBuffer?
    private var flushScheduled = false
    private var writeArmed = false
    private var readPaused = false
    private var inputClosed = false
    private var wantsDrainCallback = false
    /// Bytes `input` should be able to take in one read; raised while a large frame arrives.
    private var readSize: Int

    init(fd: Int32, loop: EventLoop, state: State) {
        self.fd = fd
        self.loop = loop
        self.state = state
        self.readSize = loop.buffers.bufferSize
    }

    /// Wraps an accepted socket and starts reading.
    public static func adopt(fd: Int32, loop: EventLoop, delegate: ChannelDelegate) throws -> SocketChannel {
        let channel = SocketChannel(fd: fd, loop: loop, state: .open)
        channel.delegate = delegate
        try? Posix.setOption(fd, level: Int32(IPPROTO_TCP), name: TCP_NODELAY, value: 1)
        do {
            try loop.register(fd, interest: .read, handler: channel)
        } catch {
            Posix.close(fd)
            throw error
        }
        return channel
    }

    /// Starts a non-blocking connect; the delegate hears `channelConnected` or `channelClosed`.
    public static func connect(to address: SocketAddress, loop: EventLoop, delegate: ChannelDelegate) throws -> SocketChannel {
        let fd = try Posix.socket(family: address.family, type: Int32(SOCK_STREAM.rawValue))
        do {
            try? Posix.setOption(fd, level: Int32(IPPROTO_TCP), name: TCP_NODELAY, value: 1)
            let result = try Posix.connect(fd, address)
            let channel = SocketChannel(fd: fd, loop: loop, state: result == .wouldBlock ? .connecting : .open)
            channel.delegate = delegate
            try loop.register(fd, interest: result == .wouldBlock ? .write : .read, handler: channel)
            if result != .wouldBlock {
                // Report on the next turn so the caller has stored the channel first.
                loop.deferToEndOfBatch { [channel] in
                    if channel.state == .open { channel.delegate?.channelConnected(channel) }
                }
            }
            return channel
        } catch {
            Posix.close(fd)
            throw error
        }
    }

    // MARK: input

    /// The received bytes not yet consumed. Only meaningful inside `channelRead`.
    public var input: IOBuffer {
        if let b = input_ { return b }
        let b = loop.buffers.acquire()
        input_ = b
        return b
    }

    /// Asks that the next reads can take at least `count` more bytes (a large frame is arriving).
    public func expectInput(atLeast count: Int) {
        readSize = max(loop.buffers.bufferSize, count)
    }

    public func pauseReading() {
        guard !readPaused, state == .open else { return }
        readPaused = true
        updateInterest()
    }

    public func resumeReading() {
        guard readPaused, state == .open else { return }
        readPaused = false
        updateInterest()
        // Bytes already buffered would otherwise wait for the next packet.
        if let input_, !input_.isEmpty {
            // Strong: it runs within this batch, and a weak reference would slow every later retain.
            loop.deferToEndOfBatch { [self] in
                guard self.state == .open, !self.readPaused else { return }
                self.delegate?.channelRead(self)
                self.releaseEmptyInput()
            }
        }
    }

    public var isReadPaused: Bool { readPaused }

    // MARK: output

    /// Where to append output; it is flushed at the end of the batch.
    public var output: IOBuffer {
        if !flushScheduled && !writeArmed && state != .closed {
            flushScheduled = true
            loop.flushAtEndOfBatch(self)
        }
        if let b = output_ { return b }
        let b = loop.buffers.acquire()
        output_ = b
        return b
    }

    public func send(_ bytes: UnsafeRawBufferPointer) {
        output.append(bytes)
    }

    public var pendingOutputBytes: Int { output_?.readableBytes ?? 0 }

    /// Asks for `channelDrained` once the pending output is written.
    public func notifyWhenDrained() {
        wantsDrainCallback = true
    }

    public func flushAtEndOfBatch() {
        flushScheduled = false
        guard state == .open, !writeArmed else { return }
        flush()
    }

    private func flush() {
        guard let out = output_ else { return }
        while !out.isEmpty {
            let r: IOResult<Int>
            do {
                r = try Posix.write(fd, out.readable.baseAddress!, out.readableBytes)
            } catch {
                close(error: error)
                return
            }
            switch r {
            case .processed(let n):
                out.consume(n)
            case .wouldBlock:
                if !writeArmed {
                    writeArmed = true
                    updateInterest()
                }
                return
            }
        }
        output_ = nil
        loop.buffers.release(out)
        if writeArmed {
            writeArmed = false
            updateInterest()
        }
        if wantsDrainCallback {
            wantsDrainCallback = false
            delegate?.channelDrained(self)
        }
    }

    // MARK: events

    public func handle(_ events: IOEvents) {
        switch state {
        case .connecting:
            finishConnect()
        case .open:
            if events.contains(.write) && writeArmed {
                flush()
                guard state == .open else { return }
            }
            // A failure is reported even with read interest off; the read tells EOF from error.
            if !events.isDisjoint(with: [.read, .failure]) {
                readOnce()
            }
        case .closed:
            return
        }
    }

    private func finishConnect() {
        let err: Int32
        do {
            err = try Posix.socketError(fd)
        } catch {
            close(error: error)
            return
        }
        guard err == 0 else {
            close(error: SystemError("connect", errno: err))
            return
        }
        state = .open
        updateInterest()
        delegate?.channelConnected(self)
        // Output queued while connecting could not be flushed then.
        if state == .open, output_ != nil { flush() }
    }

    private func readOnce() {
        if inputClosed {
            // Only a failure brings us here after EOF: the peer is fully gone.
            close(error: nil)
            return
        }
        let buffer = input
        buffer.reserve(readSize)
        let r: IOResult<Int>
        do {
            r = try Posix.read(fd, buffer.writePointer, buffer.writableSpace)
        } catch {
            releaseEmptyInput()
            close(error: error)
            return
        }
        switch r {
        case .wouldBlock:
            releaseEmptyInput()
        case .processed(0):
            releaseEmptyInput()
            inputClosed = true
            updateInterest()
            delegate?.channelInputClosed(self)
        case .processed(let n):
            buffer.didWrite(n)
            delegate?.channelRead(self)
            releaseEmptyInput()
        }
    }

    private func releaseEmptyInput() {
        guard let b = input_, b.isEmpty, state != .closed else { return }
        input_ = nil
        readSize = loop.buffers.bufferSize
        loop.buffers.release(b)
    }

    private func updateInterest() {
        guard state != .closed else { return }
        var interest: Interest = []
        if state == .connecting { interest.insert(.write) }
        if state == .open && !readPaused && !inputClosed { interest.insert(.read) }
        if writeArmed { interest.insert(.write) }
        do {
            try loop.setInterest(fd, interest)
        } catch {
            close(error: error)
        }
    }

    // MARK: close

    public func close() {
        close(error: nil)
    }

    public func close(error: Error?) {
        guard state != .closed else { return }
        state = .closed
        loop.unregister(fd)
        Posix.close(fd)
        // Dropped, not pooled: the delegate may be closing us from inside channelRead while it still
        // holds `input`, and a pooled buffer would be handed to another connection under it.
        input_ = nil
        output_ = nil
        let d = delegate
        delegate = nil
        d?.channelClosed(self, error: error)
    }
}
