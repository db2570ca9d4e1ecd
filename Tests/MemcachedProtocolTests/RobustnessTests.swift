import Testing
import MemcachedProtocol
import TestSupport

@Suite("Robustness")
struct RobustnessTests {
    @Test func everyBadKeyByteIsFoundAtEveryPositionOfLongKeys() {
        for length in [1, 7, 8, 9, 15, 16, 17, 40, 250] {
            for position in 0 ..< length {
                for bad: UInt8 in [0x00, 0x09, 0x0d, 0x20, 0x1f, 0x7f] where bad != 0x20 {
                    var key = [UInt8](repeating: UInt8(ascii: "k"), count: length)
                    key[position] = bad
                    let (result, _) = parse(b("get x ") + key + b(" y\r\n"))
                    guard case .error(let e) = result else {
                        Issue.record("byte \(bad) at \(position) of \(length) accepted")
                        continue
                    }
                    #expect(e.reply == "CLIENT_ERROR bad command line format")
                }
                // High bytes are not control characters.
                var key = [UInt8](repeating: UInt8(ascii: "k"), count: length)
                key[position] = 0x80 | UInt8(position & 0x7f)
                let frame = b("get ") + key + b("\r\n")
                #expect(parse(frame).0 == .request(length: frame.count))
            }
        }
    }

    @Test func longTokensAndRunsOfSpacesSplitRight() {
        let long = String(repeating: "a", count: 37)
        let f = "get    \(long)     \(long)b c" + String(repeating: " ", count: 20) + "\(long)\r\n"
        let (r, q) = parse(f)
        #expect(r == .request(length: f.utf8.count))
        #expect(keys(f, q) == [long, long + "b", "c", long])
    }

    @Test func randomBytesNeverTrapAndAnswersAreConsistent() {
        var rng = SplitMix(state: 42)
        let alphabet = Array("getsmadnlc 0123456789\r\n\r\nqTObv".utf8) + [0, 0x7f, 0x80, 0xff]
        let prefixes = ["get ", "set k 0 0 ", "ms k ", "mg k ", "gat ", "delete k ", "incr k ", "flush_all ", "cas k 1 2 3 "]
        for _ in 0 ..< 20_000 {
            var input = b(prefixes.randomElement(using: &rng)!)
            for _ in 0 ..< Int.random(in: 0 ..< 24, using: &rng) { input.append(alphabet.randomElement(using: &rng)!) }
            let (result, _) = parse(input, limits: MemcachedLimits(maxValueBytes: 64, maxLineBytes: 40, maxCommandLineBytes: 30))
            switch result {
            case .request(let length): #expect(length > 0 && length <= input.count)
            case .incomplete(let atLeast): #expect(atLeast > input.count)
            case .error(let e): #expect(e.consume > 0)
            case .binaryProtocol: #expect(input.first == 0x80)
            }
            // A longer buffer never changes a decided answer.
            if case .incomplete = result { continue }
            let (again, _) = parse(input + b("get k\r\n"), limits: MemcachedLimits(maxValueBytes: 64, maxLineBytes: 40, maxCommandLineBytes: 30))
            if case .error(let e) = result, e.close { continue }   // judged on the bytes buffered then
            #expect(again == result, "\(String(decoding: input, as: UTF8.self).debugDescription)")
        }
    }

    @Test func randomRepliesNeverTrapTheFramer() {
        var rng = SplitMix(state: 7)
        let alphabet = Array("VALUE STAT END VA 0123456789 k\r\n\r\nERROR".utf8) + [0, 0xff]
        let prefixes = ["VALUE k 0 ", "VA ", "STAT ", "END", "HD ", "VALUE k 1 2 3\r\n", ""]
        for _ in 0 ..< 20_000 {
            var input = b(prefixes.randomElement(using: &rng)!)
            for _ in 0 ..< Int.random(in: 0 ..< 30, using: &rng) { input.append(alphabet.randomElement(using: &rng)!) }
            switch frame(input, maxValueBytes: 100) {
            case .reply(let length, _): #expect(length > 0 && length <= input.count)
            case .incomplete(let atLeast): #expect(atLeast > input.count)
            case .invalid: break
            }
        }
    }
}
