import Routing

/// A cluster's server lists (`clusters[].redis`, `clusters[].memcached`), their entries, and the
/// sharding options (`distribution`, `hash`, `hashTag`) at the cluster and the list level.
///
/// A list is an array of servers, or an object `{"servers": [...], "distribution": ..., "hash": ...,
/// "hashTag": ...}`. A server is `"host:port"`, `"host:port:weight"`, `"host:port:weight name"`
/// (twemproxy's forms) or `{"address": "host:port", "weight": 2, "name": "s1"}`.
extension ConfigValidator {
    /// Sharding options as written at one level; a nil field was not set there.
    struct ShardingOptions {
        var distribution: ShardDistribution?
        var hash: KeyHashKind?
        var hashTag: String?

        /// These options over `base`: each one set here replaces base's.
        func over(_ base: ShardingConfig) -> ShardingConfig {
            ShardingConfig(
                distribution: distribution ?? base.distribution, hash: hash ?? base.hash, hashTag: hashTag ?? base.hashTag)
        }

        /// A list's effective options: its own, then the cluster's, then `defaults`. Without a `hash`
        /// anywhere, `libmemcached_ketama` hashes with `one_at_a_time`, libmemcached's default, so that
        /// it mirrors pylibmc's `{"ketama": True}` as written.
        static func resolved(list: ShardingOptions, cluster: ShardingOptions, defaults: ShardingConfig) -> ShardingConfig {
            var config = list.over(cluster.over(defaults))
            if config.distribution == .libmemcachedKetama && list.hash == nil && cluster.hash == nil {
                config.hash = .oneAtATime
            }
            return config
        }
    }

    /// One protocol's list as read.
    struct ServerList {
        var servers: [ServerConfig] = []
        /// Entries written, valid or not; nil when there is no readable array (its problem is recorded).
        var count: Int?
        /// The list's own options (object form), which override the cluster's.
        var options = ShardingOptions()
        var valid = true
    }

    /// One server entry as read: its valid parts, for the duplicate checks, and the whole when it is valid.
    private struct ServerEntry {
        var endpoint: Endpoint?
        var name: (text: String, path: String)?
        var config: ServerConfig?
    }

    /// The sharding keys among `members` (an object whose unknown keys are already reported); nil after
    /// a problem with any of them.
    mutating func shardingOptions(_ members: [String: JSONTree], at path: String) -> ShardingOptions? {
        var options = ShardingOptions()
        var valid = true
        if let member = members["distribution"] {
            options.distribution = named(member, at: ConfigPath.key(path, "distribution"), "distribution", ShardDistribution.self)
            valid = valid && options.distribution != nil
        }
        if let member = members["hash"] {
            options.hash = named(member, at: ConfigPath.key(path, "hash"), "hash", KeyHashKind.self)
            valid = valid && options.hash != nil
        }
        if let member = members["hashTag"] {
            let tagPath = ConfigPath.key(path, "hashTag")
            if let tag = reader.string(member, at: tagPath) {
                // twemproxy's rule: two characters or none. Printable ASCII, so the tag is two bytes of
                // every key it applies to and can be written plainly in the file.
                let scalars = tag.unicodeScalars
                if scalars.isEmpty || (scalars.count == 2 && scalars.allSatisfy { (0x21...0x7E).contains($0.value) }) {
                    options.hashTag = tag
                } else {
                    reader.fail(tagPath, "must be \"\" (no hash tag) or two printable ASCII characters such as \"{}\", got \(ConfigPath.quoted(tag))")
                    valid = false
                }
            } else {
                valid = false
            }
        }
        return valid ? options : nil
    }

    /// A name from a `String`-raw-valued enum; the message lists every valid name.
    private mutating func named<T: RawRepresentable & CaseIterable>(_ value: JSONTree, at path: String, _ what: String, _: T.Type) -> T?
    where T.RawValue == String {
        guard let name = reader.string(value, at: path) else { return nil }
        if let found = T(rawValue: name) { return found }
        let names = T.allCases.map(\.rawValue).joined(separator: ", ")
        reader.fail(path, "unknown \(what) \(ConfigPath.quoted(name)); expected one of \(names)")
        return nil
    }

