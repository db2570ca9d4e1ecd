import Testing

import Routing
import TestSupport

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

/// Calls `readNext` `count` times (nil once everything held is read ahead).
private func readNext(_ count: Int, from backlog: inout MissedWriteBacklog) -> [[UInt8]?] {
    (0 ..< count).map { _ in backlog.readNext() }
}

@Test func readAheadRemovesNothingAndPopFirstStillTakesTheFront() {
    var b = MissedWriteBacklog(maxBytes: 1_000, maxEntries: 10)
    #expect(readNext(1, from: &b) == [nil] && b.readAhead == 0)
    #expect(append((0 ..< 5).map { frame($0) }, to: &b) == Array(repeating: true, count: 5))
    #expect(readNext(3, from: &b) == (0 ..< 3).map { frame($0) })
    #expect(b.readAhead == 3 && b.count == 5 && b.removed == 0 && b.bytes == 20)
    #expect(b.first == frame(0))   // the front, though read ahead
    #expect(pop(1, from: &b) == [frame(0)])
    #expect(b.readAhead == 2 && b.count == 4)
    #expect(readNext(1, from: &b) == [frame(3)])
    #expect(pop(2, from: &b) == [frame(1), frame(2)])
    #expect(b.readAhead == 1)
    #expect(readNext(2, from: &b) == [frame(4), nil])
    #expect(b.readAhead == 2 && b.count == 2)
    // Popping past the read-ahead: it stays at 0 and the next read starts at the new front.
    #expect(pop(3, from: &b) == [frame(3), frame(4), nil])
    #expect(b.readAhead == 0 && b.isEmpty)
    #expect(append([frame(5), frame(6)], to: &b) == [true, true])
    #expect(pop(1, from: &b) == [frame(5)])
    #expect(readNext(2, from: &b) == [frame(6), nil])
}

@Test func appendsAfterReadAheadComeOutInOrder() {
    var b = MissedWriteBacklog(maxBytes: 1_000, maxEntries: 10)
    #expect(append([frame(0), frame(1)], to: &b) == [true, true])
    #expect(readNext(3, from: &b) == [frame(0), frame(1), nil])
    #expect(append([frame(2)], to: &b) == [true])
    #expect(readNext(1, from: &b) == [frame(2)])
    #expect(pop(1, from: &b) == [frame(0)])
    #expect(append([frame(3), frame(4)], to: &b) == [true, true])
    #expect(readNext(3, from: &b) == [frame(3), frame(4), nil])
    #expect(b.readAhead == 4 && b.count == 4)
    #expect(pop(5, from: &b) == (1 ..< 5).map { frame($0) } + [nil])
    #expect(b.readAhead == 0)
}

@Test func rewindStartsTheReadAheadAtTheFrontAgain() {
    var b = MissedWriteBacklog(maxBytes: 1_000, maxEntries: 10)
    _ = append((0 ..< 8).map { frame($0) }, to: &b)
    #expect(readNext(5, from: &b) == (0 ..< 5).map { frame($0) })
    b.rewindReadAhead()
    #expect(b.readAhead == 0 && b.count == 8)
    #expect(readNext(2, from: &b) == [frame(0), frame(1)])
    #expect(pop(1, from: &b) == [frame(0)])
    #expect(readNext(1, from: &b) == [frame(2)])
    b.rewindReadAhead()
    #expect(readNext(1, from: &b) == [frame(1)])   // the first held frame, not the first ever
    b.rewindReadAhead()
    #expect(readNext(8, from: &b) == (1 ..< 8).map { frame($0) } + [nil])
}

/// Read-ahead across the compaction of popped slots: a window of 64 ahead of the front, acknowledged
/// in bursts, over a queue that does not drain for a long time.
@Test func readAheadSurvivesCompaction() {
    var b = MissedWriteBacklog(maxBytes: .max, maxEntries: .max)
    var appended = 0, sent = 0, acknowledged = 0, mismatches = 0
    for round in 0 ..< 1_000 {
        for _ in 0 ..< 3 {
            _ = b.append(frame(appended, size: 1 + appended % 5))
            appended += 1
        }
        while b.readAhead < 64, let f = b.readNext() {
            if f != frame(sent, size: 1 + sent % 5) { mismatches += 1 }
            sent += 1
        }
        for _ in 0 ..< (round % 2 == 0 ? 1 : 4) where acknowledged < sent {
            if b.popFirst() != frame(acknowledged, size: 1 + acknowledged % 5) { mismatches += 1 }
            acknowledged += 1
        }
        if round % 97 == 96 {
            b.rewindReadAhead()
            sent = acknowledged
        }
        if b.readAhead != sent - acknowledged || b.count != appended - acknowledged { mismatches += 1 }
    }
    #expect(appended - acknowledged > 200)   // it held many frames: compaction happened meanwhile
    #expect(mismatches == 0)
}

/// Random sequences of append / readNext / popFirst / first / rewind against a plain array model
/// (the same model `SegmentLog`'s test in DurableLogTests follows): every answer and count must match.
@Test(arguments: [1, 2, 3, 4, 5, 6] as [UInt64])
func readAheadMatchesAnArrayModel(_ seed: UInt64) {
    var rng = SplitMix(state: seed)
    let maxBytes = 4_000, maxEntries = 100
    var b = MissedWriteBacklog(maxBytes: maxBytes, maxEntries: maxEntries)
    var held: [[UInt8]] = [], readAhead = 0, next = 0, mismatches = 0
    func check(_ ok: Bool, _ step: Int, _ what: String) {
        if !ok && mismatches < 5 { Issue.record("seed \(seed), step \(step): \(what)") }
        if !ok { mismatches += 1 }
    }
    for step in 0 ..< 20_000 {
        // Phases favour growing or draining, so the backlog both fills up and empties.
        let growing = (step / 500) % 2 == 0
        switch Int.random(in: 0 ..< 100, using: &rng) {
        case 0 ..< (growing ? 40 : 20):
            let f = frame(next, size: Int.random(in: 0 ... 80, using: &rng))
            next += 1
            let fits = held.count < maxEntries && f.count <= maxBytes - held.reduce(0) { $0 + $1.count }
            check(b.append(f) == fits, step, "append")
            if fits { held.append(f) }
        case 0 ..< 70:
            let expected = readAhead < held.count ? held[readAhead] : nil
            if expected != nil { readAhead += 1 }
            check(b.readNext() == expected, step, "readNext")
        case 0 ..< (growing ? 88 : 95):
            let expected = held.first
            if expected != nil { held.removeFirst() }
            readAhead = max(0, readAhead - 1)
            check(b.popFirst() == expected, step, "popFirst")
        case 0 ..< 98:
            check(b.first == held.first, step, "first")
        default:
            b.rewindReadAhead()
            readAhead = 0
        }
        check(b.count == held.count && b.bytes == held.reduce(0) { $0 + $1.count }, step, "count/bytes")
        check(b.readAhead == readAhead, step, "readAhead \(b.readAhead), model \(readAhead)")
    }
    #expect(mismatches == 0)
    check(pop(held.count + 1, from: &b) == held + [nil], -1, "drain")
    #expect(mismatches == 0)
}
