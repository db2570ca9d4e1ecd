/// The password keys: `requirepass` and `users` (what clients of the redis listener authenticate
/// with) and `clusters[].redisAuth` (what the proxy authenticates with on a cluster's redis servers).
///
/// No problem recorded here quotes a password: a value of the wrong type is named by its kind only
/// (`JSONTree.kindDescription` would print a number's value), and an empty one is just "empty".
extension ConfigValidator {
    /// `requirepass` (the `default` user's password) and `users` together; nil after a problem.
    mutating func clientAuth(requirepass: JSONTree?, users: JSONTree?, listen: Listen) -> ClientAuthConfig? {
        var valid = true
        var list: [ClientUser] = []
        var firstUse: [String: String] = [:]  // user name -> path of its first definition
        if let requirepass {
            if let password = secret(requirepass, at: "requirepass") {
                list.append(ClientUser(name: "default", password: password))
                firstUse["default"] = "requirepass"
            } else {
                valid = false
            }
        }
        if let users {
            if let elements = reader.array(users, at: "users", of: "user objects ({\"user\": ..., \"password\": ...})") {
                for (index, element) in elements.enumerated() {
                    let path = ConfigPath.index("users", index)
                    let (name, user) = clientUser(element, at: path)
                    if let name {
                        let namePath = ConfigPath.key(path, "user")
                        if let first = firstUse[name] {
                            if first == "requirepass" {
                                reader.fail(namePath, "user \"default\" also gets its password from requirepass; set it in one place only (remove requirepass or this entry)")
                            } else {
                                reader.fail(namePath, "duplicate user \(ConfigPath.quoted(name)) (first defined at \(first))")
                            }
                            valid = false
                        } else {
                            firstUse[name] = namePath
                        }
                    }
                    if let user { list.append(user) } else { valid = false }
                }
            } else {
                valid = false
            }
        }
        if (requirepass != nil || users != nil) && !listen.redisSet {
            // A memcached-only proxy would accept anyone: say so rather than let the file suggest otherwise.
            reader.fail(requirepass != nil ? "requirepass" : "users", "client passwords protect the redis listener, and listen.redis is not set (memcached clients are not authenticated)")
            valid = false
        }
        return valid ? ClientAuthConfig(users: list) : nil
    }

    /// One `users` entry: its name when the name is valid (for the duplicate check), and the whole
    /// user when everything is.
    private mutating func clientUser(_ value: JSONTree, at path: String) -> (name: String?, user: ClientUser?) {
        guard let members = reader.object(value, at: path, allowed: ConfigSchema.userKeys) else { return (nil, nil) }
        var name: String?
        let namePath = ConfigPath.key(path, "user")
        if let member = members["user"] {
            name = userName(member, at: namePath)
        } else {
            reader.fail(namePath, "required key is missing")
        }
        let password = requiredSecret(members["password"], at: ConfigPath.key(path, "password"))
        guard let name, let password else { return (name, nil) }
        return (name, ClientUser(name: name, password: password))
    }

    /// `clusters[i].redisAuth`: `{"password": ...}` or `{"user": ..., "password": ...}`.
    mutating func backendCredentials(_ value: JSONTree, at path: String) -> BackendCredentials? {
        guard let members = reader.object(value, at: path, allowed: ConfigSchema.redisAuthKeys) else { return nil }
        var valid = true
        var user: String?
        if let member = members["user"] {
            user = userName(member, at: ConfigPath.key(path, "user"))
            valid = user != nil
        }
        let password = requiredSecret(members["password"], at: ConfigPath.key(path, "password"))
        guard valid, let password else { return nil }
        return BackendCredentials(user: user, password: password)
    }

    /// A redis ACL user name: not empty, no whitespace or control characters (redis refuses those).
    private mutating func userName(_ value: JSONTree, at path: String) -> String? {
        guard let text = reader.string(value, at: path) else { return nil }
        if text.isEmpty {
            reader.fail(path, "must not be empty")
            return nil
        }
        if text.unicodeScalars.contains(where: { $0.properties.isWhitespace || $0.value < 0x20 || $0.value == 0x7F }) {
            reader.fail(path, "must not contain spaces or control characters, got \(ConfigPath.quoted(text))")
            return nil
        }
        return text
    }

    private mutating func requiredSecret(_ value: JSONTree?, at path: String) -> String? {
        guard let value else {
            reader.fail(path, "required key is missing")
            return nil
        }
        return secret(value, at: path)
    }

    /// A password: a non-empty string, never echoed in a problem.
    private mutating func secret(_ value: JSONTree, at path: String) -> String? {
        guard case .string(let text) = value else {
            let kind: String
            switch value {
            case .number, .integer: kind = "a number"
            default: kind = value.kindDescription
            }
            reader.fail(path, "expected a string, got \(kind)")
            return nil
        }
        if text.isEmpty {
            reader.fail(path, "must not be empty; leave the key out for no password")
            return nil
        }
        return text
    }
}
