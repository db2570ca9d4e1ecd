import Foundation
import Testing

import DurableLog

// Fixed-size records make offsets easy: 16-byte header + 84-byte payload = 100 bytes, ten to a
// 1000-byte segment, so record i is in segment i / 10 + 1 at offset (i % 10) * 100.
private let payloadSize = 84
private let segmentSize = 1000

private func openLog(_ dir: String, _ policy: FsyncPolicy = .no) throws -> SegmentLog {
    try SegmentLog(directory: dir, maxBytes: 1 << 20, segmentBytes: segmentSize, fsync: policy)
}

private func records(_ range: Range<Int>) -> [[UInt8]] {
    range.map { payload($0, size: payloadSize) }
}

/// A copy of the directory taken while the log is open and never closed is what a crash of the
/// process leaves: everything appended and popped is there.
@Test(arguments: FsyncPolicy.allCases)
func copyOfAnOpenLogReopensExactly(_ policy: FsyncPolicy) throws {
    try withTemporaryDirectory { dir in
        let log = try openLog(dir + "/live", policy)
        defer { log.close() }
        try appendAll(log, 0 ..< 45, size: payloadSize)
        for _ in 0 ..< 17 { _ = try log.popFirst() }
        _ = try log.first()
        try FileManager.default.copyItem(atPath: dir + "/live", toPath: dir + "/crashed")

        let reopened = try openLog(dir + "/crashed", policy)
        defer { reopened.close() }
        #expect(reopened.recovery.isClean && reopened.count == 28)
        #expect(reopened.oldestAppendedAtMillis == log.oldestAppendedAtMillis)
        #expect(try drain(reopened) == records(17 ..< 45))
        #expect(try drain(log) == records(17 ..< 45))  // the original is unaffected
    }
}

/// A log dropped without `close` (its descriptors closed by deinit, nothing flushed) reopens exactly.
@Test func abandonedLogReopensExactly() throws {
    try withTemporaryDirectory { dir in
        do {
            let log = try openLog(dir, .everysec)
            try appendAll(log, 0 ..< 25, size: payloadSize)
            for _ in 0 ..< 12 { _ = try log.popFirst() }
        }
        let log = try openLog(dir, .everysec)
        defer { log.close() }
        #expect(log.recovery.isClean)
        #expect(try drain(log) == records(12 ..< 25))
    }
}

@Test func truncatedLastRecordIsCutOffAndReported() throws {
    try withTemporaryDirectory { dir in
        var log = try openLog(dir)
        try appendAll(log, 0 ..< 25, size: payloadSize)
        log.close()
        let last = dir + "/" + segmentName(3)
        try truncateFile(last, by: 30)  // into record 24's payload

        log = try openLog(dir)
        #expect(log.recovery.corruptions == [
            Corruption(file: segmentName(3), offset: 400, reason: .truncatedPayload, discardedBytes: 70),
        ])
        #expect(log.recovery.segmentsScanned == 3 && log.recovery.recordsRecovered == 24)
        #expect(try fileSize(last) == 400)
        try appendAll(log, 100 ..< 102, size: payloadSize)  // appends continue where the valid data ends
        log.close()

        log = try openLog(dir)
        defer { log.close() }
        #expect(log.recovery.isClean)
        #expect(try drain(log) == records(0 ..< 24) + records(100 ..< 102))
    }
}

@Test func truncatedHeaderIsCutOffAndReported() throws {
    try withTemporaryDirectory { dir in
        var log = try openLog(dir)
        try appendAll(log, 0 ..< 13, size: payloadSize)
        log.close()
        try truncateFile(dir + "/" + segmentName(2), by: 93)  // 7 bytes of record 12's header remain

        log = try openLog(dir)
        defer { log.close() }
        #expect(log.recovery.corruptions == [
            Corruption(file: segmentName(2), offset: 200, reason: .truncatedHeader, discardedBytes: 7),
        ])
        #expect(try drain(log) == records(0 ..< 12))
    }
}

/// A flipped byte in the middle of segment 2 (record 15) ends that segment there: records 0 ..< 15
/// and all of segment 3 come back, 16 ..< 20 (behind the damage, in the same segment) do not.
@Test(arguments: [0, 3, 4, 10, 16, 60])
func flippedByteInTheMiddleIsDetected(_ byteInRecord: Int) throws {
    try withTemporaryDirectory { dir in
        var log = try openLog(dir)
        try appendAll(log, 0 ..< 30, size: payloadSize)
        log.close()
        try flipByte(in: dir + "/" + segmentName(2), at: 500 + byteInRecord)

        log = try openLog(dir)
        defer { log.close() }
        let corruption = try #require(log.recovery.corruptions.first)
        #expect(log.recovery.corruptions.count == 1)
        #expect(corruption.file == segmentName(2) && corruption.offset == 500 && corruption.discardedBytes == 500)
        // A length made larger (its high byte) runs past the end of the file; a smaller one, the
        // timestamp or the payload fail the CRC.
        #expect(corruption.reason == (byteInRecord == 3 ? .truncatedPayload : .checksumMismatch))
        #expect(log.count == 25)
        #expect(try drain(log) == records(0 ..< 15) + records(20 ..< 30))
    }
}

