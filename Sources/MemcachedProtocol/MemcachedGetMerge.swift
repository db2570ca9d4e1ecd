/// Merges the replies to a get, gets, gat or gats whose keys were split over several servers
/// back into the reply one server would have sent for the client's whole key list. Pure: bytes
/// in, bytes out.
///
/// Contract:
/// - `parts[i]` is the reply to sub-request i, whose keys (in the order sent) are `keys[i]`,
///   at client positions `positions[i]`. Each part must be exactly one complete reply as
///   `MemcachedReplyFramer` frames it; otherwise the merge returns false.
/// - Every part but those ending in an error line must be VALUE blocks then `END`. Each block is matched to the next
///   not-yet-answered key of its part with an equal key, scanning forward (a server answers in
///   request order, misses are absent, a key asked twice is answered twice).
/// - Returns false, appending nothing, when a part is malformed: not one whole reply, some other
///   reply (STORED, STAT lines, VA ...: no answer to a get), a block for a key it was not asked
///   (or more blocks than asked). Any of these means that server's stream is out of step, so it
///   wins over an error in another part. Also false when the three arrays disagree in shape.
/// - Otherwise a part that ends in an error line (`ERROR`, `CLIENT_ERROR ...`,
///   `SERVER_ERROR ...`, even after some VALUE blocks) wins: the first such part is appended
///   verbatim.
/// - Otherwise the blocks are appended byte-exact (header line, data of the length it declares,
///   "\r\n"), ordered by the client position of the key each answers, then one `END\r\n`.
public enum MemcachedGetMerge {
    /// See the type's contract.
    public static func merge(_ parts: [[UInt8]], keys: [[[UInt8]]], positions: [[Int]], into out: inout [UInt8]) -> Bool {
        guard keys.count == parts.count, positions.count == parts.count else { return false }
        for i in parts.indices where keys[i].count != positions[i].count { return false }

        var framer = MemcachedReplyFramer()
        var firstError: Int?
        var blocks: [Block] = []
        for (i, part) in parts.enumerated() {
            framer.reset()
            let ok = part.withUnsafeBytes { raw -> Bool in
                guard case .reply(let length, let isError) = framer.frame(raw), length == raw.count else { return false }
                if isError {
                    if firstError == nil { firstError = i }
                    return true
                }
                return collect(raw, part: i, keys: keys[i], positions: positions[i], into: &blocks)
            }
            // Parts after an error part are still checked: a malformed one means that server's
            // stream is out of step, which must not hide behind another server's error.
            guard ok else { return false }
        }
        if let i = firstError {
            out.append(contentsOf: parts[i])
            return true
        }
        // Each part's blocks are already in position order. Ties (a caller giving one position
        // twice) keep part then reply order, so the output stays deterministic.
        blocks.sort { ($0.position, $0.part, $0.bytes.lowerBound) < ($1.position, $1.part, $1.bytes.lowerBound) }
        for block in blocks {
            out.append(contentsOf: parts[block.part][block.bytes])
        }
        MemcachedScan.append("END\r\n", into: &out)
        return true
    }

    /// One VALUE block of one part, and the client position of the key it answers.
    struct Block {
        var position: Int
        var part: Int
        var bytes: Range<Int>
    }

    /// Appends the blocks of `reply`, a framed non-error reply, matching each to a key of
    /// `keys`; false when the reply is not VALUE blocks then END or a block matches no key.
    static func collect(_ reply: UnsafeRawBufferPointer, part: Int, keys: [[UInt8]], positions: [Int], into blocks: inout [Block]) -> Bool {
        let n = reply.count
        var pos = 0
        var nextKey = 0
        while true {
            guard let lf = MemcachedScan.firstIndex(of: MemcachedScan.lf, in: reply, from: pos, to: n), lf > pos else { return false }
            let lineEnd = lf - 1
            switch MemcachedReplyWord.classify(reply, from: pos, to: lineEnd) {
            case .end:
                return lf + 1 == n
            case .value:
                guard let size = MemcachedReplyWord.valueSize(reply, from: pos, to: lineEnd) else { return false }
                let keyStart = pos + 6   // past "VALUE "
                let key = keyStart ..< MemcachedScan.nextSpace(reply, from: keyStart, to: lineEnd)
                var k = nextKey
                while k < keys.count, !equals(reply, key, keys[k]) { k += 1 }
                guard k < keys.count else { return false }
                // The framer checked the data length and its "\r\n"; this only keeps indexes honest.
                let dataStart = lf + 1
                guard n - dataStart >= size + 2 else { return false }
                let end = dataStart + size + 2
                blocks.append(Block(position: positions[k], part: part, bytes: pos ..< end))
                nextKey = k + 1
                pos = end
            default:
                return false
            }
        }
    }

    /// Whether `bytes[range]` is exactly `key`.
    static func equals(_ bytes: UnsafeRawBufferPointer, _ range: Range<Int>, _ key: [UInt8]) -> Bool {
        guard range.count == key.count else { return false }
        var i = 0
        for b in key {
            if bytes[range.lowerBound + i] != b { return false }
            i += 1
        }
        return true
    }
}
