import EventLoop
import RedisProtocol

/// MULTI/EXEC/DISCARD/WATCH/UNWATCH. A transaction is queued in the proxy; EXEC runs the whole block
/// on one cluster (the local one, first of the read ranking) as one MULTI/EXEC, and once it
/// committed there the other clusters get the same block — non-deterministic commands as their
/// effects, reads dropped — as one MULTI/EXEC, in order with the client's other writes (it is a
/// decided write: see `RoutedSession.decide`). WATCH runs on the client's own connection to the local
/// cluster's server, and so does the EXEC after it: that cluster decides.
extension RedisClientSession {
    /// Runs a transaction command; false when it must wait until the client's earlier requests are
    /// settled everywhere (it is parsed again then).
    func transactionCommand(_ info: CommandInfo, frame: UnsafeRawBufferPointer, base: UnsafeRawBufferPointer,
                            arguments: [Range<Int>]) -> Bool {
        guard info.acceptsArgumentCount(arguments.count) else {
            let error = "ERR wrong number of arguments for '\(info.name)' command"
            if transaction != nil && info.name == "exec" {
                // Redis ends the transaction here, saying why.
                transaction = nil
                forgetWatch()
                replyError("EXECABORT Transaction discarded because of: \(error.dropFirst(4))")
                return true
            }
            if transaction != nil { transaction!.markDirty() }
            replyError(error)
            return true
        }
        switch info.name {
        case "multi":
            if transaction != nil { replyError("ERR MULTI calls can not be nested"); return true }
            transaction = QueuedTransaction()
            transactionKey = watched?.key
            reply(LocalCommand.ok)
        case "discard":
            guard transaction != nil else { replyError("ERR DISCARD without MULTI"); return true }
            transaction = nil
            forgetWatch()
            reply(LocalCommand.ok)
        case "exec":
            return exec()
        case "watch":
            if transaction != nil {
                // Redis runs the EXEC as if this had not been sent.
                replyError("ERR WATCH inside MULTI is not allowed")
                return true
            }
            return watch(frame, base: base, arguments: arguments)
        case "unwatch":
            if let watched {
                self.watched = nil
                read(frame, on: watched.connection)
            } else {
                reply(LocalCommand.ok)
            }
        default:
            replyError("ERR \(info.displayName) is not supported through metacluster")
        }
        return true
    }

    /// A command sent between MULTI and EXEC: checked as Redis checks it, then queued (+QUEUED) or
    /// refused (and the transaction is then discarded at EXEC).
    func queueInTransaction(_ info: CommandInfo?, base: UnsafeRawBufferPointer, arguments: [Range<Int>]) {
        func refuse(_ message: String) {
            transaction!.markDirty()
            replyError(message)
        }
        if let error = transaction!.checkQueueing(info, argumentCount: arguments.count) { return replyError(error) }
        let args = arguments.map { Array(base[$0]) }
        var replication = QueuedReplication.asIs
        var rewritten: [UInt8]? = nil
        if let info {
            switch info.access {
            case .read:
                replication = .dropped
            case .write:
                if let kind = DeterministicRewrite.blockingKind(info.name) {
                    // Inside MULTI a blocking command does not block: it takes what is there, or
                    // nothing; XREADGROUP delivers what the deciding cluster has.
                    replication = .decided(kind)
                } else if info.flags.contains(.relativeExpiry) || info.flags.contains(.nondeterministic) {
                    switch DeterministicRewrite.plan(info.name, args, nowMs: Posix.wallClockMilliseconds()) {
                    case .asIs: break
                    case .rewritten(let frame): rewritten = frame
                    case .decideLocally(let kind): replication = .decided(kind)
                    case .refuse(let reason): return refuse("ERR \(reason)")
                    }
                } else if AdminAllowList.isGuardedWrite(info) && !worker.allowedCommands.allows(info) {
                    return refuse("ERR \(info.displayName) is disabled: it would empty every cluster; list it in allowCommands (or set allowFlush) in the config")
                }
            case .proxyAnswered:
                replication = .dropped   // PING, ECHO (queueCheck refused the others)
            case .unsupported(let reason):
                // Allowed administrative commands too: they go to every server at once, not in a block.
                return refuse("ERR \(reason)")
            case .connectionState, .stateful:
                return refuse("ERR Command not allowed inside a transaction")
            }
        }
        if router.isSharded, let info, !placeTransactionKeys(info, base: base, arguments: arguments) {
            return refuse("CROSSSHARD Keys in a transaction must live on one server of each cluster through metacluster: give them one hash tag, e.g. {user1}:a and {user1}:b")
        }
        if let rewritten {
            transaction!.queue(rewritten: rewritten)
        } else {
            transaction!.queue(args, replication: replication)
        }
        reply(Self.queued)
    }

