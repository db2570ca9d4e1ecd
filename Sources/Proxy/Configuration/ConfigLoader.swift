import Foundation
import Routing

/// Reads and validates the daemon's JSON configuration file (`docs/configuration.md` is the reference).
///
/// Contract: returns a `ProxyConfig` only when the file has no problem at all; otherwise throws
/// `ConfigError` listing every problem found — unknown keys at any level, wrong JSON types, values out of
/// range, broken cross-field rules — each with the path of the offending value. An unreadable file or a
/// JSON syntax error is a single problem with the empty path. Start-up code: it favours clear messages over
/// speed and may use Foundation freely.
public enum ConfigLoader {
    /// Reads and validates the file at `path`. `defaultWorkers` (normally the online CPU count, clamped to
    /// the allowed range) is used when the file has no `workers` key.
    public static func load(path: String, defaultWorkers: Int) throws -> ProxyConfig {
        let data: Data
        do {
            data = try Data(contentsOf: URL(fileURLWithPath: path))
        } catch {
            let reason = "cannot read config file \(ConfigPath.quoted(path)): \(readFailureReason(error))"
            throw ConfigError(problems: [ConfigProblem(path: "", reason: reason)])
        }
        return try parse([UInt8](data), defaultWorkers: defaultWorkers)
    }

    /// Validates the bytes of a configuration file. See `load(path:defaultWorkers:)`.
    public static func parse(_ bytes: [UInt8], defaultWorkers: Int) throws -> ProxyConfig {
        let root = try JSONTree.parse(bytes)
        var validator = ConfigValidator()
        for path in DuplicateKeyScanner.duplicateKeyPaths(in: bytes) {
            validator.reader.fail(path, "duplicate key; an object must not repeat a key (only one of the values would be used)")
        }
        let config = validator.proxyConfig(root, defaultWorkers: defaultWorkers)
        guard let config, validator.reader.problems.isEmpty else {
            let problems = validator.reader.problems
            // Every nil result above records its problem; the fallback only guards that invariant.
            throw ConfigError(problems: problems.isEmpty ? [ConfigProblem(path: "", reason: "invalid configuration")] : problems)
        }
        return config
    }

    // Foundation on Linux wraps the errno in NSUnderlyingError and its own description is the unhelpful
    // "The operation could not be completed"; the POSIX text ("No such file or directory") is what helps.
    private static func readFailureReason(_ error: Error) -> String {
        // The underlying value is not bridged to NSError on Linux, so go through `any Error`.
        let nsError = error as NSError
        if let underlying = nsError.userInfo[NSUnderlyingErrorKey] as? any Error {
            let posix = underlying as NSError
            if posix.domain == NSPOSIXErrorDomain { return String(cString: strerror(Int32(posix.code))) }
        }
        return nsError.localizedDescription
    }
}

/// Keys and ranges of the file, in one place so the docs and the tests can be checked against them.
enum ConfigSchema {
    static let rootKeys = [
        "listen", "workers", "eventLoop", "loopIdleWaitMicros", "clusters", "timeouts", "limits", "writeAck", "health",
        "backlog", "allowFlush", "allowCommands", "verify", "requirepass", "users",
    ]
    static let listenKeys = ["redis", "memcached", "admin"]
    /// `distribution`, `hash` and `hashTag` here apply to both protocols' server lists.
    static let clusterKeys = ["name", "local", "redis", "memcached", "distribution", "hash", "hashTag", "redisAuth"]
    /// A protocol's server list written as an object; its sharding keys override the cluster's.
    static let serverListKeys = ["servers", "distribution", "hash", "hashTag"]
    /// A server written as an object instead of a `"host:port[:weight[ name]]"` string.
    static let serverKeys = ["address", "weight", "name"]
    static let protocolKeys = ["redis", "memcached"]
    /// One element of `users`.
    static let userKeys = ["user", "password"]
    /// A cluster's `redisAuth`.
    static let redisAuthKeys = ["user", "password"]

    /// More threads than this only adds context switches on any machine this runs on.
    static let workers = 1...256
    /// 10 ms: beyond that a parked loop would only delay its own timers.
    static let loopIdleWaitMicros = 0...10_000
    /// Names end up in log lines and metric labels: keep them short and shell/label safe.
    static let clusterNameMaxLength = 64
    /// twemproxy requires a weight above 0. The ceiling keeps a modula table (one slot per unit of
    /// weight) small and catches a byte count or percentage typed where a ratio was meant.
    static let serverWeight = 1...10_000

