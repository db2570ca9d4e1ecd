import RedisProtocol

/// The `# Proxy` section of INFO: the proxy's own view of the clusters, in Redis's `key:value` INFO
/// format, one `cluster_<n>` line per cluster. `INFO proxy` is this section alone; `INFO`, `INFO all`,
/// `INFO default` and `INFO everything` put it before the serving cluster's own INFO.
enum ProxyInfo {
    static func text(router: ClusterRouter<RedisWire>, uptimeSeconds: Int64, clients: Int) -> String {
        var text = "# Proxy\r\n"
        text += "proxy_version:\(MetaclusterVersion.current)\r\n"
        text += "uptime_in_seconds:\(uptimeSeconds)\r\n"
        text += "connected_clients:\(clients)\r\n"
        text += "event_loop:\(router.loop.backendName)\r\n"
        text += "write_ack:\(router.policy.rawValue)\r\n"
        text += "verify_sample_rate:\(router.verifier.rate)\r\n"
        text += "clusters:\(router.clusters.count)\r\n"
        let readOrder = router.ranking.order.prefix(router.ranking.healthyCount).map { router.clusters[$0].name }
        text += "read_order:\(readOrder.joined(separator: ","))\r\n"
        for link in router.clusters {
            let s = link.stats
            let latency = router.latency.estimate(link.index).map { String($0 / 1000) } ?? "-"
            let view = s.view
            text += "cluster_\(link.index):name=\(link.name),local=\(link.isLocal ? 1 : 0),state=\(view.state(servers: link.shards.count))"
            text += ",servers=\(link.shards.count),servers_down=\(view.serversDown),latency_us=\(latency)"
            text += ",backlog=\(s.backlogEntries.load(ordering: .relaxed))"
            text += ",missed_writes=\(s.missedWrites.value)"
            text += ",dropped_writes=\(s.droppedWrites.value)"
            text += ",replayed_writes=\(s.replayedWrites.value)"
            text += ",divergent_replies=\(s.divergentReplies.value)"
            text += ",rejected_writes=\(s.rejectedWrites.value)"
            text += ",unknown_outcomes=\(s.unknownOutcomes.value),repaired_keys=\(s.repairedKeys.value)"
            text += ",verified_reads=\(s.verification.verifiedTotal)"
            text += ",verify_mismatches=\(s.verification.mismatchTotal)\r\n"
        }
        return text
    }

    /// `text` as an INFO reply: a bulk string, or in RESP3 a verbatim string, as Redis sends INFO.
    static func reply(_ text: String, protocolVersion: Int) -> [UInt8] {
        var out: [UInt8] = []
        if protocolVersion == 3 {
            let body = Array("txt:".utf8) + Array(text.utf8)
            out += Array("=\(body.count)\r\n".utf8) + body + Array("\r\n".utf8)
        } else {
            RESPEncoder.bulk(text, into: &out)
        }
        return out
    }

    /// The server's INFO reply with `text` (and a blank line) before its own sections; any other
    /// reply (an error) as it is.
    static func prepend(_ text: String, to reply: [UInt8], protocolVersion: Int) -> [UInt8] {
        guard let first = reply.first, first == UInt8(ascii: "$") || first == UInt8(ascii: "="),
              let headerEnd = reply.firstIndex(of: UInt8(ascii: "\n")), reply.count >= headerEnd + 3
        else { return reply }
        var body = Array(reply[(headerEnd + 1)..<(reply.count - 2)])
        if first == UInt8(ascii: "="), body.starts(with: "txt:".utf8) { body.removeFirst(4) }
        return Self.reply(text + "\r\n" + String(decoding: body, as: UTF8.self), protocolVersion: protocolVersion)
    }
}
