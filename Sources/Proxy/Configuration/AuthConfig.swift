/// Passwords: the ones clients give the proxy (`requirepass`, `users`) and the ones the proxy gives
/// a cluster's redis servers (`clusters[].redisAuth`).
///
/// Contract: no value here ever prints a password. `description`, `debugDescription` and the
/// reflection mirror (`dump`, string interpolation of an enclosing struct) show user names only, so
/// a configuration may be logged or put in an error message without leaking a secret.

/// What metacluster sends on each new backend redis connection of one cluster: `AUTH [user]
/// password`, or `HELLO 3 AUTH user password` on RESP3 connections (user `default` when nil).
public struct BackendCredentials: Sendable, Equatable, CustomStringConvertible, CustomDebugStringConvertible,
    CustomReflectable
{
    /// The ACL user; nil authenticates as redis's `default` user (`AUTH <password>`).
    public var user: String?
    public var password: String

    public init(user: String? = nil, password: String) {
        self.user = user
        self.password = password
    }

    public var description: String { "BackendCredentials(user: \(user ?? "default"), password: \(Redacted.text))" }
    public var debugDescription: String { description }
    public var customMirror: Mirror { Mirror(self, children: ["user": user as Any, "password": Redacted.text]) }
}

/// One user clients may authenticate as (`AUTH user password`).
public struct ClientUser: Sendable, Equatable, CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
    /// `default` is the user of `AUTH <password>` and of `requirepass`.
    public var name: String
    public var password: String

    public init(name: String, password: String) {
        self.name = name
        self.password = password
    }

    public var description: String { "ClientUser(name: \(name), password: \(Redacted.text))" }
    public var debugDescription: String { description }
    public var customMirror: Mirror { Mirror(self, children: ["name": name, "password": Redacted.text]) }
}

/// The users the redis listener accepts. With none, no client needs to authenticate (redis's
/// `default` user with `nopass`); with any, every client must, before any command but AUTH, HELLO,
/// QUIT and RESET. A user that is not listed, `default` included, cannot authenticate then.
public struct ClientAuthConfig: Sendable, Equatable, CustomStringConvertible, CustomDebugStringConvertible,
    CustomReflectable
{
    /// In configuration order; names are unique (the loader rejects duplicates).
    public let users: [ClientUser]
    private let passwordsByName: [String: String]

    public init(users: [ClientUser] = []) {
        self.users = users
        // First one wins should a caller bypass the loader's uniqueness rule.
        self.passwordsByName = Dictionary(users.map { ($0.name, $0.password) }, uniquingKeysWith: { first, _ in first })
    }

    /// Whether clients must authenticate: some password is configured.
    public var isRequired: Bool { !users.isEmpty }

    /// `user`'s password, nil when the user is not configured.
    public func password(of user: String) -> String? { passwordsByName[user] }

    public static func == (a: ClientAuthConfig, b: ClientAuthConfig) -> Bool { a.users == b.users }

    public var description: String {
        "ClientAuthConfig(users: [\(users.map(\.name).joined(separator: ", "))], passwords: \(Redacted.text))"
    }
    public var debugDescription: String { description }
    public var customMirror: Mirror { Mirror(self, children: ["users": users.map(\.name), "passwords": Redacted.text]) }
}

/// What a password prints as.
enum Redacted {
    static let text = "<redacted>"
}