    /// One hour: long enough for any real timeout, short enough to catch seconds typed as microseconds.
    static let timeoutMs = 1...3_600_000
    static var timeoutKeys: [(key: String, field: WritableKeyPath<TimeoutConfig, Duration>)] {
        [
            ("connectMs", \.connect), ("requestMs", \.request), ("reconnectMinMs", \.reconnectMin),
            ("reconnectMaxMs", \.reconnectMax), ("shutdownMs", \.shutdown),
        ]
    }

    static var limitKeys: [(key: String, range: ClosedRange<Int>, field: WritableKeyPath<LimitConfig, Int>)] {
        [
            // 4 GiB: Redis itself refuses a single string above 512 MiB by default and 4 GiB in any case.
            ("maxBulkBytes", 1...4_294_967_296, \.maxBulkBytes),
            // Redis's own ceiling for a multibulk count (INT_MAX).
            ("maxMultibulkLength", 1...2_147_483_647, \.maxMultibulkLength),
            ("maxInlineBytes", 1...16_777_216, \.maxInlineBytes),
            ("clientOutputLimitBytes", 1...68_719_476_736, \.clientOutputLimitBytes),
            ("maxClientInFlight", 1...1_048_576, \.maxClientInFlight),
            // Linux's default fs.nr_open: no process gets more descriptors than this without sysctl changes.
            ("maxClients", 1...1_048_576, \.maxClients),
            ("backendMaxInFlight", 1...1_048_576, \.backendMaxInFlight),
            // memcached's own ceiling for -I (item_size_max) is 1 GiB.
            ("maxValueBytes", 1...1_073_741_824, \.maxValueBytes),
        ]
    }

    static var healthKeys: [(key: String, range: ClosedRange<Int>, field: WritableKeyPath<HealthConfig, Int>)] {
        [("failureLimit", 1...1000, \.failureLimit), ("probeIntervalMs", 10...3_600_000, \.probeIntervalMs)]
    }

    static var backlogKeys: [(key: String, range: ClosedRange<Int>, field: WritableKeyPath<BacklogConfig, Int>)] {
        [
            ("maxBytes", 0...68_719_476_736, \.maxBytes), ("maxEntries", 0...100_000_000, \.maxEntries),
            ("replayRate", 0...100_000_000, \.replayRate),
        ]
    }

    static let verifyKeys = ["sampleRate", "maxInFlight"]
    /// The backlog section's keys that are not integers.
    static let backlogStorageKeys = ["dir", "fsync", "durability"]
    static let verifyMaxInFlight = 1...100_000

    /// Every key path the file accepts, spelled as in `docs/configuration.md` (`clusters[].name`).
    static var documentedPaths: [String] {
        rootKeys + listenKeys.map { "listen.\($0)" } + clusterKeys.map { "clusters[].\($0)" }
            + protocolKeys.flatMap { list in
                serverListKeys.map { "clusters[].\(list).\($0)" } + serverKeys.map { "clusters[].\(list)[].\($0)" }
            }
            + timeoutKeys.map { "timeouts.\($0.key)" } + limitKeys.map { "limits.\($0.key)" }
            + healthKeys.map { "health.\($0.key)" } + backlogKeys.map { "backlog.\($0.key)" }
            + backlogStorageKeys.map { "backlog.\($0)" }
            + verifyKeys.map { "verify.\($0)" }
            + userKeys.map { "users[].\($0)" } + redisAuthKeys.map { "clusters[].redisAuth.\($0)" }
    }
}

/// The rules of the file, section by section, on top of `ConfigReader`'s typed accessors.
struct ConfigValidator {
    var reader = ConfigReader()

