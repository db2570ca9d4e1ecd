import Testing
import DurableLog
import TestSupport

/// The replayer's use of the log (issue #7): appends arrive while a window of records is read ahead
/// and each is consumed when acknowledged (`popFirst`, or `discardFirst` when the payload was read
/// already); at any point the process may die. Whatever happens, the records read ahead come out in
/// append order, and a reopened log holds exactly the records not yet acknowledged, in order.
@Test(arguments: [300, 4096, 1 << 20])
func replayWindowOverRollingSegmentsKeepsOrderAndSurvivesReopen(segmentBytes: Int) throws {
    try withTemporaryDirectory { dir in
        var rng = SplitMix(state: UInt64(segmentBytes))
        var log = try SegmentLog(directory: dir, maxBytes: 1 << 30, segmentBytes: segmentBytes, fsync: .no, groupCommit: true)
        var next = 0          // next payload number to append
        var acked = 0         // payload numbers below this are consumed
        var sent: [(number: Int, length: Int)] = []  // read ahead, not acknowledged
        for step in 0 ..< 4_000 {
            switch rng.next() % 10 {
            case 0 ..< 4:
                try appendAll(log, next ..< next + 1 + Int(rng.next() % 5), size: 20 + Int(rng.next() % 60))
                next = log.count + acked
            case 4 ..< 7:
                while sent.count < 64, let record = try log.readNext() {
                    let expected = acked + sent.count
                    #expect(record == payload(expected, size: record.count), "step \(step)")
                    sent.append((expected, record.count))
                }
            case 7 ..< 9:
                guard !sent.isEmpty else { continue }
                let oldest = sent.removeFirst()
                if rng.next() % 2 == 0 {
                    let record = try #require(try log.popFirst())
                    #expect(record == payload(oldest.number, size: record.count), "step \(step)")
                } else {
                    #expect(try log.discardFirst() == oldest.length, "step \(step)")
                }
                acked += 1
            default:
                log.close()
                log = try reopening { try SegmentLog(directory: dir, maxBytes: 1 << 30, segmentBytes: segmentBytes, fsync: .no, groupCommit: true) }
                #expect(log.count == next - acked && log.readAhead == 0, "step \(step)")
                if let first = try log.first() { #expect(first == payload(acked, size: first.count)) }
                sent = []
            }
        }
        log.close()
    }
}

