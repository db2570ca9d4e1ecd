/// What a reload needs from a router: taking over the writes an older router holds for the same
/// servers, and knowing when it has nothing left in flight.
extension ClusterRouter {
    /// Takes over from `old` for every server both routers know (same cluster name and address):
    /// the backlog store is already shared (`BacklogStores`), so `old` only stops replaying (its
    /// writes in flight are still consumed when answered, and this router's replayer starts once
    /// they are); from now on a write `old` fails to deliver comes here too.
    func adoptBacklogs(from old: ClusterRouter<Wire>) {
        old.successor = self
        for link in clusters {
            guard let previous = old.clusters.first(where: { $0.name == link.name }) else { continue }
            for shard in link.shards {
                guard let before = previous.shards.first(where: { $0.server.endpoint == shard.server.endpoint }) else { continue }
                before.retired = true
            }
        }
    }

    /// The server of this router that stands for `shard` of an older router, if it is still configured.
    func counterpart(of shard: ShardLink<Wire>, in old: ClusterRouter<Wire>) -> ShardLink<Wire>? {
        let name = old.clusters[shard.cluster].name
        return clusters.first { $0.name == name }?.shards.first { $0.server.endpoint == shard.server.endpoint }
    }

    /// Nothing is in flight on any of this router's connections.
    var isIdle: Bool {
        clusters.allSatisfy { link in
            link.shards.allSatisfy { shard in shard.replayInFlight == 0 && shard.backends.allSatisfy { $0.inFlight == 0 } }
        }
    }
}