    mutating func proxyConfig(_ root: JSONTree, defaultWorkers: Int) -> ProxyConfig? {
        guard let top = reader.object(root, at: "", allowed: ConfigSchema.rootKeys) else { return nil }

        let listen = self.listen(top["listen"])

        var workers: Int? = min(max(defaultWorkers, ConfigSchema.workers.lowerBound), ConfigSchema.workers.upperBound)
        if let value = top["workers"] { workers = reader.integer(value, at: "workers", in: ConfigSchema.workers) }

        var eventLoop: LoopBackendKind? = .libev
        if let value = top["eventLoop"] { eventLoop = self.eventLoop(value) }

        var idleWait: Int? = 100
        if let value = top["loopIdleWaitMicros"] {
            idleWait = reader.integer(value, at: "loopIdleWaitMicros", in: ConfigSchema.loopIdleWaitMicros)
        }

        let clusters = self.clusters(top["clusters"], listen: listen)
        let timeouts = self.timeouts(top["timeouts"])
        let limits = integerSection(top["limits"], "limits", ConfigSchema.limitKeys, LimitConfig())
        let health = integerSection(top["health"], "health", ConfigSchema.healthKeys, HealthConfig())
        let backlog = self.backlog(top["backlog"])
        var writeAck: AckPolicy? = .first
        if let value = top["writeAck"] { writeAck = self.writeAck(value) }
        var allowFlush: Bool? = false
        if let value = top["allowFlush"] { allowFlush = reader.bool(value, at: "allowFlush") }
        var allowCommands: [String]? = []
        if let value = top["allowCommands"] { allowCommands = self.allowCommands(value) }
        let verify = self.verify(top["verify"])
        let clientAuth = self.clientAuth(requirepass: top["requirepass"], users: top["users"], listen: listen)

        guard let listenConfig = listen.config, let workers, let eventLoop, let idleWait, let clusters, let timeouts,
            let limits, let health, let backlog, let writeAck, let allowFlush, let allowCommands, let verify, let clientAuth
        else { return nil }
        if backlog.durability == .disk {
            // Remote writes are answered for by the journal, not by the remote server: only policies
            // that never wait for a remote reply keep their meaning.
            guard writeAck == .first || writeAck == .local else {
                reader.fail("backlog.durability", "\"disk\" needs writeAck \"first\" or \"local\" (remote writes are acknowledged by the disk backlog), not \"\(writeAck.rawValue)\"")
                return nil
            }
            guard clusters.contains(where: \.local) else {
                reader.fail("backlog.durability", "\"disk\" needs a cluster with \"local\": true (its servers answer the client)")
                return nil
            }
        }
        return ProxyConfig(
            listen: listenConfig, workers: workers, eventLoop: eventLoop, loopIdleWaitMicros: idleWait,
            clusters: clusters,
            timeouts: timeouts, limits: limits, writeAck: writeAck, health: health, backlog: backlog,
            allowFlush: allowFlush, allowCommands: allowCommands, verify: verify, clientAuth: clientAuth)
    }

    /// One of `T`'s cases, by name; reports an unknown name with the list of known ones.
    private mutating func choice<T: RawRepresentable & CaseIterable>(_ member: JSONTree, at path: String, _: T.Type, noun: String) -> T?
    where T.RawValue == String {
        guard let text = reader.string(member, at: path) else { return nil }
        guard let value = T(rawValue: text) else {
            reader.fail(path, "unknown \(noun) \(ConfigPath.quoted(text)); expected one of \(T.allCases.map(\.rawValue).joined(separator: ", "))")
            return nil
        }
        return value
    }

    private mutating func backlog(_ value: JSONTree?) -> BacklogConfig? {
        guard var members = value.flatMap({ reader.object($0, at: "backlog", allowed: ConfigSchema.backlogKeys.map(\.key) + ConfigSchema.backlogStorageKeys) }) else {
            return value == nil ? BacklogConfig() : nil
        }
        var valid = true
        var directory: String? = nil
        var fsync = BacklogFsync.everysec
        var durability = BacklogDurability.outage
        if let member = members.removeValue(forKey: "dir") {
            if let text = reader.string(member, at: "backlog.dir"), !text.isEmpty {
                directory = text
            } else {
                if case .string = member { reader.fail("backlog.dir", "must not be empty; leave it out to keep backlogs in memory") }
                valid = false
            }
        }
        if let member = members.removeValue(forKey: "fsync") {
            if let policy = choice(member, at: "backlog.fsync", BacklogFsync.self, noun: "policy") { fsync = policy } else { valid = false }
        }
        if let member = members.removeValue(forKey: "durability") {
            if let mode = choice(member, at: "backlog.durability", BacklogDurability.self, noun: "mode") { durability = mode } else { valid = false }
        }
        if durability == .disk && directory == nil {
            reader.fail("backlog.durability", "\"disk\" needs backlog.dir")
            valid = false
        }
        // Unknown keys were reported above; the integer keys are checked here.
        let integers = members.filter { key, _ in ConfigSchema.backlogKeys.contains { $0.key == key } }
        guard valid, integers.count == members.count else { return nil }
        guard var config = integerSection(JSONTree.object(integers), "backlog", ConfigSchema.backlogKeys, BacklogConfig()) else {
            return nil
        }
        config.directory = directory
        config.fsync = fsync
        config.durability = durability
        return config
    }