    /// A protocol's list at `path`. `seen` holds the cluster's servers so far, across both protocols: the
    /// same host:port cannot be a redis and a memcached server, and listing one twice would double its
    /// share of keys.
    mutating func serverList(_ value: JSONTree, at path: String, seen: inout [Endpoint: String], listen: Listen) -> ServerList {
        var list = ServerList()
        var elements: [JSONTree]?
        var elementsPath = path
        var listMembers: [String: JSONTree]?  // the object form's members, for its options
        if case .object(let written) = value {
            if written["address"] != nil && written["servers"] == nil {
                // One server object where a list was meant: the likeliest slip with the object form.
                reader.fail(path, "expected an array of servers or an object with \"servers\", got a single server object; write a list even for one server: [{\"address\": ...}]")
                list.valid = false
                return list
            }
            let members = reader.object(value, at: path, allowed: ConfigSchema.serverListKeys) ?? [:]
            listMembers = members
            elementsPath = ConfigPath.key(path, "servers")
            if let servers = members["servers"] {
                elements = serverArray(servers, at: elementsPath, objectForm: false)
            } else {
                reader.fail(elementsPath, "required key is missing")
            }
        } else {
            elements = serverArray(value, at: path, objectForm: true)
        }
        if let elements {
            list.count = elements.count
            serverEntries(elements, at: elementsPath, into: &list, seen: &seen, listen: listen)
        } else {
            list.valid = false
        }
        // After the servers, so problems come in the order of the keys.
        if let listMembers {
            if let options = shardingOptions(listMembers, at: path) { list.options = options } else { list.valid = false }
        }
        return list
    }

    /// The entries of a list, appended to `list.servers` when valid, with the duplicate checks.
    private mutating func serverEntries(
        _ elements: [JSONTree], at elementsPath: String, into list: inout ServerList, seen: inout [Endpoint: String], listen: Listen
    ) {
        var names: [String: String] = [:]  // server name -> path of its first use in this list
        for (index, element) in elements.enumerated() {
            let elementPath = ConfigPath.index(elementsPath, index)
            let entry = server(element, at: elementPath)
            if let endpoint = entry.endpoint {
                if let first = seen[endpoint] {
                    reader.fail(elementPath, "duplicate server \(endpoint) (already listed at \(first))")
                    list.valid = false
                } else {
                    seen[endpoint] = elementPath
                }
                if let own = listen.fixed.first(where: { $0.endpoint == endpoint }) {
                    reader.fail(elementPath, "\(endpoint) is the proxy's own \(own.path) address; the proxy would forward to itself")
                    list.valid = false
                }
            }
            if let name = entry.name {
                // The name stands for the server on the hash ring: two equal names would share their points.
                if let first = names[name.text] {
                    reader.fail(name.path, "duplicate server name \(ConfigPath.quoted(name.text)) (already used at \(first))")
                    list.valid = false
                } else {
                    names[name.text] = name.path
                }
            }
            if let config = entry.config { list.servers.append(config) } else { list.valid = false }
        }
    }

    /// The array of server entries; a string gets the fix in its message (the likeliest slip).
    private mutating func serverArray(_ value: JSONTree, at path: String, objectForm: Bool) -> [JSONTree]? {
        switch value {
        case .array(let elements):
            return elements
        case .string(let text):
            reader.fail(path, "expected an array of \"host:port\" strings, got a string; write a list even for one server: [\(ConfigPath.quoted(text))]")
        default:
            let expected = objectForm ? "an array of servers or an object with \"servers\"" : "an array of servers"
            reader.fail(path, "expected \(expected), got \(value.kindDescription)")
        }
        return nil
    }

    private mutating func server(_ value: JSONTree, at path: String) -> ServerEntry {
        switch value {
        case .string(let text): return serverString(text, at: path)
        case .object: return serverObject(value, at: path)
        default:
            reader.fail(path, "expected a \"host:port\" string or a server object, got \(value.kindDescription)")
            return ServerEntry()
        }
    }