    /// EXEC: answers EXECABORT for a transaction refused while queued, null when its WATCH was lost,
    /// else runs the block (see the type's comment).
    private func exec() -> Bool {
        guard let queued = transaction else {
            replyError("ERR EXEC without MULTI")
            return true
        }
        if queued.isDirty {
            transaction = nil
            forgetWatch()
            replyError(QueuedTransaction.execAbortError)
            return true
        }
        let watched = self.watched
        if let watched, watched.connection.failures != watched.failures {
            // The connection that held the WATCH failed, and its watch with it: the keys may have
            // changed unseen, which is what a failed WATCH reports.
            transaction = nil
            forgetWatch()
            reply(Self.nullArray(protocolVersion))
            return true
        }
        // The client's earlier writes must be in on the deciding server before the block runs there
        // on another connection.
        if watched != nil && !awaitSettled() { return false }
        transaction = nil
        self.watched = nil
        pendingDecision = .transaction(queued)
        waitingForDecision = true
        channel.pauseReading()
        let block = queued.execFrame()
        block.withUnsafeBytes { frame in
            if let key = transactionKey {
                key.withUnsafeBytes { decide(frame, key: $0, on: watched?.connection) }
            } else {
                decide(frame, key: nil, on: watched?.connection)
            }
        }
        return true
    }

    /// WATCH on the client's own connection to the local cluster's server owning the keys.
    private func watch(_ frame: UnsafeRawBufferPointer, base: UnsafeRawBufferPointer, arguments: [Range<Int>]) -> Bool {
        guard let placement = sharedPlacement(Array(1..<arguments.count), base: base, arguments: arguments) else {
            replyError("CROSSSHARD Keys in WATCH must live on one server of each cluster through metacluster: give them one hash tag")
            return true
        }
        if let watched {
            guard watched.shard == placement.shard(watched.cluster) else {
                replyError("CROSSSHARD Keys in WATCH must live on the server of the keys already watched: give them one hash tag")
                return true
            }
            read(frame, on: watched.connection)
            return true
        }
        guard awaitSettled() else { return false }
        guard let cluster = router.readTarget(placement) else {
            reply(RedisWire.noClusterReply)
            return true
        }
        let shard = placement.shard(cluster)
        let connection = dedicated.connection(router, cluster: cluster, shard: shard, variant: variant)
        watched = Watch(cluster: cluster, shard: shard, connection: connection, failures: connection.failures,
                        key: router.isSharded ? Array(base[arguments[1]]) : nil)
        read(frame, on: connection)
        return true
    }

    /// Forgets the WATCH when no EXEC ran (DISCARD, a refused EXEC): the server is told too, or its
    /// watched keys would count in the client's next transaction there.
    func forgetWatch() {
        guard let watched else { return }
        self.watched = nil
        Self.unwatch.withUnsafeBytes { _ = watched.connection.send($0, consumer: DiscardedReplies.shared, tag: 0) }
    }

    static let unwatch: [UInt8] = Array("*1\r\n$7\r\nUNWATCH\r\n".utf8)

    /// Sharded routers: checks that the command's keys live where the transaction's other keys do.
    private func placeTransactionKeys(_ info: CommandInfo, base: UnsafeRawBufferPointer, arguments: [Range<Int>]) -> Bool {
        let keys = keyPositions(info, base: base, arguments: arguments)
        guard let first = keys.first else { return true }
        guard let placement = sharedPlacement(keys, base: base, arguments: arguments) else { return false }
        if transactionKey == nil { transactionKey = Array(base[arguments[first]]) }
        var anchor = Placement()
        transactionKey!.withUnsafeBytes { router.place(key: $0, into: &anchor) }
        return placement.shards == anchor.shards
    }

    static let queued: [UInt8] = Array("+QUEUED\r\n".utf8)

    static func nullArray(_ protocolVersion: Int) -> [UInt8] {
        protocolVersion == 3 ? Array("_\r\n".utf8) : Array("*-1\r\n".utf8)
    }
}

/// Where a client's WATCH runs, and the connection's failure count then (a later failure lost it).
struct Watch {
    let cluster: Int
    let shard: Int
    let connection: BackendConnection<RedisWire>
    let failures: Int
    /// Sharded routers: a watched key, which places the transaction.
    let key: [UInt8]?
}