/// Zeros past the end (a file extended but never written, as a power loss can leave) are not a record.
@Test func zeroFilledTailIsNotARecord() throws {
    try withTemporaryDirectory { dir in
        var log = try openLog(dir)
        try appendAll(log, 0 ..< 3, size: payloadSize)
        log.close()
        try appendBytes([UInt8](repeating: 0, count: 64), to: dir + "/" + segmentName(1))

        log = try openLog(dir)
        defer { log.close() }
        #expect(log.recovery.corruptions == [
            Corruption(file: segmentName(1), offset: 300, reason: .checksumMismatch, discardedBytes: 64),
        ])
        #expect(try drain(log) == records(0 ..< 3))
    }
}

/// Damage in the part of a segment already consumed does not matter: only what follows the head is read.
@Test func damageBehindTheHeadIsIgnored() throws {
    try withTemporaryDirectory { dir in
        var log = try openLog(dir)
        try appendAll(log, 0 ..< 10, size: payloadSize)
        for _ in 0 ..< 4 { _ = try log.popFirst() }
        log.close()
        try flipByte(in: dir + "/" + segmentName(1), at: 150)

        log = try openLog(dir)
        defer { log.close() }
        #expect(log.recovery.isClean && log.recovery.recordsRecovered == 6)
        #expect(try drain(log) == records(4 ..< 10))
    }
}

@Test func unreadableHeadReplaysFromTheOldestSegment() throws {
    try withTemporaryDirectory { dir in
        var log = try openLog(dir)
        try appendAll(log, 0 ..< 30, size: payloadSize)
        for _ in 0 ..< 14 { _ = try log.popFirst() }  // segment 1 deleted, head in segment 2
        log.close()
        try Data(repeating: 0xEE, count: 64).write(to: URL(fileURLWithPath: dir + "/head"))

        log = try openLog(dir)
        defer { log.close() }
        #expect(log.recovery.corruptions == [Corruption(file: "head", offset: 0, reason: .unreadableHead)])
        #expect(try drain(log) == records(10 ..< 30))  // 10 ..< 14 come back: delivered twice, not lost
    }
}

@Test func leftoverConsumedSegmentIsRemovedOnOpen() throws {
    try withTemporaryDirectory { dir in
        var log = try openLog(dir)
        try appendAll(log, 0 ..< 25, size: payloadSize)
        try FileManager.default.copyItem(atPath: dir + "/" + segmentName(1), toPath: dir + "/saved")
        for _ in 0 ..< 12 { _ = try log.popFirst() }
        log.close()
        // As if the process died between moving the head past segment 1 and deleting it.
        try FileManager.default.moveItem(atPath: dir + "/saved", toPath: dir + "/" + segmentName(1))

        log = try openLog(dir)
        defer { log.close() }
        #expect(log.recovery.isClean && log.recovery.segmentsRemoved == 1 && log.recovery.segmentsScanned == 2)
        #expect(try segmentFiles(dir) == [segmentName(2), segmentName(3)])
        #expect(try drain(log) == records(12 ..< 25))
    }
}

@Test func missingSegmentIsReportedAndTheRestRead() throws {
    try withTemporaryDirectory { dir in
        var log = try openLog(dir)
        try appendAll(log, 0 ..< 30, size: payloadSize)
        log.close()
        try FileManager.default.removeItem(atPath: dir + "/" + segmentName(2))

        log = try openLog(dir)
        defer { log.close() }
        #expect(log.recovery.corruptions == [Corruption(file: segmentName(2), offset: 0, reason: .missingSegments)])
        #expect(try drain(log) == records(0 ..< 10) + records(20 ..< 30))
    }
}

@Test func headPastTheEndOfItsSegmentIsReported() throws {
    try withTemporaryDirectory { dir in
        var log = try openLog(dir)
        try appendAll(log, 0 ..< 25, size: payloadSize)
        for _ in 0 ..< 17 { _ = try log.popFirst() }  // head at segment 2, offset 700
        log.close()
        try truncateFile(dir + "/" + segmentName(2), by: 500)

        log = try openLog(dir)
        defer { log.close() }
        #expect(log.recovery.corruptions == [Corruption(file: segmentName(2), offset: 700, reason: .headPastEnd)])
        #expect(try segmentFiles(dir) == [segmentName(3)])
        #expect(try drain(log) == records(20 ..< 25))
    }
}

/// Damage in several segments at once: each is reported, each keeps what precedes its damage.
@Test func damageInSeveralSegments() throws {
    try withTemporaryDirectory { dir in
        var log = try openLog(dir)
        try appendAll(log, 0 ..< 40, size: payloadSize)
        log.close()
        try flipByte(in: dir + "/" + segmentName(1), at: 320)
        try flipByte(in: dir + "/" + segmentName(3), at: 30)
        try truncateFile(dir + "/" + segmentName(4), by: 1)

        log = try openLog(dir)
        defer { log.close() }
        #expect(log.recovery.corruptions.map(\.file) == [1, 3, 4].map(segmentName))
        #expect(log.recovery.corruptions.map(\.offset) == [300, 0, 900])
        #expect(log.recovery.segmentsRemoved == 1)  // segment 3 kept nothing
        #expect(try drain(log) == records(0 ..< 3) + records(10 ..< 20) + records(30 ..< 39))
    }
}
