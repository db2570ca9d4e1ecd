import RedisProtocol
/// Decides what redis clients' AUTH and HELLO ... AUTH give them, and which commands need an
/// authenticated connection, under one `ClientAuthConfig`. Semantics follow Redis 7; pure (no
/// sockets, no session), so every case can be tested alone.
///
/// Contract:
/// - Without configured users (`isRequired` false) every connection is redis's `default` user with
///   `nopass`: commands need no AUTH, `AUTH <password>` is an error (no password configured) and
///   `AUTH default <anything>` succeeds, as with redis.
/// - With users, a connection must authenticate before any command but AUTH, HELLO, QUIT and RESET
///   (`mayRunUnauthenticated`). Only configured users can: `default` too, when it has a password
///   (`requirepass`); a user without a password is disabled.
/// - Passwords are compared in time that depends on the length of the attempt only, never on how
///   much of it matches; an unknown user costs the same comparison as a known one.
struct ClientAuthenticator {
    /// What an AUTH attempt gives the connection.
    enum Outcome: Equatable {
        /// Authenticated as `user`.
        case authenticated(user: String)
        /// Wrong password, unknown or disabled user: `WRONGPASS`.
        case refused
        /// `AUTH <password>` while the default user has no password: redis's configuration error.
        case noDefaultPassword
    }

    private let config: ClientAuthConfig
    /// Whether clients must authenticate (a stored copy: the session reads it on every command).
    let isRequired: Bool

    init(_ config: ClientAuthConfig) {
        self.config = config
        self.isRequired = config.isRequired
    }

    /// `AUTH password` (`user` nil: the default user), `AUTH user password`, `HELLO n AUTH user password`.
    func authenticate(user: String?, password: some Collection<UInt8>) -> Outcome {
        guard let user else {
            guard config.password(of: "default") != nil else { return .noDefaultPassword }
            return check(user: "default", password: password)
        }
        guard isRequired else {
            // No password anywhere: `default` is `nopass` and takes any password; no other user exists.
            return user == "default" ? .authenticated(user: user) : .refused
        }
        return check(user: user, password: password)
    }

    private func check(user: String, password: some Collection<UInt8>) -> Outcome {
        guard let expected = config.password(of: user) else {
            // Same work as for a known user, so the time taken does not tell which users exist.
            _ = Self.constantTimeEqual(Array(password), Self.unknownUserPassword)
            return .refused
        }
        return Self.constantTimeEqual(Array(password), Array(expected.utf8)) ? .authenticated(user: user) : .refused
    }

    private static let unknownUserPassword = Array("metacluster: no such user".utf8)

    /// Equal bytes, compared in time that depends on `attempt`'s length only: every byte of the
    /// attempt is compared, whatever matched before it, and the lengths are compared alongside.
    static func constantTimeEqual(_ attempt: [UInt8], _ expected: [UInt8]) -> Bool {
        var difference = UInt64(truncatingIfNeeded: attempt.count ^ expected.count)
        if expected.isEmpty { return attempt.isEmpty }
        for i in 0..<attempt.count {
            difference |= UInt64(attempt[i] ^ expected[i % expected.count])
        }
        return difference == 0
    }

    /// Whether a connection that has not authenticated may run the command named `name` (as sent,
    /// any case): AUTH, HELLO (which may carry AUTH), QUIT and RESET, as redis allows.
    static func mayRunUnauthenticated(_ name: UnsafeRawBufferPointer) -> Bool {
        switch name.count {
        case 4: return CommandASCII.equals(name, "auth") || CommandASCII.equals(name, "quit")
        case 5: return CommandASCII.equals(name, "hello") || CommandASCII.equals(name, "reset")
        default: return false
        }
    }

    static let noAuth = "NOAUTH Authentication required."
    /// Redis 7.0's wording (7.2 says `HELLO <proto> AUTH`), as the version the proxy advertises.
    static let helloNoAuth = "NOAUTH HELLO must be called with the client already authenticated, otherwise the HELLO AUTH <user> <pass> option can be used to authenticate the client and select the RESP protocol version at the same time"
    static let wrongPass = "WRONGPASS invalid username-password pair or user is disabled."
    static let noDefaultPassword = "ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?"
}
