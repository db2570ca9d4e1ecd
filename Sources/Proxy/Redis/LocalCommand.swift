import RedisProtocol

/// A command the proxy answers itself (PING, ECHO, QUIT, HELLO, CLIENT ID/GETNAME/SETNAME/SETINFO)
/// or that sets per-connection state (SELECT, AUTH, RESET). Semantics follow Redis 7.
///
/// Contract: `run()` appends exactly one reply to the session, in order. AUTH and HELLO ... AUTH
/// authenticate the session as `ClientAuthenticator` decides; a refused attempt is counted and logged
/// (user and client address, never the password).
struct LocalCommand {
    let session: RedisClientSession
    let info: CommandInfo
    let base: UnsafeRawBufferPointer
    let arguments: [Range<Int>]

    private func arg(_ i: Int) -> UnsafeRawBufferPointer { UnsafeRawBufferPointer(rebasing: base[arguments[i]]) }
    private func text(_ i: Int) -> String { String(decoding: arg(i), as: UTF8.self) }
    private func upper(_ i: Int) -> String { text(i).uppercased() }

    /// Commands that change which backend connection later commands use must wait until the
    /// replies to earlier commands are in, or the two connections could reorder them.
    var needsBarrier: Bool {
        switch info.name {
        case "hello":
            guard arguments.count > 1, let v = Int(text(1)) else { return false }
            return v != session.protocolVersion
        case "reset":
            return session.protocolVersion != 2
        default:
            return false
        }
    }

    func run() {
        switch info.name {
        case "ping": ping()
        case "echo":
            guard arguments.count == 2 else { return wrongArity() }
            session.reply(bulk(arg(1)))
        case "quit":
            session.reply(Self.ok)
            session.finishAfterReplies()
        case "hello": hello()
        case "select":
            guard arguments.count == 2 else { return wrongArity() }
            guard let db = Int(text(1)) else { return session.replyError("ERR value is not an integer or out of range") }
            if db == 0 { session.reply(Self.ok) } else {
                session.replyError("ERR SELECT \(db): metacluster serves database 0 only")
            }
        case "auth": auth()
        case "reset":
            // Out of subscribed mode, MULTI discarded, WATCH forgotten, as Redis's RESET does.
            session.dropStatefulState()
            session.protocolVersion = 2
            session.name = nil
            // Back to the default user, as redis does: it needs AUTH again when passwords are set.
            session.authenticatedUser = nil
            var out: [UInt8] = []
            RESPEncoder.simpleString("RESET", into: &out)
            session.reply(out)
        case "client|id":
            var out: [UInt8] = []
            RESPEncoder.integer(session.id, into: &out)
            session.reply(out)
        case "client|getname":
            if let name = session.name { session.reply(bulk(name)) } else { session.reply(null()) }
        case "client|setname":
            guard arguments.count == 3 else { return wrongArity() }
            setName(arg(2))
        case "client|setinfo":
            // Library name/version describe the client to the server; the proxy keeps no such
            // per-client record on the shared backend connections, so it accepts and drops them.
            guard arguments.count == 4 else { return wrongArity() }
            session.reply(Self.ok)
        case "client|info":
            let name = session.name.map { String(decoding: $0, as: UTF8.self) } ?? ""
            let line = "id=\(session.id) addr=\(session.peer) laddr=\(session.local) name=\(name) db=0 resp=\(session.protocolVersion) lib=metacluster-proxy\n"
            session.reply(bulk(Array(line.utf8)))
        case "acl|whoami":
            session.reply(bulk(Array((session.authenticatedUser ?? "default").utf8)))
        case "readonly", "readwrite":
            // What a standalone redis says: the proxy presents itself as one non-cluster server.
            session.replyError("ERR This instance has cluster support disabled")
        default:
            session.replyError("ERR \(displayName) is not supported through metacluster")
        }
    }

    private var displayName: String { info.name.replacingOccurrences(of: "|", with: " ").uppercased() }

    private func wrongArity() {
        session.replyError("ERR wrong number of arguments for '\(info.name.replacingOccurrences(of: "|", with: " "))' command")
    }

    private func ping() {
        switch arguments.count {
        case 1:
            var out: [UInt8] = []
            RESPEncoder.simpleString("PONG", into: &out)
            session.reply(out)
        case 2: session.reply(bulk(arg(1)))
        default: wrongArity()
        }
    }

