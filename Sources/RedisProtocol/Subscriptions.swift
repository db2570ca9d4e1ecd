/// The three kinds of subscription a redis client can hold.
public enum SubscriptionKind: Sendable, CaseIterable {
    /// SUBSCRIBE / UNSUBSCRIBE
    case channel
    /// PSUBSCRIBE / PUNSUBSCRIBE
    case pattern
    /// SSUBSCRIBE / SUNSUBSCRIBE
    case shardChannel
}

/// One client's pub/sub subscriptions as the proxy keeps them, and the frames Redis 7 would send
/// for changes to them, so the proxy can confirm subscriptions itself and replay them on another
/// backend without the client noticing.
///
/// Contract:
/// - `subscribe`/`unsubscribe` return the confirmation frames byte for byte as redis-server 7
///   sends them: RESP2 `*3` arrays, RESP3 `>3` pushes, one per name, with Redis's counts
///   (channels + patterns for the channel and pattern kinds, shard channels for the shard kind).
/// - Names are kept in subscription order; an UNSUBSCRIBE of all confirms them in that order
///   (Redis uses its dictionary's order, which no client can rely on).
/// - Pure: no I/O; every frame is built in a fresh array.
public struct Subscriptions: Sendable {
    /// One kind's names, each with the sequence number of its subscription (for the order).
    private var channels: [[UInt8]: UInt64] = [:]
    private var patterns: [[UInt8]: UInt64] = [:]
    private var shardChannels: [[UInt8]: UInt64] = [:]
    private var nextSequence: UInt64 = 0

    public init() {}

    /// No subscription of any kind: the client leaves subscribed mode.
    public var isEmpty: Bool { channels.isEmpty && patterns.isEmpty && shardChannels.isEmpty }

    /// The names subscribed with `kind`, in subscription order.
    public func names(_ kind: SubscriptionKind) -> [[UInt8]] {
        self[kind].sorted { $0.value < $1.value }.map(\.key)
    }

    /// Applies SUBSCRIBE, PSUBSCRIBE or SSUBSCRIBE (per `kind`) of `names` (non-empty) and returns
    /// one confirmation frame per name; a name already subscribed is confirmed again with an
    /// unchanged count.
    public mutating func subscribe(_ kind: SubscriptionKind, _ names: [[UInt8]], protocolVersion: Int) -> [UInt8] {
        var out: [UInt8] = []
        for name in names {
            if self[kind][name] == nil {
                self[kind][name] = nextSequence
                nextSequence += 1
            }
            Self.confirmation(Self.subscribeWord(kind), name: name, count: count(kind), protocolVersion: protocolVersion, into: &out)
        }
        return out
    }

    /// Applies UNSUBSCRIBE, PUNSUBSCRIBE or SUNSUBSCRIBE (per `kind`); empty `names` means every
    /// name of that kind. One confirmation frame per name (a name not subscribed is confirmed too);
    /// with no names and nothing of that kind subscribed, one frame with a null name.
    public mutating func unsubscribe(_ kind: SubscriptionKind, _ names: [[UInt8]], protocolVersion: Int) -> [UInt8] {
        let word = Self.unsubscribeWord(kind)
        var out: [UInt8] = []
        let targets = names.isEmpty ? self.names(kind) : names
        if targets.isEmpty {
            Self.confirmation(word, name: nil, count: count(kind), protocolVersion: protocolVersion, into: &out)
            return out
        }
        for name in targets {
            self[kind][name] = nil
            Self.confirmation(word, name: name, count: count(kind), protocolVersion: protocolVersion, into: &out)
        }
        return out
    }

    /// RESET: forgets every subscription.
    public mutating func removeAll() {
        self = Subscriptions()
    }

