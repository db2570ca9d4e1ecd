import RedisProtocol

/// The `# Proxy` section of INFO (`INFO proxy`): the proxy's own view of the clusters, in Redis's
/// `key:value` INFO format, one `cluster_<n>` line per cluster.
enum ProxyInfo {
    static func render(router: ClusterRouter<RedisWire>, protocolVersion: Int) -> [UInt8] {
        var text = "# Proxy\r\n"
        text += "proxy_version:\(MetaclusterVersion.current)\r\n"
        text += "write_ack:\(router.policy.rawValue)\r\n"
        text += "clusters:\(router.clusters.count)\r\n"
        let readOrder = router.ranking.order.prefix(router.ranking.healthyCount).map { router.clusters[$0].name }
        text += "read_order:\(readOrder.joined(separator: ","))\r\n"
        for link in router.clusters {
            let s = link.stats
            let latency = router.latency.estimate(link.index).map { String($0 / 1000) } ?? "-"
            text += "cluster_\(link.index):name=\(link.name),local=\(link.isLocal ? 1 : 0),state=\(link.stateName)"
            text += ",servers=\(link.shards.count),latency_us=\(latency)"
            text += ",backlog=\(s.backlogEntries.load(ordering: .relaxed))"
            text += ",missed_writes=\(s.missedWrites.load(ordering: .relaxed))"
            text += ",dropped_writes=\(s.droppedWrites.load(ordering: .relaxed))"
            text += ",replayed_writes=\(s.replayedWrites.load(ordering: .relaxed))"
            text += ",divergent_replies=\(s.divergentReplies.load(ordering: .relaxed))"
            text += ",rejected_writes=\(s.rejectedWrites.load(ordering: .relaxed))\r\n"
        }
        var out: [UInt8] = []
        if protocolVersion == 3 {
            // Redis sends INFO as a verbatim string in RESP3.
            let body = Array("txt:".utf8) + Array(text.utf8)
            out += Array("=\(body.count)\r\n".utf8) + body + Array("\r\n".utf8)
        } else {
            RESPEncoder.bulk(text, into: &out)
        }
        return out
    }
}