    private func auth() {
        switch arguments.count {
        case 2: if authenticate(user: nil, password: arg(1)) { session.reply(Self.ok) }
        case 3: if authenticate(user: text(1), password: arg(2)) { session.reply(Self.ok) }
        case 1: wrongArity()
        default: session.replyError("ERR syntax error")
        }
    }

    /// Authenticates the session, or answers with the error and returns false.
    private func authenticate(user: String?, password: UnsafeRawBufferPointer) -> Bool {
        let worker = session.worker
        switch worker.clientAuth.authenticate(user: user, password: password) {
        case .authenticated(let user):
            session.authenticatedUser = user
            return true
        case .noDefaultPassword:
            session.replyError(ClientAuthenticator.noDefaultPassword)
        case .refused:
            worker.clientCount.authFailures.bump()
            if worker.authFailureLog.allow(now: worker.loop.batchTime) {
                session.logger.info("client authentication failed", metadata: [
                    "user": "\(user ?? "default")", "address": "\(session.peer)",
                ])
            }
            session.replyError(ClientAuthenticator.wrongPass)
        }
        return false
    }

    private func setName(_ name: UnsafeRawBufferPointer) -> Void {
        if name.contains(where: { $0 <= 32 || $0 >= 127 }) {
            return session.replyError("ERR Client names cannot contain spaces, newlines or special characters.")
        }
        session.name = name.isEmpty ? nil : Array(name)
        session.reply(Self.ok)
    }

    private func hello() {
        var version = session.protocolVersion
        var i = 1
        if arguments.count > 1 {
            guard let v = Int(text(1)) else {
                return session.replyError("ERR Protocol version is not an integer or out of range")
            }
            guard v == 2 || v == 3 else { return session.replyError("NOPROTO unsupported protocol version") }
            version = v
            i = 2
        }
        if version != session.protocolVersion && !session.subscriptions.isEmpty {
            // The subscription connections speak the client's protocol; they cannot switch under it.
            return session.replyError("ERR HELLO cannot switch the protocol of a subscribed connection through metacluster")
        }
        var newName: UnsafeRawBufferPointer? = nil
        while i < arguments.count {
            let option = upper(i)
            if option == "AUTH" && i + 2 < arguments.count {
                // Redis 7.0 authenticates as soon as it reads the option: a later bad option is
                // reported, but the connection stays authenticated.
                guard authenticate(user: text(i + 1), password: arg(i + 2)) else { return }
                i += 3
            } else if option == "SETNAME" && i + 1 < arguments.count {
                let candidate = arg(i + 1)
                if candidate.contains(where: { $0 <= 32 || $0 >= 127 }) {
                    return session.replyError("ERR Client names cannot contain spaces, newlines or special characters.")
                }
                newName = candidate
                i += 2
            } else {
                return session.replyError("ERR Syntax error in HELLO option '\(text(i))'")
            }
        }
        if session.authenticatedUser == nil && session.worker.clientAuth.isRequired {
            return session.replyError(ClientAuthenticator.helloNoAuth)
        }
        session.protocolVersion = version
        if let newName { session.name = newName.isEmpty ? nil : Array(newName) }
        var out: [UInt8] = []
        RESPEncoder.mapHeader(7, protocolVersion: version, into: &out)
        RESPEncoder.bulk("server", into: &out)
        RESPEncoder.bulk("redis", into: &out)
        RESPEncoder.bulk("version", into: &out)
        RESPEncoder.bulk(session.worker.advertisedVersion, into: &out)
        RESPEncoder.bulk("proto", into: &out)
        RESPEncoder.integer(version, into: &out)
        RESPEncoder.bulk("id", into: &out)
        RESPEncoder.integer(session.id, into: &out)
        RESPEncoder.bulk("mode", into: &out)
        RESPEncoder.bulk("standalone", into: &out)
        RESPEncoder.bulk("role", into: &out)
        RESPEncoder.bulk("master", into: &out)
        RESPEncoder.bulk("modules", into: &out)
        RESPEncoder.arrayHeader(0, into: &out)
        session.reply(out)
    }

    private func bulk(_ bytes: some Collection<UInt8>) -> [UInt8] {
        var out: [UInt8] = []
        RESPEncoder.bulk(bytes, into: &out)
        return out
    }

    private func null() -> [UInt8] {
        var out: [UInt8] = []
        RESPEncoder.null(protocolVersion: session.protocolVersion, into: &out)
        return out
    }

    static let ok: [UInt8] = Array("+OK\r\n".utf8)
}
