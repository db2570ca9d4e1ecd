#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import Foundation
import Testing

// @testable only to break the active segment's descriptor and so fail an append for real.
@testable import DurableLog
import EventLoop
import TestSupport

/// Calls `readNext` `n` times (nil once everything held is read ahead).
private func readNext(_ n: Int, from log: SegmentLog) throws -> [[UInt8]?] {
    try (0 ..< n).map { _ in try log.readNext() }
}

@Test func readAheadConsumesNothingAndPopFirstStillTakesTheHead() throws {
    try withTemporaryDirectory { dir in
        let log = try SegmentLog(directory: dir, maxBytes: 1 << 20, fsync: .no)
        defer { log.close() }
        #expect(try log.readNext() == nil && log.readAhead == 0)
        try appendAll(log, 0 ..< 5)
        #expect(try readNext(3, from: log) == (0 ..< 3).map { payload($0) })
        #expect(log.readAhead == 3 && log.count == 5 && log.removed == 0)
        #expect(try log.first() == payload(0))  // the head, though read ahead
        #expect(try log.popFirst() == payload(0))
        #expect(log.readAhead == 2 && log.count == 4)
        #expect(try log.readNext() == payload(3))
        #expect(try log.popFirst() == payload(1) && log.popFirst() == payload(2))
        #expect(log.readAhead == 1)
        #expect(try readNext(2, from: log) == [payload(4), nil])
        #expect(log.readAhead == 2 && log.count == 2)
        // Popping past the read-ahead: it stays at 0 and the next read starts at the new head.
        #expect(try log.popFirst() == payload(3) && log.popFirst() == payload(4))
        #expect(log.readAhead == 0 && log.isEmpty)
        try appendAll(log, 5 ..< 7)
        #expect(try log.popFirst() == payload(5))
        #expect(log.readAhead == 0)
        #expect(try readNext(2, from: log) == [payload(6), nil])
    }
}

@Test func appendsAfterReadAheadComeOutInOrder() throws {
    try withTemporaryDirectory { dir in
        let log = try SegmentLog(directory: dir, maxBytes: 1 << 20, segmentBytes: 4096, fsync: .everysec)
        defer { log.close() }
        try appendAll(log, 0 ..< 2)
        #expect(try readNext(3, from: log) == [payload(0), payload(1), nil])
        try appendAll(log, 2 ..< 3)
        #expect(try log.readNext() == payload(2))
        #expect(try log.popFirst() == payload(0))
        try appendAll(log, 3 ..< 5)
        #expect(try readNext(3, from: log) == [payload(3), payload(4), nil])
        #expect(log.readAhead == 4 && log.count == 4)
        #expect(try drain(log) == (1 ..< 5).map { payload($0) })
        #expect(log.readAhead == 0)
    }
}

@Test func rewindStartsTheReadAheadAtTheHeadAgain() throws {
    try withTemporaryDirectory { dir in
        let log = try SegmentLog(directory: dir, maxBytes: 1 << 20, segmentBytes: 300, fsync: .no)
        defer { log.close() }
        try appendAll(log, 0 ..< 8)
        #expect(try readNext(5, from: log) == (0 ..< 5).map { payload($0) })
        log.rewindReadAhead()
        #expect(log.readAhead == 0 && log.count == 8)
        #expect(try readNext(2, from: log) == [payload(0), payload(1)])
        #expect(try log.popFirst() == payload(0))
        #expect(try log.readNext() == payload(2))
        log.rewindReadAhead()
        #expect(try log.readNext() == payload(1))  // the first held record, not the first ever
        #expect(try log.first() == payload(1))
        log.rewindReadAhead()
        #expect(try readNext(8, from: log) == (1 ..< 8).map { payload($0) } + [nil])
    }
}