    /// The commands (RESP2 multibulk requests) that recreate on a fresh connection to server `server`
    /// of a cluster the subscriptions that live there: SUBSCRIBE with all channels and PSUBSCRIBE with
    /// all patterns (on server 0), SSUBSCRIBE with the shard channels `shardOf` places on `server`;
    /// each in subscription order and each left out when it would be empty. The defaults describe a
    /// cluster of one server.
    public func resubscribeFrames(server: Int = 0, shardOf: ([UInt8]) -> Int = { _ in 0 }) -> [[UInt8]] {
        var frames: [[UInt8]] = []
        for (kind, command) in [(SubscriptionKind.channel, "SUBSCRIBE"), (.pattern, "PSUBSCRIBE"), (.shardChannel, "SSUBSCRIBE")] {
            let list = kind == .shardChannel ? names(kind).filter { shardOf($0) == server } : server == 0 ? names(kind) : []
            guard !list.isEmpty else { continue }
            var frame: [UInt8] = []
            RESPEncoder.arrayHeader(list.count + 1, into: &frame)
            RESPEncoder.bulk(command.utf8, into: &frame)
            for name in list { RESPEncoder.bulk(name, into: &frame) }
            frames.append(frame)
        }
        return frames
    }

    /// The reply to PING in subscribed mode: RESP2 `*2 $4 pong $<argument, or empty>`; RESP3 the
    /// ordinary reply (`+PONG`, or the argument as a bulk string).
    public static func pingReply(argument: [UInt8]?, protocolVersion: Int) -> [UInt8] {
        var out: [UInt8] = []
        if protocolVersion >= 3 {
            if let argument {
                RESPEncoder.bulk(argument, into: &out)
            } else {
                RESPEncoder.simpleString("PONG", into: &out)
            }
            return out
        }
        RESPEncoder.arrayHeader(2, into: &out)
        RESPEncoder.bulk("pong", into: &out)
        RESPEncoder.bulk(argument ?? [], into: &out)
        return out
    }

    /// The error text (without the leading "-") for any other command in RESP2 subscribed mode,
    /// in Redis 7's words. `command` is the command's name, or `container|subcommand` for a
    /// subcommand (Redis names `config|get`); it is lowercased as Redis prints it.
    public static func notAllowedError(command: String) -> String {
        "ERR Can't execute '\(command.lowercased())': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context"
    }

    // MARK: private

    private subscript(kind: SubscriptionKind) -> [[UInt8]: UInt64] {
        get {
            switch kind {
            case .channel: channels
            case .pattern: patterns
            case .shardChannel: shardChannels
            }
        }
        _modify {
            switch kind {
            case .channel: yield &channels
            case .pattern: yield &patterns
            case .shardChannel: yield &shardChannels
            }
        }
    }

    /// The count Redis puts in a confirmation: shard channels are counted apart from the rest.
    private func count(_ kind: SubscriptionKind) -> Int {
        kind == .shardChannel ? shardChannels.count : channels.count + patterns.count
    }

    private static func subscribeWord(_ kind: SubscriptionKind) -> String {
        switch kind {
        case .channel: "subscribe"
        case .pattern: "psubscribe"
        case .shardChannel: "ssubscribe"
        }
    }

    private static func unsubscribeWord(_ kind: SubscriptionKind) -> String {
        switch kind {
        case .channel: "unsubscribe"
        case .pattern: "punsubscribe"
        case .shardChannel: "sunsubscribe"
        }
    }

    /// `*3` (RESP3 `>3`), the word, the name (or null), the count.
    private static func confirmation(_ word: String, name: [UInt8]?, count: Int, protocolVersion: Int, into out: inout [UInt8]) {
        if protocolVersion >= 3 {
            out.append(RESPType.push)
            out.append(UInt8(ascii: "3"))
            RESPEncoder.appendCRLF(into: &out)
        } else {
            RESPEncoder.arrayHeader(3, into: &out)
        }
        RESPEncoder.bulk(word, into: &out)
        if let name {
            RESPEncoder.bulk(name, into: &out)
        } else {
            RESPEncoder.null(protocolVersion: protocolVersion, into: &out)
        }
        RESPEncoder.integer(count, into: &out)
    }
}
