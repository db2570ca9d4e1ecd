import RedisProtocol

/// The `clusters`, `timeouts`, `limits` and `allowCommands` sections. Each returns nil after
/// recording its problems.
extension ConfigValidator {
    mutating func clusters(_ value: JSONTree?, listen: Listen) -> [ClusterConfig]? {
        guard let value else {
            reader.fail("clusters", "required key is missing; list at least one cluster")
            return nil
        }
        guard let elements = reader.array(value, at: "clusters", of: "cluster objects") else { return nil }
        if elements.isEmpty {
            reader.fail("clusters", "must list at least one cluster")
            return nil
        }
        var clusters: [ClusterConfig] = []
        var firstUse: [String: String] = [:]  // cluster name -> path of its first use
        var valid = true
        for (index, element) in elements.enumerated() {
            let path = ConfigPath.index("clusters", index)
            let (name, cluster) = self.cluster(element, at: path, listen: listen)
            // Names are compared even when the rest of the cluster is invalid, so one run shows both.
            if let name {
                let namePath = ConfigPath.key(path, "name")
                if let first = firstUse[name] {
                    reader.fail(namePath, "duplicate cluster name \(ConfigPath.quoted(name)) (first used at \(first))")
                    valid = false
                } else {
                    firstUse[name] = namePath
                }
            }
            if let cluster { clusters.append(cluster) } else { valid = false }
        }
        return valid ? clusters : nil
    }

    /// The cluster's name when the name itself is valid, and the whole cluster when everything is.
    private mutating func cluster(_ value: JSONTree, at path: String, listen: Listen) -> (name: String?, config: ClusterConfig?) {
        guard let members = reader.object(value, at: path, allowed: ConfigSchema.clusterKeys) else { return (nil, nil) }
        var valid = true

        var name: String?
        if let member = members["name"] {
            if let text = reader.string(member, at: ConfigPath.key(path, "name")), checkClusterName(text, at: ConfigPath.key(path, "name")) {
                name = text
            } else {
                valid = false
            }
        } else {
            reader.fail(ConfigPath.key(path, "name"), "required key is missing")
            valid = false
        }

        var local = false
        if let member = members["local"] {
            if let flag = reader.bool(member, at: ConfigPath.key(path, "local")) { local = flag } else { valid = false }
        }

        // Server endpoints must be unique within the cluster across both protocols (see `serverList`).
        var seen: [Endpoint: String] = [:]
        var lists: [String: ServerList] = [:]
        for key in ConfigSchema.protocolKeys {
            guard let member = members[key] else { continue }
            let list = serverList(member, at: ConfigPath.key(path, key), seen: &seen, listen: listen)
            if !list.valid { valid = false }
            lists[key] = list
        }
        // Cluster-level sharding options apply to both lists, unless a list's object form overrides them.
        let shared = shardingOptions(members, at: path)
        if shared == nil { valid = false }

        var redisAuth: BackendCredentials?
        if let member = members["redisAuth"] {
            redisAuth = backendCredentials(member, at: ConfigPath.key(path, "redisAuth"))
            if redisAuth == nil { valid = false }
        }

        // Every write goes to every cluster, so each cluster needs servers for every protocol the proxy
        // serves. A list that is not a list, or has only bad entries, already has its own problems.
        for (key, isSet) in [("redis", listen.redisSet), ("memcached", listen.memcachedSet)] where isSet {
            let notAList = members[key] != nil && lists[key]?.count == nil
            if !notAList && (lists[key]?.count ?? 0) == 0 {
                reader.fail(path, "has no \(key) servers, but listen.\(key) is set; every cluster needs \(key) servers")
                valid = false
            }
        }
        guard valid, let name, let shared else { return (name, nil) }
        let redis = lists["redis"] ?? ServerList()
        let memcached = lists["memcached"] ?? ServerList()
        return (name, ClusterConfig(
            name: name, local: local, redis: redis.servers, memcached: memcached.servers,
            redisSharding: ShardingOptions.resolved(list: redis.options, cluster: shared, defaults: .redisDefault),
            memcachedSharding: ShardingOptions.resolved(list: memcached.options, cluster: shared, defaults: .memcachedDefault),
            redisAuth: redisAuth))
    }

