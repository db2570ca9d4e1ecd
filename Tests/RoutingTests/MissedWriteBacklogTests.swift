import Testing

import Routing

private func frame(_ n: Int, size: Int = 4) -> [UInt8] {
    (0 ..< size).map { UInt8(truncatingIfNeeded: n &+ $0) }
}

/// Appends each frame in turn; returns what `append` answered for each.
private func append(_ frames: [[UInt8]], to backlog: inout MissedWriteBacklog) -> [Bool] {
    frames.map { backlog.append($0) }
}

/// Pops `count` frames (nil once empty).
private func pop(_ count: Int, from backlog: inout MissedWriteBacklog) -> [[UInt8]?] {
    (0 ..< count).map { _ in backlog.popFirst() }
}

@Test func startsEmpty() {
    var b = MissedWriteBacklog(maxBytes: 100, maxEntries: 10)
    #expect(b.isEmpty && b.count == 0 && b.bytes == 0 && b.first == nil)
    #expect(b.appended == 0 && b.dropped == 0 && b.removed == 0)
    #expect(pop(1, from: &b) == [nil])
    #expect(b.removed == 0)
}

@Test func firstInFirstOut() {
    var b = MissedWriteBacklog(maxBytes: 1_000, maxEntries: 10)
    #expect(append((0 ..< 5).map { frame($0) }, to: &b) == Array(repeating: true, count: 5))
    #expect(b.count == 5 && b.bytes == 20 && !b.isEmpty)
    #expect(b.first == frame(0))
    #expect(b.count == 5)   // peeking removes nothing
    #expect(pop(6, from: &b) == (0 ..< 5).map { frame($0) } + [nil])
    #expect(b.isEmpty && b.bytes == 0 && b.appended == 5 && b.removed == 5)
}

@Test func theEntryBound() {
    var b = MissedWriteBacklog(maxBytes: 1_000, maxEntries: 2)
    #expect(append([frame(1), frame(2), frame(3)], to: &b) == [true, true, false])
    #expect(b.count == 2 && b.appended == 2 && b.dropped == 1)
    #expect(pop(1, from: &b) == [frame(1)])
    #expect(append([frame(4)], to: &b) == [true])
    #expect(pop(3, from: &b) == [frame(2), frame(4), nil])   // the dropped one is gone
    #expect(b.dropped == 1 && b.removed == 3)
}

@Test func theByteBoundIsInclusive() {
    var b = MissedWriteBacklog(maxBytes: 10, maxEntries: 100)
    // 4 + 6 is exactly the bound; one more byte is refused; an empty frame still fits.
    #expect(append([frame(0, size: 4), frame(1, size: 6), frame(2, size: 1), []], to: &b) == [true, true, false, true])
    #expect(b.bytes == 10 && b.count == 3 && b.dropped == 1 && b.appended == 3)
    #expect(pop(1, from: &b) == [frame(0, size: 4)])
    #expect(b.bytes == 6)
    #expect(append([frame(3, size: 5), frame(4, size: 4)], to: &b) == [false, true])
    #expect(b.bytes == 10 && b.dropped == 2)
}

@Test func aFrameLargerThanTheBoundIsAlwaysDropped() {
    var b = MissedWriteBacklog(maxBytes: 10, maxEntries: 100)
    #expect(append([frame(0, size: 11)], to: &b) == [false])
    #expect(b.isEmpty && b.dropped == 1 && b.appended == 0)
}

@Test func zeroBoundsDropEverything() {
    var noEntries = MissedWriteBacklog(maxBytes: 100, maxEntries: 0)
    #expect(append([frame(0), []], to: &noEntries) == [false, false])
    var noBytes = MissedWriteBacklog(maxBytes: 0, maxEntries: 100)
    #expect(append([frame(0), []], to: &noBytes) == [false, true])
    #expect(noEntries.dropped == 2 && noBytes.dropped == 1 && noBytes.count == 1)
}

@Test func longInterleavedRunKeepsOrderAndCounters() {
    // Exercises the compaction of popped slots: the queue does not drain for a long time.
    var b = MissedWriteBacklog(maxBytes: .max, maxEntries: .max)
    var nextIn = 0
    var nextOut = 0
    var mismatches = 0
    for round in 0 ..< 2_000 {
        for _ in 0 ..< 3 {
            if !b.append(frame(nextIn, size: 1 + nextIn % 5)) { mismatches += 1 }
            nextIn += 1
        }
        for _ in 0 ..< (round % 2 == 0 ? 1 : 4) where !b.isEmpty {
            if b.popFirst() != frame(nextOut, size: 1 + nextOut % 5) { mismatches += 1 }
            nextOut += 1
        }
        if b.count != nextIn - nextOut { mismatches += 1 }
    }
    #expect(nextIn - nextOut == 1_000)   // it really did hold many frames at the end
    #expect(b.bytes == (nextOut ..< nextIn).reduce(0) { $0 + 1 + $1 % 5 })
    while let f = b.popFirst() {
        if f != frame(nextOut, size: 1 + nextOut % 5) { mismatches += 1 }
        nextOut += 1
    }
    #expect(mismatches == 0)
    #expect(nextOut == nextIn && b.appended == UInt64(nextIn) && b.removed == UInt64(nextIn) && b.bytes == 0)
}
