import Testing
import MemcachedProtocol

/// Whole replies, each with whether it is an error.
private let replies: [(String, Bool)] = [
    ("STORED\r\n", false), ("NOT_STORED\r\n", false), ("EXISTS\r\n", false), ("NOT_FOUND\r\n", false),
    ("DELETED\r\n", false), ("TOUCHED\r\n", false), ("OK\r\n", false), ("RESET\r\n", false),
    ("12345\r\n", false), ("0\r\n", false), ("9 \r\n", false), ("VERSION 1.6.18\r\n", false),
    ("HD\r\n", false), ("HD c5 f0 s3 Oop kfoo\r\n", false), ("EN\r\n", false), ("NF\r\n", false),
    ("NS\r\n", false), ("EX\r\n", false), ("MN\r\n", false),
    ("ME foo exp=-1 la=2 cas=21 fetch=yes cls=1 size=69\r\n", false),
    ("ERROR\r\n", true), ("ERROR: shutdown not enabled\r\n", true), ("CLIENT_ERROR bad data chunk\r\n", true),
    ("SERVER_ERROR object too large for cache\r\n", true),
    ("END\r\n", false),
    ("VALUE k 0 5\r\nhello\r\nEND\r\n", false),
    ("VALUE k 4294967295 5 18446744073709551615\r\nhe\r\nl\r\nEND\r\n", false),
    ("VALUE a 1 0\r\n\r\nVALUE b 2 3 9\r\nEND\r\nEND\r\n", false),
    ("VALUE a 0 1\r\nx\r\nSERVER_ERROR out of memory writing get response\r\n", true),
    ("VALUE a 0 1\r\nx\r\nCLIENT_ERROR bad command line format\r\n", true),
    ("STAT pid 1\r\nSTAT version 1.6.18\r\nEND\r\n", false),
    ("STAT a 1\r\nERROR\r\n", true),
    ("ITEM q4 [1 b; 0 s]\r\nITEM q3 [2 b; 0 s]\r\nEND\r\n", false),
    ("PREFIX a get 1 hit 1 set 1 del 0\r\nEND\r\n", false),
    ("VA 3 f5 t-1\r\nabc\r\n", false), ("VA 0 W\r\n\r\n", false), ("VA 2\r\n\r\n\r\n", false),
    ("BUSY currently processing reassign request\r\n", false),
]

/// Bytes no memcached would send.
private let garbage: [String] = [
    "HELLO\r\n", "\r\n", "STORED\n", "END x\r\n", "+OK\r\n", "-1\r\n",
    "VALUE k 0\r\nx\r\nEND\r\n", "VALUE k x 1\r\nx\r\nEND\r\n", "VALUE k 0 1 2 3\r\nx\r\nEND\r\n",
    "VALUE  k 0 1\r\nx\r\nEND\r\n", "VALUE k 0 +1\r\nx\r\nEND\r\n", "VALUE k 0 1 \r\nx\r\nEND\r\n",
    "VALUE k 0 1\r\nxy\r\nEND\r\n", "VALUE k 0 1\r\nx\r\nSTORED\r\n", "VALUE k 0 1\r\nx\r\nSTAT a b\r\n",
    "STAT a b\r\nVALUE k 0 1\r\nx\r\nEND\r\n", "VA x\r\n", "VA 1\r\nxy\r\n", "VA 2\r\nab\rx",
]

@Suite("MemcachedReplyFramer")
struct ReplyFramerTests {
    @Test func everyReplyFormIsFramed() {
        for (reply, isError) in replies {
            let bytes = b(reply)
            #expect(frame(bytes) == .reply(length: bytes.count, isError: isError), "\(reply.debugDescription)")
            // Followed by the next reply, it is framed the same.
            #expect(frame(bytes + b("STORED\r\nEND\r\n")) == .reply(length: bytes.count, isError: isError))
        }
    }

    @Test func garbageIsInvalid() {
        for reply in garbage {
            guard case .invalid = frame(reply) else {
                Issue.record("\(reply.debugDescription): \(frame(reply))")
                continue
            }
        }
    }

    @Test func everyPrefixIsIncompleteWithABoundNoMoreThanTheReply() {
        for (reply, _) in replies {
            let bytes = b(reply)
            for cut in 0 ..< bytes.count {
                let result = frame(Array(bytes[..<cut]))
                guard case .incomplete(let atLeast) = result else {
                    Issue.record("\(reply.debugDescription) cut at \(cut): \(result)")
                    continue
                }
                #expect(atLeast > cut && atLeast <= bytes.count, "\(reply.debugDescription) cut at \(cut): \(atLeast)")
            }
        }
    }

    @Test func resumingAcrossReadsGivesTheSameAnswers() {
        // One framer fed a growing buffer, as a session does: it resumes mid-sequence.
        let reply = b((0 ..< 50).map { "VALUE key\($0) \($0) 3 \($0 * 7)\r\nv\r\n\r\n" }.joined() + "END\r\n")
        for step in [1, 2, 7, 64] {
            var framer = MemcachedReplyFramer()
            var have = 0
            var result = MemcachedReplyFramer.Result.incomplete(atLeast: 1)
            while have < reply.count {
                have = Swift.min(reply.count, have + step)
                result = reply.withUnsafeBytes { framer.frame(UnsafeRawBufferPointer(rebasing: $0[..<have])) }
                if case .incomplete(let atLeast) = result {
                    #expect(atLeast > have && atLeast <= reply.count)
                } else {
                    break
                }
            }
            #expect(result == .reply(length: reply.count, isError: false), "step \(step)")
            #expect(have == reply.count)
            // The framer is clean again: the next reply starts from its own beginning.
            #expect(b("HD\r\n").withUnsafeBytes { framer.frame($0) } == .reply(length: 4, isError: false))
        }
    }

    @Test func resetForgetsAPartialReply() {
        var framer = MemcachedReplyFramer()
        let partial = b("VALUE a 0 1\r\nx\r\nVALUE b 0 5\r\nab")
        guard case .incomplete = partial.withUnsafeBytes({ framer.frame($0) }) else {
            Issue.record("expected incomplete")
            return
        }
        framer.reset()
        #expect(b("STORED\r\n").withUnsafeBytes { framer.frame($0) } == .reply(length: 8, isError: false))
        // A shorter buffer than the last call saw also starts over.
        _ = partial.withUnsafeBytes { framer.frame($0) }
        #expect(b("EN\r\n").withUnsafeBytes { framer.frame($0) } == .reply(length: 4, isError: false))
    }

    @Test func limits() {
        #expect(frame(b("VALUE k 0 6\r\nabcdef\r\nEND\r\n"), maxValueBytes: 5) == .invalid("bad VALUE header at offset 0"))
        #expect(frame(b("VA 6\r\nabcdef\r\n"), maxValueBytes: 5) == .invalid("bad VA header at offset 0"))
        var framer = MemcachedReplyFramer(maxLineBytes: 16)
        let long = b("STORED" + String(repeating: " ", count: 20))
        guard case .invalid = long.withUnsafeBytes({ framer.frame($0) }) else {
            Issue.record("a line over maxLineBytes must be invalid")
            return
        }
        #expect(b("VERSION 1.6.18\r\n").withUnsafeBytes { framer.frame($0) } == .reply(length: 16, isError: false))
    }

    @Test func aDeclaredSizeDoesNotOverflowTheBound() {
        let huge = "VALUE k 0 9223372036854775807\r\n"
        #expect(frame(b(huge), maxValueBytes: Int.max) == .incomplete(atLeast: Int.max))
    }
}
