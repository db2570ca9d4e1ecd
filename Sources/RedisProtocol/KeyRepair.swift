/// Repair of the keys a non-idempotent write touched, for when it is not known whether a server
/// applied it (sent, then the connection failed before the reply): instead of replaying the write,
/// read each key's whole state atomically from a cluster that certainly applied it, and put a
/// write that sets exactly that state into the failed server's backlog.
///
/// Contract:
/// - `keys(ofWrite:table:)` takes one whole RESP multibulk frame (`*N\r\n$..`, as the proxy sends
///   to its backends) and answers its keys as `CommandTable.keyIndices` finds them (subcommands of
///   containers included), in argument order without duplicates. nil when the frame is not
///   exactly one multibulk request, the command is not in the table, it names no key (PUBLISH,
///   FLUSHALL, EVAL with numkeys 0 ...), or it is pub/sub (SPUBLISH's "key" is a shard channel,
///   which holds no data to copy).
/// - `readFrames(key:)` are MULTI, DUMP, PTTL, EXEC: sent back to back on one connection they
///   read the serialized value and the remaining time to live at the same instant.
/// - `restoreFrame(key:execReply:nowMillis:)` reads EXEC's reply (RESP2 or RESP3) and answers
///   `DEL key` (missing, or expiring this very millisecond), `RESTORE key 0 payload REPLACE` (no
///   expiry) or `RESTORE key <nowMillis + pttl> payload REPLACE ABSTTL`: an absolute expiry, so
///   the copy expires when the original does however late the backlog delivers it. nil for any
///   other reply, so a doubt never becomes a write.
/// - Pure: no sockets, no Foundation; key and payload are binary-safe.
public enum KeyRepair {
    /// The keys a write frame (a RESP multibulk `*N\r\n$..`, as the proxy sends to backends) touches, in argument order without duplicates, when the write can be repaired by copying those keys from another cluster; nil when it cannot: malformed frame, unknown command (not in `table`), a command with no keys (EVAL/FCALL with numkeys 0, PUBLISH ...).
    public static func keys(ofWrite frame: UnsafeRawBufferPointer, table: CommandTable = .builtin) -> [[UInt8]]? {
        guard frame.count > 0, frame[0] == RESPType.array else { return nil }
        if RequestBlock.isTransaction(frame) {
            // A transaction block: the keys of every command in it, each of which must be repairable.
            guard let commands = RequestBlock.commands(frame), commands.count > 2 else { return nil }
            var keys: [[UInt8]] = []
            for range in commands.dropFirst().dropLast() {
                guard let some = self.keys(ofWrite: UnsafeRawBufferPointer(rebasing: frame[range]), table: table) else { return nil }
                for key in some where !keys.contains(key) { keys.append(key) }
            }
            return keys
        }
        // The frame already passed the session's parser; these limits only keep a bigger
        // configured one from being refused here.
        var parser = RequestParser(limits: RESPLimits(maxBulkBytes: Int.max, maxMultibulkLength: Int.max, maxInlineBytes: Int.max))
        guard case .request(let length) = parser.parse(frame), length == frame.count else { return nil }
        let arguments = parser.arguments
        func argument(_ i: Int) -> UnsafeRawBufferPointer { UnsafeRawBufferPointer(rebasing: frame[arguments[i]]) }

        guard var info = table.lookup(argument(0)) else { return nil }
        if info.isContainer, arguments.count > 1, let sub = table.lookup(argument(0), subcommand: argument(1)) {
            info = sub
        }
        guard !info.flags.contains(.pubsub) else { return nil }
        var indices: [Int] = []
        table.keyIndices(info, argumentCount: arguments.count, argument: argument, into: &indices)

        var keys: [[UInt8]] = []
        for i in indices {
            let key = Array(argument(i))
            if !keys.contains(key) { keys.append(key) }
        }
        return keys.isEmpty ? nil : keys
    }

    /// The frames to send, contiguously and in this order on one connection, to read `key`'s serialized value and remaining time to live atomically: MULTI, DUMP key, PTTL key, EXEC. Only the reply to the last one (EXEC) carries the answer; the others get +OK / +QUEUED.
    public static func readFrames(key: [UInt8]) -> [[UInt8]] {
        [command(["MULTI"]), command(["DUMP"], key), command(["PTTL"], key), command(["EXEC"])]
    }

