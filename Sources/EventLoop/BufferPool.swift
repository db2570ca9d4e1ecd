/// A loop's free list of I/O buffers of one standard size.
///
/// Contract: connections take a buffer when they have bytes to hold and give it back when it is
/// empty, so an idle connection holds no buffer. A buffer that grew beyond the standard size is
/// freed instead of kept: that is the shrink policy after a large value. Loop-confined.
public final class BufferPool {
    public let bufferSize: Int
    public let maxPooled: Int
    private var free: [IOBuffer] = []

    public init(bufferSize: Int = 16 * 1024, maxPooled: Int = 256) {
        self.bufferSize = bufferSize
        self.maxPooled = maxPooled
        free.reserveCapacity(maxPooled)
    }

    @inline(__always)
    public func acquire() -> IOBuffer {
        free.popLast() ?? IOBuffer(capacity: bufferSize)
    }

    @inline(__always)
    public func release(_ buffer: IOBuffer) {
        guard buffer.capacity == bufferSize, free.count < maxPooled else { return }
        buffer.clear()
        free.append(buffer)
    }

    public var pooledCount: Int { free.count }
}