    /// `"host:port"`, `"host:port:weight"` or `"host:port:weight name"`; `[IPv6]` hosts too.
    private mutating func serverString(_ text: String, at path: String) -> ServerEntry {
        var address = Substring(text)
        var name: String?
        if let space = text.firstIndex(where: \.isWhitespace) {
            address = text[..<space]
            let rest = text[text.index(after: space)...]
            guard text[space] == " ", !address.isEmpty, !rest.isEmpty, !rest.contains(where: \.isWhitespace) else {
                reader.fail(path, "whitespace is allowed only as one space between the weight and the name (\"host:port:weight name\"), got \(ConfigPath.quoted(text))")
                return ServerEntry()
            }
            name = String(rest)
        }
        // A weight is a third colon-separated field after the host; a bracketed IPv6 host counts as one field.
        var endpointText = address
        var weightText: Substring?
        let afterHost = address.hasPrefix("[") ? address[(address.firstIndex(of: "]") ?? address.startIndex)...] : address
        if afterHost.count(where: { $0 == ":" }) == 2, let colon = address.lastIndex(of: ":") {
            endpointText = address[..<colon]
            weightText = address[address.index(after: colon)...]
        }
        let endpoint: Endpoint
        switch ConfigReader.parseEndpoint(String(endpointText), listener: false) {
        case .success(let parsed):
            endpoint = parsed
        case .failure(.malformed):
            reader.fail(path, "expected \"host:port\", \"host:port:weight\" or \"host:port:weight name\" (e.g. \"10.0.0.1:6379:2 s1\"), got \(ConfigPath.quoted(text))")
            return ServerEntry()
        case .failure(let fault):
            reader.fail(path, fault.reason(for: String(endpointText), listener: false))
            return ServerEntry()
        }
        var weight = 1
        if let weightText {
            let range = ConfigSchema.serverWeight
            guard !weightText.isEmpty, weightText.utf8.allSatisfy({ (0x30...0x39).contains($0) }) else {
                reader.fail(path, "weight must be an integer between \(range.lowerBound) and \(range.upperBound), got \(ConfigPath.quoted(String(weightText)))")
                return ServerEntry()
            }
            guard let parsed = Int(weightText), range.contains(parsed) else {
                reader.fail(path, "weight must be between \(range.lowerBound) and \(range.upperBound), got \(weightText)")
                return ServerEntry()
            }
            weight = parsed
        } else if let name {
            // twemproxy's form always has the weight before the name; without it the text is ambiguous.
            reader.fail(path, "a server name needs a weight before it (\"host:port:weight name\", e.g. \(ConfigPath.quoted("\(endpoint):1 \(name)"))), got \(ConfigPath.quoted(text))")
            return ServerEntry()
        }
        return ServerEntry(
            endpoint: endpoint, name: name.map { ($0, path) }, config: ServerConfig(endpoint: endpoint, weight: weight, name: name))
    }

    /// `{"address": "host:port", "weight": 2, "name": "s1"}`, weight and name optional.
    private mutating func serverObject(_ value: JSONTree, at path: String) -> ServerEntry {
        guard let members = reader.object(value, at: path, allowed: ConfigSchema.serverKeys) else { return ServerEntry() }
        var entry = ServerEntry()
        var valid = true
        let addressPath = ConfigPath.key(path, "address")
        if let member = members["address"] {
            entry.endpoint = reader.endpoint(member, at: addressPath, listener: false)
            valid = valid && entry.endpoint != nil
        } else {
            reader.fail(addressPath, "required key is missing")
            valid = false
        }
        var weight = 1
        if let member = members["weight"] {
            if let number = reader.integer(member, at: ConfigPath.key(path, "weight"), in: ConfigSchema.serverWeight) {
                weight = number
            } else {
                valid = false
            }
        }
        if let member = members["name"] {
            let namePath = ConfigPath.key(path, "name")
            if let text = reader.string(member, at: namePath), checkServerName(text, at: namePath) {
                entry.name = (text, namePath)
            } else {
                valid = false
            }
        }
        if valid, let endpoint = entry.endpoint {
            entry.config = ServerConfig(endpoint: endpoint, weight: weight, name: entry.name?.text)
        }
        return entry
    }

    /// The string form cannot hold an empty name or one with whitespace; the object form is held to the same.
    private mutating func checkServerName(_ name: String, at path: String) -> Bool {
        if name.isEmpty {
            reader.fail(path, "must not be empty")
            return false
        }
        if name.contains(where: \.isWhitespace) {
            reader.fail(path, "must not contain whitespace, got \(ConfigPath.quoted(name))")
            return false
        }
        return true
    }
}