/// Files under `dir` this process still holds open though they were deleted (Linux's /proc; empty
/// elsewhere): a deleted segment must not stay open in either cursor.
private func deletedButOpen(in dir: String) -> [String] {
    let fds = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd")) ?? []
    return fds.compactMap { try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/fd/" + $0) }
        .filter { $0.hasPrefix(dir + "/") && $0.hasSuffix("(deleted)") }
}

/// A replayer's pattern over segments holding a few records each: up to 64 read ahead, acknowledged
/// (popped) in bursts that delete the segments behind the head, appends arriving meanwhile.
@Test func readAheadAcrossRollsAndDeletedSegments() throws {
    try withTemporaryDirectory { dir in
        let log = try SegmentLog(directory: dir, maxBytes: 1 << 20, segmentBytes: 200, fsync: .no)
        defer { log.close() }
        var appended = 0, sent = 0, acknowledged = 0, maxSegments = 0, minSegments = Int.max
        for round in 0 ..< 200 {
            for _ in 0 ..< round % 9 + (round < 100 ? 6 : 0) {  // fills up, then drains
                #expect(try log.append(payload(appended)))
                appended += 1
            }
            maxSegments = max(maxSegments, try segmentFiles(dir).count)
            while log.readAhead < 64, let record = try log.readNext() {
                if record != payload(sent) { Issue.record("read ahead \(sent) out of order"); return }
                sent += 1
            }
            #expect(sent == acknowledged + log.readAhead && log.readAhead == min(64, log.count))
            if round % 17 == 0 { #expect(try log.first() == (log.isEmpty ? nil : payload(acknowledged))) }
            for _ in 0 ..< (round % 4) * 6 where acknowledged < sent {
                if try log.popFirst() != payload(acknowledged) { Issue.record("popped \(acknowledged) out of order"); return }
                acknowledged += 1
            }
            minSegments = min(minSegments, try segmentFiles(dir).count)
            let leaked = deletedButOpen(in: dir)
            if !leaked.isEmpty { Issue.record("deleted segments still open: \(leaked)"); return }
            if round % 50 == 49 {
                // A connection failure: everything not acknowledged goes out again.
                log.rewindReadAhead()
                sent = acknowledged
            }
        }
        #expect(maxSegments > 40 && minSegments <= 1)  // the read-ahead crossed many segments
        #expect(try drain(log) == (acknowledged ..< appended).map { payload($0) })
        #expect(try listing(dir) == ["head"])
    }
}

/// The crash between sending and acknowledging: records read ahead but not popped are all there
/// after reopening, from the first unconsumed one, and the read-ahead starts again at 0.
@Test(arguments: FsyncPolicy.allCases)
func reopeningKeepsWhatWasReadAheadButNotPopped(_ policy: FsyncPolicy) throws {
    try withTemporaryDirectory { dir in
        var log = try SegmentLog(directory: dir, maxBytes: 1 << 20, segmentBytes: 500, fsync: policy)
        try appendAll(log, 0 ..< 40)
        #expect(try readNext(30, from: log) == (0 ..< 30).map { payload($0) })
        for i in 0 ..< 12 { #expect(try log.popFirst() == payload(i)) }
        #expect(log.readAhead == 18)
        log.close()

        log = try reopening { try SegmentLog(directory: dir, maxBytes: 1 << 20, segmentBytes: 500, fsync: policy) }
        defer { log.close() }
        #expect(log.recovery.isClean && log.readAhead == 0 && log.count == 28)
        #expect(try log.readNext() == payload(12))
        #expect(try log.popFirst() == payload(12))
        #expect(try log.popFirst() == payload(13) && log.readAhead == 0)
        #expect(try readNext(27, from: log) == (14 ..< 40).map { payload($0) } + [nil])
    }
}

@Test func readNextOnAShrunkSegmentThrowsAndKeepsTheReadAhead() throws {
    try withTemporaryDirectory { dir in
        let log = try SegmentLog(directory: dir, maxBytes: 1 << 20, fsync: .no)
        defer { log.close() }
        try appendAll(log, 0 ..< 4, size: 100)
        try truncateFile(dir + "/" + segmentName(1), by: 150)  // the last two records damaged
        #expect(try readNext(2, from: log) == [payload(0, size: 100), payload(1, size: 100)])
        #expect(throws: DurableLogError.self) { try log.readNext() }
        #expect(log.readAhead == 2)
        #expect(throws: DurableLogError.self) { try log.readNext() }
    }
}

/// Fails one append for real: the active segment's descriptor is swapped for a read-only one, so
/// the write fails with EBADF and the log must put later appends in a new segment.
private func failNextAppend(_ log: SegmentLog, _ dir: String) throws {
    let segment = try #require(try segmentFiles(dir).last)
    let readOnly = open(dir + "/" + segment, O_RDONLY)
    #expect(readOnly >= 0)
    #expect(dup2(readOnly, log.writeFD) == log.writeFD)
    close(readOnly)
    #expect(throws: SystemError.self) { try log.append(payload(999)) }
}

@Test func readAheadAfterAFailedAppend() throws {
    try withTemporaryDirectory { dir in
        let log = try SegmentLog(directory: dir, maxBytes: 1 << 20, segmentBytes: 4096, fsync: .no)
        defer { log.close() }
        try appendAll(log, 0 ..< 3)
        #expect(try readNext(4, from: log) == (0 ..< 3).map { payload($0) } + [nil])
        try failNextAppend(log, dir)
        #expect(log.count == 3 && log.readAhead == 3)
        #expect(try log.readNext() == nil)
        try appendAll(log, 3 ..< 5)  // into segment 2: the failed one is not reused
        #expect(try segmentFiles(dir) == [segmentName(1), segmentName(2)])
        #expect(try readNext(3, from: log) == [payload(3), payload(4), nil])
        #expect(try log.popFirst() == payload(0))
        log.rewindReadAhead()
        #expect(try readNext(5, from: log) == (1 ..< 5).map { payload($0) } + [nil])

        // Failing again with everything read ahead in the new segment, then failing the roll that
        // follows (its file is in the way), then popping across the roll.
        try failNextAppend(log, dir)
        let inTheWay = dir + "/" + segmentName(3)
        #expect(FileManager.default.createFile(atPath: inTheWay, contents: nil))
        #expect(throws: SystemError.self) { try log.append(payload(998)) }
        #expect(log.readAhead == 4 && log.count == 4)
        try FileManager.default.removeItem(atPath: inTheWay)
        try appendAll(log, 5 ..< 6)
        #expect(try segmentFiles(dir) == [segmentName(1), segmentName(2), segmentName(3)])
        #expect(try log.readNext() == payload(5))
        #expect(try drain(log) == (1 ..< 6).map { payload($0) })
        #expect(log.readAhead == 0 && log.isEmpty)
    }
}

@Test func groupCommitLeavesTheFlushToSync() throws {
    try withTemporaryDirectory { dir in
        var log = try SegmentLog(directory: dir, maxBytes: 1 << 20, segmentBytes: 300, fsync: .always, groupCommit: true)
        #expect(log.groupCommit && !log.needsSync)
        try appendAll(log, 0 ..< 1)  // rolls the first segment: the directory and the segment are dirty
        #expect(log.needsSync)
        try log.sync()
        #expect(!log.needsSync)
        try appendAll(log, 1 ..< 10)
        #expect(log.needsSync)
        try log.sync()
        #expect(!log.needsSync)
        #expect(try log.popFirst() == payload(0))
        #expect(log.needsSync)  // the head
        try log.sync()
        #expect(!log.needsSync)
        log.close()

        log = try reopening { try SegmentLog(directory: dir, maxBytes: 1 << 20, segmentBytes: 300, fsync: .always, groupCommit: true) }
        defer { log.close() }
        #expect(log.recovery.isClean && !log.needsSync)
        #expect(try drain(log) == (1 ..< 10).map { payload($0) })
    }
}

@Test func withoutGroupCommitAlwaysFlushesEveryCall() throws {
    try withTemporaryDirectory { dir in
        let log = try SegmentLog(directory: dir, maxBytes: 1 << 20, segmentBytes: 300, fsync: .always)
        defer { log.close() }
        #expect(!log.groupCommit)
        for i in 0 ..< 10 {
            try appendAll(log, i ..< i + 1)  // several segments rolled on the way
            #expect(!log.needsSync)
        }
        #expect(try log.popFirst() == payload(0))
        #expect(!log.needsSync)
        // Group commit means nothing under the other policies: they were deferring flushes already.
        let other = try SegmentLog(directory: dir + "/everysec", maxBytes: 1 << 20, fsync: .everysec, groupCommit: true)
        defer { other.close() }
        try appendAll(other, 0 ..< 1)
        #expect(other.needsSync)
        try other.syncIfDue(nowMillis: 0)
        #expect(!other.needsSync)
    }
}

/// Random sequences of append / readNext / popFirst / first / rewind (and reopen, sync) against a
/// plain array model: every answer and every count must match it.
@Test(arguments: [1, 2, 3, 4, 5, 6] as [UInt64])
func readAheadMatchesAnArrayModel(_ seed: UInt64) throws {
    try withTemporaryDirectory { dir in
        var rng = SplitMix(state: seed)
        let maxBytes = 6_000
        let segmentBytes = [150, 400, 4096][Int(seed % 3)]
        let policy = FsyncPolicy.allCases[Int(seed % 3)]
        let groupCommit = seed % 2 == 0
        func reopen() throws -> SegmentLog {
            try reopening { try SegmentLog(directory: dir, maxBytes: maxBytes, segmentBytes: segmentBytes, fsync: policy, groupCommit: groupCommit) }
        }
        var log = try reopen()
        defer { log.close() }
        var held: [[UInt8]] = [], readAhead = 0, next = 0, mismatches = 0
        func check(_ ok: Bool, _ step: Int, _ what: String) {
            if !ok && mismatches < 5 { Issue.record("seed \(seed), step \(step): \(what)") }
            if !ok { mismatches += 1 }
        }
        for step in 0 ..< 3_000 {
            // Phases favour growing or draining, so the log both fills up and empties.
            let growing = (step / 300) % 2 == 0
            switch Int.random(in: 0 ..< 100, using: &rng) {
            case 0 ..< (growing ? 40 : 20):
                let record = payload(next, size: Int.random(in: 0 ... 120, using: &rng))
                next += 1
                let fits = record.count <= maxBytes - held.reduce(0) { $0 + $1.count }
                check(try log.append(record) == fits, step, "append")
                if fits { held.append(record) }
            case 0 ..< 70:
                let expected = readAhead < held.count ? held[readAhead] : nil
                if expected != nil { readAhead += 1 }
                check(try log.readNext() == expected, step, "readNext")
            case 0 ..< (growing ? 88 : 95):
                let expected = held.first
                if expected != nil { held.removeFirst() }
                readAhead = max(0, readAhead - 1)
                check(try log.popFirst() == expected, step, "popFirst")
            case 0 ..< 97:
                check(try log.first() == held.first, step, "first")
            case 0 ..< 99:
                log.rewindReadAhead()
                readAhead = 0
            default:
                if step % 2 == 0 { try log.sync() }
                log.close()
                log = try reopen()
                readAhead = 0
                check(log.recovery.isClean, step, "recovery \(log.recovery.corruptions)")
            }
            check(log.count == held.count && log.bytes == held.reduce(0) { $0 + $1.count }, step, "count/bytes")
            check(log.readAhead == readAhead, step, "readAhead \(log.readAhead), model \(readAhead)")
        }
        #expect(mismatches == 0)
        check(try drain(log) == held, -1, "drain")
        #expect(mismatches == 0)
    }
}
