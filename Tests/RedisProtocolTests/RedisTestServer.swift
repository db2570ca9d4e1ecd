#if canImport(Glibc)
import Glibc
#endif
import Foundation
import RedisProtocol
import TestSupport

/// A redis-server spawned on a free loopback port for a test, stopped by pid (`ChildProcess`), with
/// blocking connections to it (`RESPMergeRealRedisTests.Connection`).
final class RedisTestServer {
    typealias Connection = RESPMergeRealRedisTests.Connection

    let port: Int
    private var pid: pid_t = 0

    init() throws {
        guard let binary = CommandTableRealRedisTests.redisServer else { throw POSIXError(.ENOENT) }
        for _ in 0 ..< 5 {
            let port = Int(try ChildProcess.freePort())
            let pid = try ChildProcess.spawn([binary, "--port", "\(port)", "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            for _ in 0 ..< 200 {
                if ChildProcess.hasExited(pid) { break }   // lost the port to someone else
                // Ours, not another process that took the port first.
                if let probe = try? Connection(port: port),
                   let info = try? probe.call([Array("INFO".utf8), Array("server".utf8)]),
                   String(decoding: info, as: UTF8.self).contains("process_id:\(pid)\r\n") {
                    self.port = port
                    self.pid = pid
                    return
                }
                usleep(10_000)
            }
            ChildProcess.kill(pid)
        }
        throw POSIXError(.EADDRINUSE)
    }

    /// A new connection speaking `protocolVersion` (HELLO sent when 3).
    func connect(protocolVersion: Int = 2) throws -> Connection {
        let connection = try Connection(port: port)
        if protocolVersion == 3 { _ = try connection.call("HELLO", "3") }
        return connection
    }

    func stop() {
        guard pid > 0 else { return }
        ChildProcess.kill(pid)
        pid = 0
    }

    deinit { stop() }
}

extension RESPMergeRealRedisTests.Connection {
    /// Sends `command` and decodes its reply.
    func value(_ command: [String]) throws -> RESPValue {
        try RESPValue.parse(try call(command.map { Array($0.utf8) })).0
    }

    /// Sends `frame`, which holds `replies` requests, and decodes their replies.
    func values(_ frame: [UInt8], replies: Int) throws -> [RESPValue] {
        try write(frame)
        return try (0 ..< replies).map { _ in try RESPValue.parse(try reply()).0 }
    }
}

/// The data of a server in a form two servers can be compared by: every key with its type, expiry
/// instant and contents (for streams: entries, groups, pending entries and consumers, without what
/// depends on the clock). Read over RESP2.
func redisSnapshot(_ c: RESPMergeRealRedisTests.Connection) throws -> [String] {
    func text(_ v: RESPValue) -> String {
        switch v {
        case .bulk(let b?): return String(decoding: b, as: UTF8.self).debugDescription
        case .simpleString(let s): return s
        case .integer(let i): return String(i)
        case .array(let items?): return "[" + items.map(text).joined(separator: ",") + "]"
        default: return "\(v)"
        }
    }
    /// A flat [field, value...] reply without `dropping` fields.
    func fields(_ v: RESPValue, dropping: Set<String>) -> String {
        guard case .array(let items?) = v else { return text(v) }
        var kept: [String] = []
        for i in stride(from: 0, to: items.count - 1, by: 2) where !dropping.contains(text(items[i]).replacingOccurrences(of: "\"", with: "")) {
            kept.append(text(items[i]) + "=" + text(items[i + 1]))
        }
        return kept.joined(separator: " ")
    }
    guard case .array(let keyValues?) = try c.value(["KEYS", "*"]) else { return ["KEYS failed"] }
    let keys = keyValues.compactMap { v -> String? in if case .bulk(let b?) = v { return String(decoding: b, as: UTF8.self) } else { return nil } }
    var out: [String] = []
    for key in keys.sorted() {
        let type = text(try c.value(["TYPE", key]))
        out.append("\(key) \(type) expires \(text(try c.value(["PEXPIRETIME", key])))")
        switch type {
        case "string": out.append(text(try c.value(["GET", key])))
        case "list": out.append(text(try c.value(["LRANGE", key, "0", "-1"])))
        case "zset": out.append(text(try c.value(["ZRANGE", key, "0", "-1", "WITHSCORES"])))
        // Members in sorted order: equal sets may be laid out differently (SPOP and SREM leave
        // different hash table orders, and DUMP shows them).
        case "set": out.append(text(try c.value(["SORT", key, "ALPHA"])))
        case "hash": out.append(text(try c.value(["HGETALL", key])))
        default: break
        }
        guard type == "stream" else { continue }
        out.append(text(try c.value(["XRANGE", key, "-", "+"])))
        guard case .array(let groups?) = try c.value(["XINFO", "GROUPS", key]) else { continue }
        for group in groups {
            // entries-read and lag: XCLAIM/XGROUP SETID do not carry them on Redis 7.0.
            out.append(fields(group, dropping: ["entries-read", "lag"]))
            guard case .array(let g?) = group, g.count > 1, case .bulk(let name?) = g[1] else { continue }
            let groupName = String(decoding: name, as: UTF8.self)
            // Extended XPENDING: id, consumer, idle time (dropped: the clock), delivery count.
            if case .array(let pending?) = try c.value(["XPENDING", key, groupName, "-", "+", "1000"]) {
                for p in pending {
                    if case .array(let e?) = p, e.count == 4 { out.append("pending \(text(e[0])) \(text(e[1])) \(text(e[3]))") }
                }
            }
            if case .array(let consumers?) = try c.value(["XINFO", "CONSUMERS", key, groupName]) {
                for consumer in consumers { out.append("consumer " + fields(consumer, dropping: ["idle", "inactive"])) }
            }
        }
    }
    return out
}

/// The lines of two snapshots that differ, for a failure message.
func snapshotDifference(_ a: [String], _ b: [String]) -> String {
    let onlyA = a.filter { !b.contains($0) }
    let onlyB = b.filter { !a.contains($0) }
    return "only on A: \(onlyA)\nonly on B: \(onlyB)"
}
