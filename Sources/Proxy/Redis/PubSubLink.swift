import EventLoop
import Logging
import RedisProtocol

/// A subscribed client's connections for pub/sub: one dedicated connection per server of one
/// cluster — the local one, first of the read ranking — carrying the client's SUBSCRIBE, PSUBSCRIBE
/// and SSUBSCRIBE. Channels and patterns live on the cluster's first server (PUBLISH goes to every
/// server of every cluster, so each subscriber hears each message once); shard channels on the
/// server owning the channel, as SPUBLISH is routed.
///
/// Contract: loop-confined, owned by its session. The session keeps the subscription sets and answers
/// the client's (un)subscribe commands itself (`Subscriptions`), so this link can rebuild them
/// anywhere: when its cluster fails, every subscription moves to the next cluster of the read ranking
/// and the client stays connected. Messages published between the failure and the resubscription are
/// lost; none is delivered twice (only one cluster's connections exist at a time). Only messages are
/// relayed to the client; the servers' confirmations and pongs are dropped here.
final class PubSubLink: SubscriptionConnectionDelegate {
    /// unowned(unsafe): the session owns this link and closes it before it goes.
    unowned(unsafe) let session: RedisClientSession
    /// The cluster the subscriptions live on; nil while none can take them (a retry is scheduled).
    private(set) var cluster: Int?
    private var connections: [Int: SubscriptionConnection] = [:]
    private var retry: LoopTimer?
    private var logger: Logger

    init(session: RedisClientSession) {
        self.session = session
        self.logger = session.logger
    }

    /// Sends a (un)subscribe command of `kind` for `names` to the servers that hold them; with no
    /// names (unsubscribe all), to every server this link has a connection to.
    func send(_ command: String, kind: SubscriptionKind, names: [[UInt8]]) {
        guard let cluster = cluster ?? chooseCluster(excluding: 0) else { return }
        if names.isEmpty {
            for shard in connections.keys.sorted() where kind == .shardChannel || shard == 0 {
                sendCommand(command, names: [], shard: shard, cluster: cluster)
            }
            return
        }
        for (shard, group) in groupByShard(kind, names, cluster: cluster) {
            sendCommand(command, names: group, shard: shard, cluster: cluster)
        }
    }

    /// Closes every connection; no callback follows.
    func close() {
        retry?.cancel()
        retry = nil
        for connection in connections.values { connection.close() }
        connections.removeAll()
        cluster = nil
    }

    // MARK: connections

    /// The best ranked readable cluster but the `failed` ones, else the best ranked of the others;
    /// nil (until the retry) when there is none.
    private func chooseCluster(excluding failed: UInt64) -> Int? {
        let router = session.router
        cluster = router.bestRanked(excluding: failed) { router.clusters[$0].isReadable }
        return cluster
    }

    /// The server of `cluster` a shard channel lives on (as SPUBLISH is routed).
    private func server(ofShardChannel name: [UInt8], cluster: Int) -> Int {
        let map = session.router.clusters[cluster].shardMap
        return map.count > 1 ? name.withUnsafeBytes { map.shard(forKey: $0) } : 0
    }

    private func groupByShard(_ kind: SubscriptionKind, _ names: [[UInt8]], cluster: Int) -> [(Int, [[UInt8]])] {
        guard kind == .shardChannel, session.router.clusters[cluster].shardMap.count > 1 else { return [(0, names)] }
        var groups: [(Int, [[UInt8]])] = []
        for name in names {
            let shard = server(ofShardChannel: name, cluster: cluster)
            if let i = groups.firstIndex(where: { $0.0 == shard }) { groups[i].1.append(name) } else { groups.append((shard, [name])) }
        }
        return groups
    }

    private func sendCommand(_ command: String, names: [[UInt8]], shard: Int, cluster: Int) {
        var frame: [UInt8] = []
        RESPEncoder.command([Array(command.utf8)] + names, into: &frame)
        frame.withUnsafeBytes { connection(shard: shard, cluster: cluster).send($0) }
    }

    private func connection(shard: Int, cluster: Int) -> SubscriptionConnection {
        if let existing = connections[shard] { return existing }
        let router = session.router
        let link = router.clusters[cluster]
        let connection = SubscriptionConnection(
            endpoint: link.shards[shard].server.endpoint, loop: router.loop,
            handshake: RedisWire.handshake(variant: session.variant, credentials: link.credentials),
            timeouts: router.timeouts, pingInterval: Duration.seconds(1), delegate: self, logger: logger)
        connections[shard] = connection
        connection.connect()
        return connection
    }

    // MARK: SubscriptionConnectionDelegate

    func subscriptionFrame(_ connection: SubscriptionConnection, frame: UnsafeRawBufferPointer) {
        switch Subscriptions.classify(frame) {
        case .message:
            session.deliverMessage(frame)
        case .error:
            logger.debug("subscription connection error reply", metadata: [
                "reply": "\(String(decoding: frame.prefix(200), as: UTF8.self).split(whereSeparator: \.isNewline).joined(separator: " "))",
            ])
        case .confirmation, .pong, .other:
            break
        }
    }

    func subscriptionFailed(_ connection: SubscriptionConnection, reason: String) {
        let failed = cluster
        logger.info("subscription connection failed, moving the client's subscriptions", metadata: [
            "backend": "\(connection.endpoint)", "reason": "\(reason)",
        ])
        for other in connections.values where other !== connection { other.close() }
        connections.removeAll()
        cluster = nil
        resubscribe(excluding: failed.map { 1 << UInt64($0) } ?? 0)
    }

    /// Recreates every subscription on the best cluster but the excluded ones; retried later when
    /// none can take them.
    func resubscribe(excluding failed: UInt64) {
        guard !session.subscriptions.isEmpty else { return }
        guard let cluster = chooseCluster(excluding: failed) else {
            retry?.cancel()
            let delay = session.router.timeouts.reconnectMin
            retry = session.router.loop.schedule(after: delay, repeating: nil) { [unowned self] in
                self.retry = nil
                self.resubscribe(excluding: 0)
            }
            return
        }
        logger.debug("subscriptions placed", metadata: ["cluster": "\(session.router.clusters[cluster].name)"])
        for shard in 0..<session.router.clusters[cluster].shardMap.count {
            let frames = session.subscriptions.resubscribeFrames(server: shard) { self.server(ofShardChannel: $0, cluster: cluster) }
            for frame in frames { frame.withUnsafeBytes { connection(shard: shard, cluster: cluster).send($0) } }
        }
    }
}