    private mutating func verify(_ value: JSONTree?) -> VerifyConfig? {
        var config = VerifyConfig()
        guard let value else { return config }
        guard let members = reader.object(value, at: "verify", allowed: ConfigSchema.verifyKeys) else { return nil }
        var valid = true
        if let member = members["sampleRate"] {
            if let rate = reader.fraction(member, at: "verify.sampleRate", in: 0...1) { config.sampleRate = rate } else { valid = false }
        }
        if let member = members["maxInFlight"] {
            if let n = reader.integer(member, at: "verify.maxInFlight", in: ConfigSchema.verifyMaxInFlight) {
                config.maxInFlight = n
            } else {
                valid = false
            }
        }
        return valid ? config : nil
    }

    /// What the listen section says, including which protocol listeners are configured at all (even when
    /// their address is invalid), which the cluster rules depend on.
    struct Listen {
        var config: ListenConfig?
        var redisSet = false
        var memcachedSet = false
        /// Listener addresses with a fixed port, to catch a backend pointing at the proxy itself.
        var fixed: [(path: String, endpoint: Endpoint)] = []
    }

    private mutating func listen(_ value: JSONTree?) -> Listen {
        var result = Listen()
        guard let value else {
            reader.fail("listen", "required key is missing; set at least \"redis\" (e.g. {\"redis\": \"127.0.0.1:6379\"})")
            return result
        }
        guard let members = reader.object(value, at: "listen", allowed: ConfigSchema.listenKeys) else { return result }
        result.redisSet = members["redis"] != nil
        result.memcachedSet = members["memcached"] != nil
        if !result.redisSet && !result.memcachedSet {
            reader.fail("listen", "no proxy listener; set \"redis\" and/or \"memcached\" (\"admin\" alone serves no clients)")
        }
        var config = ListenConfig()
        var valid = result.redisSet || result.memcachedSet
        for key in ConfigSchema.listenKeys {
            guard let member = members[key] else { continue }
            let path = "listen.\(key)"
            guard let endpoint = reader.endpoint(member, at: path, listener: true) else { valid = false; continue }
            if endpoint.port != 0 {
                if let clash = result.fixed.first(where: { $0.endpoint == endpoint }) {
                    reader.fail(path, "same address as \(clash.path); each listener needs its own port")
                    valid = false
                }
                result.fixed.append((path, endpoint))
            }
            switch key {
            case "redis": config.redis = endpoint
            case "memcached": config.memcached = endpoint
            default: config.admin = endpoint
            }
        }
        result.config = valid ? config : nil
        return result
    }

    private mutating func writeAck(_ value: JSONTree) -> AckPolicy? {
        guard let name = reader.string(value, at: "writeAck") else { return nil }
        if let policy = AckPolicy(rawValue: name) { return policy }
        let choices = AckPolicy.allCases.map { ConfigPath.quoted($0.rawValue) }.joined(separator: ", ")
        reader.fail("writeAck", "expected one of \(choices), got \(ConfigPath.quoted(name))")
        return nil
    }

    private mutating func eventLoop(_ value: JSONTree) -> LoopBackendKind? {
        guard let name = reader.string(value, at: "eventLoop") else { return nil }
        switch LoopBackendKind(rawValue: name) {
        case let kind?:
            return kind
        case nil:
            let choices = LoopBackendKind.allCases.map { ConfigPath.quoted($0.rawValue) }.joined(separator: ", ")
            reader.fail("eventLoop", "expected one of \(choices), got \(ConfigPath.quoted(name))")
            return nil
        }
    }
}