    private mutating func checkClusterName(_ name: String, at path: String) -> Bool {
        if name.isEmpty {
            reader.fail(path, "must not be empty")
            return false
        }
        let allowed = name.unicodeScalars.allSatisfy { scalar in
            scalar.isASCII
                && (("a"..."z").contains(scalar) || ("A"..."Z").contains(scalar) || ("0"..."9").contains(scalar)
                    || scalar == "." || scalar == "_" || scalar == "-")
        }
        if !allowed {
            reader.fail(path, "may contain only letters A-Z a-z, digits, '.', '_' and '-', got \(ConfigPath.quoted(name))")
            return false
        }
        if name.count > ConfigSchema.clusterNameMaxLength {
            reader.fail(path, "must be at most \(ConfigSchema.clusterNameMaxLength) characters long, got \(name.count)")
            return false
        }
        return true
    }

    mutating func timeouts(_ value: JSONTree?) -> TimeoutConfig? {
        var config = TimeoutConfig()
        guard let value else { return config }
        let keys = ConfigSchema.timeoutKeys
        guard let members = reader.object(value, at: "timeouts", allowed: keys.map(\.key)) else { return nil }
        var valid = true
        for (key, field) in keys {
            guard let member = members[key] else { continue }
            if let ms = reader.integer(member, at: "timeouts.\(key)", in: ConfigSchema.timeoutMs) {
                config[keyPath: field] = .milliseconds(ms)
            } else {
                valid = false
            }
        }
        guard valid else { return nil }
        // Compared on the effective values, so a lone reconnectMaxMs below the default minimum is caught too;
        // the problem goes on whichever of the two the file actually set.
        if config.reconnectMin > config.reconnectMax {
            let minMs = Self.milliseconds(config.reconnectMin)
            let maxMs = Self.milliseconds(config.reconnectMax)
            if members["reconnectMinMs"] != nil {
                reader.fail("timeouts.reconnectMinMs", "must not exceed reconnectMaxMs (\(maxMs)), got \(minMs)")
            } else {
                reader.fail("timeouts.reconnectMaxMs", "must be at least reconnectMinMs (\(minMs)), got \(maxMs)")
            }
            return nil
        }
        return config
    }

    /// A section whose keys are all integers with a range (`limits`, `health`, `backlog`).
    mutating func integerSection<T>(
        _ value: JSONTree?, _ name: String, _ keys: [(key: String, range: ClosedRange<Int>, field: WritableKeyPath<T, Int>)],
        _ defaults: T
    ) -> T? {
        var config = defaults
        guard let value else { return config }
        guard let members = reader.object(value, at: name, allowed: keys.map(\.key)) else { return nil }
        var valid = true
        for (key, range, field) in keys {
            guard let member = members[key] else { continue }
            if let number = reader.integer(member, at: "\(name).\(key)", in: range) {
                config[keyPath: field] = number
            } else {
                valid = false
            }
        }
        return valid ? config : nil
    }

    static func milliseconds(_ duration: Duration) -> Int64 {
        let (seconds, attoseconds) = duration.components
        return seconds * 1000 + attoseconds / 1_000_000_000_000_000
    }

    /// `allowCommands`: redis commands refused by default that clients may run (see
    /// `AdminAllowList`). Each entry becomes its command table name; every bad entry is reported
    /// with its own path, naming the command.
    mutating func allowCommands(_ value: JSONTree) -> [String]? {
        guard let elements = reader.array(value, at: "allowCommands", of: "command names") else { return nil }
        var names: [String] = []
        var firstUse: [String: String] = [:]  // table name -> path of its first entry
        var valid = true
        for (index, element) in elements.enumerated() {
            let path = ConfigPath.index("allowCommands", index)
            guard let text = reader.string(element, at: path) else { valid = false; continue }
            switch AdminAllowList.entry(text) {
            case .success(let name):
                if let first = firstUse[name] {
                    reader.fail(path, "\(ConfigPath.quoted(text)) is listed twice (first at \(first))")
                    valid = false
                } else {
                    firstUse[name] = path
                    names.append(name)
                }
            case .failure(let error):
                reader.fail(path, "\(ConfigPath.quoted(text)): \(error.reason)")
                valid = false
            }
        }
        return valid ? names : nil
    }
}
