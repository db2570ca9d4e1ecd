import Foundation
import Testing

import DurableLog
import EventLoop

@Test func appendAndPopKeepOrderAcrossManySegmentRolls() throws {
    try withTemporaryDirectory { dir in
        let log = try SegmentLog(directory: dir, maxBytes: 1 << 20, segmentBytes: 1024, fsync: .no)
        defer { log.close() }
        var next = 0, expected = 0, heldBytes = 0, maxSegments = 0
        // Bursts of appends and pops, so reading and writing meet in the same segment and apart.
        for round in 0 ..< 60 {
            for _ in 0 ..< (round % 7) * 9 + 5 {
                #expect(try log.append(payload(next)))
                heldBytes += payload(next).count
                next += 1
            }
            maxSegments = max(maxSegments, try segmentFiles(dir).count)
            for _ in 0 ..< (round % 5) * 11 + 3 where expected < next {
                if expected % 3 == 0 { #expect(try log.first() == payload(expected)) }
                #expect(try log.popFirst() == payload(expected))
                heldBytes -= payload(expected).count
                expected += 1
            }
            #expect(log.count == next - expected && log.bytes == heldBytes)
        }
        #expect(try drain(log) == (expected ..< next).map { payload($0) })
        #expect(log.isEmpty && log.bytes == 0)
        #expect(try log.first() == nil && log.popFirst() == nil)
        #expect(maxSegments > 10)
        #expect(log.appended == UInt64(next) && log.removed == UInt64(next) && log.dropped == 0)
    }
}

@Test func aRecordLargerThanASegmentGetsASegmentOfItsOwn() throws {
    try withTemporaryDirectory { dir in
        let log = try SegmentLog(directory: dir, maxBytes: 1 << 20, segmentBytes: 256, fsync: .no)
        defer { log.close() }
        try appendAll(log, 0 ..< 1, size: 10)
        try appendAll(log, 1 ..< 2, size: 5000)
        try appendAll(log, 2 ..< 3, size: 10)
        #expect(try segmentFiles(dir) == [segmentName(1), segmentName(2), segmentName(3)])
        #expect(try drain(log) == [payload(0, size: 10), payload(1, size: 5000), payload(2, size: 10)])
    }
}

@Test func refusalWritesNothingAndIsCounted() throws {
    try withTemporaryDirectory { dir in
        let log = try SegmentLog(directory: dir, maxBytes: 100, segmentBytes: 4096, fsync: .always)
        defer { log.close() }
        #expect(try log.append(payload(0, size: 60)))
        let onDisk = try segmentBytesOnDisk(dir)
        #expect(try !log.append(payload(1, size: 41)))
        #expect(try segmentBytesOnDisk(dir) == onDisk)
        #expect(log.count == 1 && log.bytes == 60 && log.dropped == 1 && log.appended == 1)
        #expect(try log.append(payload(2, size: 40)))  // exactly up to the bound
        #expect(try !log.append(payload(3, size: 1)))
        #expect(log.dropped == 2 && log.bytes == 100)
        _ = try log.popFirst()
        #expect(try log.append(payload(4, size: 60)))
        #expect(try drain(log) == [payload(2, size: 40), payload(4, size: 60)])
    }
    try withTemporaryDirectory { dir in
        let log = try SegmentLog(directory: dir, maxBytes: 10, segmentBytes: 4096, fsync: .no)
        defer { log.close() }
        #expect(try !log.append(payload(0, size: 11)))  // larger than the whole bound
        #expect(try segmentFiles(dir).isEmpty && log.isEmpty && log.dropped == 1)
    }
}

@Test(arguments: FsyncPolicy.allCases)
func reopenAfterCloseResumesExactly(_ policy: FsyncPolicy) throws {
    try withTemporaryDirectory { dir in
        var log = try SegmentLog(directory: dir, maxBytes: 1 << 20, segmentBytes: 2000, fsync: policy)
        try appendAll(log, 0 ..< 300)
        log.close()

        log = try SegmentLog(directory: dir, maxBytes: 1 << 20, segmentBytes: 2000, fsync: policy)
        #expect(log.recovery.isClean && log.recovery.recordsRecovered == 300)
        #expect(log.count == 300 && log.bytes == (0 ..< 300).reduce(0) { $0 + payload($1).count })
        for i in 0 ..< 123 { #expect(try log.popFirst() == payload(i)) }
        #expect(try log.first() == payload(123))  // peeked, not consumed
        log.close()

        log = try SegmentLog(directory: dir, maxBytes: 1 << 20, segmentBytes: 2000, fsync: policy)
        #expect(log.recovery.isClean && log.count == 177)
        #expect(log.recovery.bytesRecovered == (123 ..< 300).reduce(0) { $0 + payload($1).count })
        try appendAll(log, 300 ..< 350)
        log.close()

        log = try SegmentLog(directory: dir, maxBytes: 1 << 20, segmentBytes: 2000, fsync: policy)
        defer { log.close() }
        #expect(try drain(log) == (123 ..< 350).map { payload($0) })
    }
}

@Test func consumedSegmentsAreDeleted() throws {
    try withTemporaryDirectory { dir in
        // 100-byte records (16 header + 84 payload), 10 to a 1000-byte segment.
        var log = try SegmentLog(directory: dir, maxBytes: 1 << 20, segmentBytes: 1000, fsync: .everysec)
        try appendAll(log, 0 ..< 35, size: 84)
        #expect(try segmentFiles(dir) == (1 ... 4).map(segmentName))
        for _ in 0 ..< 10 { _ = try log.popFirst() }
        #expect(try segmentFiles(dir) == (2 ... 4).map(segmentName))
        for _ in 0 ..< 9 { _ = try log.popFirst() }
        #expect(try segmentFiles(dir) == (2 ... 4).map(segmentName))
        _ = try log.popFirst()
        #expect(try segmentFiles(dir) == (3 ... 4).map(segmentName))
        #expect(try drain(log).count == 15)
        #expect(try listing(dir) == ["head"])
        log.close()

        // Emptied and reopened: nothing held, and numbering goes on where it stopped.
        log = try SegmentLog(directory: dir, maxBytes: 1 << 20, segmentBytes: 1000, fsync: .everysec)
        defer { log.close() }
        #expect(log.isEmpty && log.recovery == RecoveryReport())
        try appendAll(log, 0 ..< 1, size: 84)
        #expect(try segmentFiles(dir) == [segmentName(5)])
    }
}

/// One fixed sequence of appends, pops, syncs and reopens gives the same records and the same
/// files under every policy, and with group commit.
@Test func fsyncPoliciesDoNotChangeResults() throws {
    func run(_ policy: FsyncPolicy, groupCommit: Bool = false) throws -> (popped: [[UInt8]], files: [String], counts: [Int]) {
        try withTemporaryDirectory { dir in
            func open() throws -> SegmentLog {
                try SegmentLog(directory: dir, maxBytes: 20_000, segmentBytes: 700, fsync: policy, groupCommit: groupCommit)
            }
            var log = try open()
            var popped: [[UInt8]] = [], counts: [Int] = []
            var now: Int64 = 0
            for step in 0 ..< 400 {
                _ = try log.append(payload(step))  // some refused at the bound, under every policy alike
                if step % 3 == 0, let record = try log.popFirst() { popped.append(record) }
                if step % 50 == 0 { try log.sync() }
                now += 170
                try log.syncIfDue(nowMillis: now)
                if step % 97 == 0 {
                    log.close()
                    log = try open()
                }
                counts.append(log.count)
            }
            let files = try listing(dir)
            popped += try drain(log)
            log.close()
            return (popped, files, counts)
        }
    }
    let reference = try run(.always)
    #expect(reference.popped.count > 100 && reference.files.count > 3)
    for (policy, groupCommit) in [(FsyncPolicy.everysec, false), (.no, false), (.always, true), (.everysec, true)] {
        let other = try run(policy, groupCommit: groupCommit)
        #expect(other.popped == reference.popped && other.files == reference.files && other.counts == reference.counts)
    }
}

@Test func oldestAppendedAtMillisFollowsTheFrontRecord() throws {
    try withTemporaryDirectory { dir in
        var log = try SegmentLog(directory: dir, maxBytes: 1 << 20, segmentBytes: 300, fsync: .no)
        #expect(log.oldestAppendedAtMillis == nil)
        let before = Posix.wallClockMilliseconds()
        try appendAll(log, 0 ..< 1)
        let first = try #require(log.oldestAppendedAtMillis)
        #expect(first >= before && first <= Posix.wallClockMilliseconds())
        Thread.sleep(forTimeInterval: 0.02)
        let beforeSecond = Posix.wallClockMilliseconds()
        try appendAll(log, 1 ..< 10)  // across segments
        #expect(log.oldestAppendedAtMillis == first)
        _ = try log.popFirst()
        let second = try #require(log.oldestAppendedAtMillis)
        #expect(second >= beforeSecond && second > first)
        log.close()

        log = try SegmentLog(directory: dir, maxBytes: 1 << 20, segmentBytes: 300, fsync: .no)
        defer { log.close() }
        #expect(log.oldestAppendedAtMillis == second)
        _ = try drain(log)
        #expect(log.oldestAppendedAtMillis == nil)
    }
}

@Test func aSecondOpenOfTheSameDirectoryIsRefused() throws {
    try withTemporaryDirectory { dir in
        let log = try SegmentLog(directory: dir, maxBytes: 1000, fsync: .no)
        #expect(throws: SystemError.self) { try SegmentLog(directory: dir, maxBytes: 1000, fsync: .no) }
        log.close()
        let again = try SegmentLog(directory: dir, maxBytes: 1000, fsync: .no)
        again.close()
    }
}

@Test func createsMissingParentDirectories() throws {
    try withTemporaryDirectory { dir in
        let log = try SegmentLog(directory: dir + "/a/b/c", maxBytes: 1000, fsync: .no)
        defer { log.close() }
        try appendAll(log, 0 ..< 3)
        #expect(try segmentFiles(dir + "/a/b/c") == [segmentName(1)])
    }
}

/// 100k records through the log with the default 8 MiB segments: a smoke test for the sequential
/// paths (no timing assertion; the time is printed for a look).
@Test func hundredThousandRecordsSmoke() throws {
    try withTemporaryDirectory { dir in
        let log = try SegmentLog(directory: dir, maxBytes: 1 << 30, fsync: .everysec)
        defer { log.close() }
        let n = 100_000
        var record = [UInt8](repeating: 0x61, count: 100)
        let start = Posix.monotonicNanoseconds()
        for i in 0 ..< n {
            withUnsafeBytes(of: UInt64(i).littleEndian) { record.replaceSubrange(0 ..< 8, with: $0) }
            #expect(try record.withUnsafeBytes { try log.append($0) })
            if i % 1000 == 0 { try log.syncIfDue(nowMillis: Int64(Posix.monotonicNanoseconds() / 1_000_000)) }
        }
        try log.sync()
        let appended = Posix.monotonicNanoseconds()
        #expect(log.count == n && log.bytes == n * 100)
        var i = 0
        while let got = try log.popFirst() {
            let number = got.withUnsafeBytes { UInt64(littleEndian: $0.loadUnaligned(as: UInt64.self)) }
            if number != UInt64(i) || got.count != 100 { Issue.record("record \(i) came back as \(number)"); break }
            i += 1
        }
        let popped = Posix.monotonicNanoseconds()
        #expect(try i == n && log.isEmpty && listing(dir) == ["head"])
        print("SegmentLog smoke: \(n) appends in \((appended - start) / 1_000_000) ms, pops in \((popped - appended) / 1_000_000) ms")
    }
}