    /// The write that makes another server hold what `execReply` (the EXEC reply, RESP2 or RESP3 encoding: an array of two elements, DUMP's bulk string or null (`$-1` or RESP3 `_`), then PTTL's integer) describes:
    /// - key missing (null DUMP or PTTL -2): `DEL key`
    /// - PTTL -1 (no expiry): `RESTORE key 0 payload REPLACE`
    /// - PTTL > 0: `RESTORE key <nowMillis + pttl> payload REPLACE ABSTTL`
    /// nil when the reply has any other shape (EXEC aborted `*-1`/`_`, an error, an element that is an error, wrong count or types).
    ///
    /// PTTL 0 (the key expires within this millisecond) also gives `DEL key`: by the time the
    /// write is delivered the original is gone.
    public static func restoreFrame(key: [UInt8], execReply: UnsafeRawBufferPointer, nowMillis: Int64) -> [UInt8]? {
        var scan = RESPReplyScan()
        guard let top = scan.value(execReply), top.type == RESPType.array,
              let list = scan.list(execReply, at: top.start), list.count == 2 else { return nil }
        var ranges: [Range<Int>] = []
        guard scan.elements(execReply, of: list, into: &ranges), ranges.count == 2,
              let pttl = RESPReplyScan.integer(execReply, at: ranges[1].lowerBound),
              let payload = dumpPayload(execReply, ranges[0]) else { return nil }

        guard let payload, pttl != -2, pttl != 0 else { return command(["DEL"], key) }
        let restore = UnsafeRawBufferPointer(rebasing: execReply[payload])
        if pttl == -1 {
            return command(["RESTORE"], key, decimal(0), restore, ["REPLACE"])
        }
        guard pttl > 0 else { return nil }
        let (expiry, overflow) = nowMillis.addingReportingOverflow(Int64(pttl))
        guard !overflow, expiry > 0 else { return nil }
        return command(["RESTORE"], key, decimal(expiry), restore, ["REPLACE", "ABSTTL"])
    }

    /// DUMP's element: `.some(nil)` for a null (`$-1` or `_`), `.some(range)` for the payload of
    /// a bulk string, nil for anything else (an error, another type, attributes before it).
    private static func dumpPayload(_ reply: UnsafeRawBufferPointer, _ element: Range<Int>) -> Range<Int>?? {
        let start = element.lowerBound
        switch reply[start] {
        case RESPType.null:
            return element.count == 3 ? .some(nil) : nil
        case RESPType.bulkString:
            guard case .value(let length, let data) = RESPScan.decimalLine(reply, from: start + 1) else { return nil }
            if length == -1 { return data == element.upperBound ? .some(nil) : nil }
            // The element is one framed reply, so `data + length + 2` is its end.
            guard length >= 0, data + length + 2 == element.upperBound else { return nil }
            return .some(data ..< data + length)
        default:
            return nil
        }
    }

    private static func decimal(_ value: Int64) -> [UInt8] {
        var out: [UInt8] = []
        RESPEncoder.appendDecimal(Int(value), into: &out)
        return out
    }

    /// A multibulk of `words`, then `key`, then each of `rest` (byte arrays or ASCII words).
    private static func command(_ words: [StaticString], _ key: [UInt8]? = nil) -> [UInt8] {
        var out: [UInt8] = []
        RESPEncoder.arrayHeader(words.count + (key == nil ? 0 : 1), into: &out)
        for word in words { bulk(word, into: &out) }
        if let key { RESPEncoder.bulk(key, into: &out) }
        return out
    }

    private static func command(
        _ name: [StaticString], _ key: [UInt8], _ ttl: [UInt8], _ payload: UnsafeRawBufferPointer, _ options: [StaticString]
    ) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(payload.count + key.count + 64)
        RESPEncoder.arrayHeader(name.count + 3 + options.count, into: &out)
        for word in name { bulk(word, into: &out) }
        RESPEncoder.bulk(key, into: &out)
        RESPEncoder.bulk(ttl, into: &out)
        RESPEncoder.bulk(payload, into: &out)
        for word in options { bulk(word, into: &out) }
        return out
    }

    private static func bulk(_ word: StaticString, into out: inout [UInt8]) {
        RESPEncoder.bulk(UnsafeBufferPointer(start: word.utf8Start, count: word.utf8CodeUnitCount), into: &out)
    }
}
