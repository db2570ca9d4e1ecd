import EventLoop
import RedisProtocol

/// SUBSCRIBE, PSUBSCRIBE, SSUBSCRIBE and their UNSUBSCRIBE forms. The session keeps the client's
/// subscriptions and answers these commands itself, in Redis's exact format; `PubSubLink` carries
/// them to the local cluster on the client's own connections and relays the messages. PUBLISH and
/// SPUBLISH are ordinary writes: every cluster gets them, so every subscriber hears each message once.
extension RedisClientSession {
    /// In subscribed mode a RESP2 client may only (un)subscribe, PING, QUIT and RESET (Redis's rule:
    /// its replies would be indistinguishable from messages); RESP3 clients may run anything.
    var restrictedToPubSub: Bool { protocolVersion == 2 && !subscriptions.isEmpty }

    static func allowedWhileSubscribed(_ name: String) -> Bool {
        switch name {
        case "subscribe", "psubscribe", "ssubscribe", "unsubscribe", "punsubscribe", "sunsubscribe", "ping", "quit", "reset":
            return true
        default:
            return false
        }
    }

    func pubsubCommand(_ info: CommandInfo, base: UnsafeRawBufferPointer, arguments: [Range<Int>]) {
        guard info.acceptsArgumentCount(arguments.count) else {
            return replyError("ERR wrong number of arguments for '\(info.name)' command")
        }
        let names = arguments.dropFirst().map { Array(base[$0]) }
        let kind: SubscriptionKind
        switch info.name {
        case "subscribe", "unsubscribe": kind = .channel
        case "psubscribe", "punsubscribe": kind = .pattern
        default: kind = .shardChannel
        }
        let subscribing = !info.name.contains("unsubscribe")
        if subscribing {
            if pubsub == nil {
                pubsub = PubSubLink(session: self)
            }
            pubsub!.send(info.name.uppercased(), kind: kind, names: names)
            reply(subscriptions.subscribe(kind, names, protocolVersion: protocolVersion))
        } else {
            pubsub?.send(info.name.uppercased(), kind: kind, names: names)
            reply(subscriptions.unsubscribe(kind, names, protocolVersion: protocolVersion))
            if subscriptions.isEmpty {
                // Out of subscribed mode: the client's connections to the cluster are not needed.
                pubsub?.close()
                pubsub = nil
            }
        }
    }

    /// A published message for the client. Held while replies are outstanding, so that it cannot
    /// overtake the confirmation of its own subscription (or any earlier reply).
    func deliverMessage(_ frame: UnsafeRawBufferPointer) {
        guard channel.state == .open else { return }
        if order.outstanding > 0 || !heldMessages.isEmpty {
            heldMessages.append(contentsOf: frame)
            if heldMessages.count > limits.clientOutputLimitBytes { dropSlowSubscriber() }
            return
        }
        channel.send(frame)
        if channel.pendingOutputBytes > limits.clientOutputLimitBytes { dropSlowSubscriber() }
    }

    /// Writes the messages held back while replies were outstanding.
    func releaseHeldMessages() {
        guard !heldMessages.isEmpty, channel.state == .open else { return }
        heldMessages.withUnsafeBytes { channel.send($0) }
        heldMessages.removeAll()
        if channel.pendingOutputBytes > limits.clientOutputLimitBytes { dropSlowSubscriber() }
    }

    /// A subscriber that does not read its messages is disconnected, as Redis does past its
    /// client-output-buffer-limit for pub/sub.
    private func dropSlowSubscriber() {
        logger.warning("client output limit reached by pub/sub messages, disconnecting", metadata: [
            "pendingBytes": "\(channel.pendingOutputBytes + heldMessages.count)", "limit": "\(limits.clientOutputLimitBytes)",
        ])
        heldMessages.removeAll()
        channel.close()
    }

    /// RESET, or the client is gone: every subscription, transaction and watch is forgotten and the
    /// client's own connections are closed.
    func dropStatefulState() {
        subscriptions.removeAll()
        heldMessages.removeAll()
        pubsub?.close()
        pubsub = nil
        transaction = nil
        transactionKey = nil
        watched = nil
        pendingDecision = nil
        dedicated.closeAll(router)
    }
}
