import RedisProtocol
import Routing

/// Whole-keyspace reads on a sharded router, answered from every server of one cluster (the best
/// ranked whose servers are all up): DBSIZE sums, KEYS concatenates, RANDOMKEY picks among the
/// servers' picks, and SCAN walks the servers one after the other with a cursor that encodes the
/// cluster, the server and that server's own cursor.
extension RedisClientSession {
    func keyspaceRead(_ info: CommandInfo, base: UnsafeRawBufferPointer, arguments: [Range<Int>]) {
        guard let cluster = router.wholeKeyspaceTarget() else {
            return RedisWire.noClusterReply.withUnsafeBytes { complete(tag: order.next(), reply: $0) }
        }
        let all = Array(router.clusters[cluster].shards.indices)
        var command: [UInt8] = []
        Self.encodeCommand(arguments, base: base, into: &command)
        switch info.name {
        case "dbsize":
            gather(cluster: cluster, servers: all, frame: { _ in command }) { Self.merged($0, RESPMerge.sum) }
        case "keys":
            gather(cluster: cluster, servers: all, frame: { _ in command }) { Self.merged($0, RESPMerge.concatenate) }
        case "randomkey":
            gather(cluster: cluster, servers: all, frame: { _ in command }) { Self.randomKey($0) }
        case "scan":
            scan(base: base, arguments: arguments)
        default:
            // Any other keyless whole-keyspace read: one server's view, like other keyless reads.
            command.withUnsafeBytes { read($0, key: nil) }
        }
    }

    private static func merged(_ parts: [[UInt8]], _ merge: ([[UInt8]], inout [UInt8]) -> Bool) -> [UInt8] {
        var out: [UInt8] = []
        if !merge(parts, &out) {
            out.removeAll()
            RESPEncoder.error("ERR the servers' replies could not be merged", into: &out)
        }
        return out
    }

    /// A random key of a random non-empty server (nil only when every server is empty).
    private static func randomKey(_ parts: [[UInt8]]) -> [UInt8] {
        if let error = parts.first(where: { $0.first == UInt8(ascii: "-") || $0.first == UInt8(ascii: "!") }) { return error }
        let found = parts.filter { $0.first == UInt8(ascii: "$") && !$0.starts(with: "$-1".utf8) }
        return found.randomElement() ?? parts[0]
    }

    private func scan(base: UnsafeRawBufferPointer, arguments: [Range<Int>]) {
        let clusterCount = router.clusters.count
        guard let cursor = UInt64(String(decoding: base[arguments[1]], as: UTF8.self)) else {
            return replyError("ERR invalid cursor")
        }
        let start: ShardedScanCursor
        if cursor == 0 {
            guard let target = router.wholeKeyspaceTarget() else {
                return RedisWire.noClusterReply.withUnsafeBytes { complete(tag: order.next(), reply: $0) }
            }
            start = ShardedScanCursor(cluster: target, server: 0, serverCursor: 0)
        } else {
            start = ShardedScanCursor.decode(cursor, clusters: router.clusters.count) { router.clusters[$0].shards.count }
        }
        let (cluster, shard, serverCursor) = (start.cluster, start.server, start.serverCursor)
        let servers = router.clusters[cluster].shards.count
        var command: [UInt8] = []
        var parts = Array(arguments)
        let cursorText = Array(String(serverCursor).utf8)
        // The server's own cursor replaces the client's: encoded from a scratch copy of the arguments.
        var scratch = Array(base)
        let at = scratch.count
        scratch.append(contentsOf: cursorText)
        parts[1] = at..<(at + cursorText.count)
        scratch.withUnsafeBytes { Self.encodeCommand(parts, base: $0, into: &command) }
        gather(cluster: cluster, servers: [shard], frame: { _ in command }) { replies in
            Self.scanReply(replies[0], cluster: cluster, clusters: clusterCount, shard: shard, servers: servers)
        }
    }

    /// The server's SCAN reply with its cursor turned into the proxy's (see `ShardedScanCursor`).
    private static func scanReply(_ reply: [UInt8], cluster: Int, clusters: Int, shard: Int, servers: Int) -> [UInt8] {
        reply.withUnsafeBytes { bytes in
            guard let (next, keys) = RESPMerge.scanReply(bytes) else { return reply }
            var out: [UInt8] = []
            guard let cursor = ShardedScanCursor.advance(cluster: cluster, clusters: clusters, server: shard, servers: servers, next: next) else {
                RESPEncoder.error("ERR SCAN cursor too large for the proxy to encode", into: &out)
                return out
            }
            RESPMerge.scanReply(cursor: cursor, keys: UnsafeRawBufferPointer(rebasing: bytes[keys]), into: &out)
            return out
        }
    }
}
