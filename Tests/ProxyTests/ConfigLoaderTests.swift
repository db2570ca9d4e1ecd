#if canImport(Proxy)
@testable import Proxy
#else
// Built standalone from a mini-package that compiles only Sources/Proxy/Configuration.
@testable import ConfigUnderTest
#endif
import Foundation
#if canImport(Routing)
import Routing
#endif
import Testing

// MARK: - Helpers

/// The problems `parse` reports for `json`, or [] when it loads.
private func problems(_ json: String, defaultWorkers: Int = 4) -> [ConfigProblem] {
    do {
        _ = try ConfigLoader.parse(Array(json.utf8), defaultWorkers: defaultWorkers)
        return []
    } catch let error as ConfigError {
        return error.problems
    } catch {
        Issue.record("parse threw \(error), not a ConfigError")
        return []
    }
}

private func load(_ json: String, defaultWorkers: Int = 4) throws -> ProxyConfig {
    try ConfigLoader.parse(Array(json.utf8), defaultWorkers: defaultWorkers)
}

/// A valid minimal file with pieces swapped in; `extra` is appended to the root object.
private func file(
    listen: String = #"{"redis": "127.0.0.1:6379"}"#,
    clusters: String = #"[{"name": "a", "redis": ["127.0.0.1:16379"]}]"#,
    extra: String = ""
) -> String {
    #"{"listen": \#(listen), "clusters": \#(clusters)\#(extra.isEmpty ? "" : ", " + extra)}"#
}

private func endpoint(_ text: String) -> Endpoint { Endpoint(parsing: text)! }

private func server(_ text: String, weight: Int = 1, name: String? = nil) -> ServerConfig {
    ServerConfig(endpoint: endpoint(text), weight: weight, name: name)
}

/// The repository root, found from this file even when it is reached through a symlink.
private let repositoryRoot = URL(fileURLWithPath: #filePath).resolvingSymlinksInPath()
    .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

// MARK: - Valid files

/// Groups the tests so `swift test --filter ProxyTests.ConfigLoader` selects them.
@Suite struct ConfigLoaderTests {}

extension ConfigLoaderTests {
    @Test func fullFileRoundTripsToExpectedConfig() throws {
        let json = #"""
            {
              "listen": {"redis": "0.0.0.0:7000", "memcached": "[::1]:7001", "admin": "localhost:0"},
              "workers": 3,
              "eventLoop": "dispatch",
              "loopIdleWaitMicros": 0,
              "clusters": [
                {"name": "dc-a", "local": true, "redis": ["10.0.0.1:6379", "10.0.0.2:6379"], "memcached": ["10.0.0.1:11211"]},
                {"name": "DC_b.2", "local": false, "redis": ["[fe80::1]:6379"], "memcached": ["cache-b:11211"]},
                {"name": "dc-c", "local": true, "redis": ["10.2.0.1:6379"], "memcached": ["10.2.0.1:11211"]}
              ],
              "timeouts": {"connectMs": 250, "requestMs": 2000, "reconnectMinMs": 10, "reconnectMaxMs": 10, "shutdownMs": 1},
              "limits": {"maxBulkBytes": 1024, "maxMultibulkLength": 16, "maxInlineBytes": 128,
                         "clientOutputLimitBytes": 4096, "maxClientInFlight": 1, "maxClients": 1048576}
            }
            """#
        let expected = ProxyConfig(
            listen: ListenConfig(
                redis: Endpoint(host: "0.0.0.0", port: 7000), memcached: Endpoint(host: "::1", port: 7001),
                admin: Endpoint(host: "localhost", port: 0)),
            workers: 3,
            eventLoop: .dispatch,
            loopIdleWaitMicros: 0,
            clusters: [
                ClusterConfig(
                    name: "dc-a", local: true, redis: [server("10.0.0.1:6379"), server("10.0.0.2:6379")],
                    memcached: [server("10.0.0.1:11211")]),
                ClusterConfig(
                    name: "DC_b.2", local: false, redis: [ServerConfig(endpoint: Endpoint(host: "fe80::1", port: 6379))],
                    memcached: [server("cache-b:11211")]),
                ClusterConfig(
                    name: "dc-c", local: true, redis: [server("10.2.0.1:6379")], memcached: [server("10.2.0.1:11211")]),
            ],
            timeouts: TimeoutConfig(
                connect: .milliseconds(250), request: .milliseconds(2000), reconnectMin: .milliseconds(10),
                reconnectMax: .milliseconds(10), shutdown: .milliseconds(1)),
            limits: LimitConfig(
                maxBulkBytes: 1024, maxMultibulkLength: 16, maxInlineBytes: 128, clientOutputLimitBytes: 4096,
                maxClientInFlight: 1, maxClients: 1_048_576)
        )
        #expect(try load(json, defaultWorkers: 8) == expected)
    }

    @Test func absentKeysTakeTheirDocumentedDefaults() throws {
        let config = try load(file(), defaultWorkers: 6)
        #expect(config.workers == 6)
        #expect(config.eventLoop == .libev)
        #expect(config.loopIdleWaitMicros == 100)
        #expect(config.writeAck == .first)
        #expect(config.health == HealthConfig(failureLimit: 3, probeIntervalMs: 1000))
        #expect(config.backlog == BacklogConfig(maxBytes: 67_108_864, maxEntries: 1_000_000))
        #expect(config.listen == ListenConfig(redis: endpoint("127.0.0.1:6379")))
        #expect(config.clusters == [ClusterConfig(name: "a", local: false, redis: [server("127.0.0.1:16379")], memcached: [])])
        // The numbers docs/configuration.md promises, spelled out rather than compared with TimeoutConfig().
        #expect(config.timeouts.connect == .milliseconds(1000))
        #expect(config.timeouts.request == .milliseconds(5000))
        #expect(config.timeouts.reconnectMin == .milliseconds(50))
        #expect(config.timeouts.reconnectMax == .milliseconds(5000))
        #expect(config.timeouts.shutdown == .milliseconds(10000))
        #expect(config.limits.maxBulkBytes == 536_870_912)
        #expect(config.limits.maxMultibulkLength == 1_048_576)
        #expect(config.limits.maxInlineBytes == 65536)
        #expect(config.limits.clientOutputLimitBytes == 268_435_456)
        #expect(config.limits.maxClientInFlight == 4096)
        #expect(config.limits.maxClients == 100_000)
        // Sharding: twemproxy's defaults, with redis's hash tag on and memcached's off.
        let sharding = try load(file(clusters: #"[{"name": "a", "redis": ["h:1", "h:2"], "memcached": ["h:3"]}]"#)).clusters[0]
        #expect(sharding.redisSharding == ShardingConfig(distribution: .ketama, hash: .fnv1a_64, hashTag: "{}"))
        #expect(sharding.memcachedSharding == ShardingConfig(distribution: .ketama, hash: .fnv1a_64, hashTag: ""))
        #expect(sharding.redisSharding == .redisDefault && sharding.memcachedSharding == .memcachedDefault)
        #expect(sharding.redis.allSatisfy { $0.weight == 1 && $0.name == nil })
        // Empty sections mean "all defaults" too.
        #expect(try load(file(extra: #""timeouts": {}, "limits": {}"#)) == load(file()))
    }

    @Test func defaultWorkersIsClampedToTheAllowedRange() throws {
        #expect(try load(file(), defaultWorkers: 0).workers == 1)
        #expect(try load(file(), defaultWorkers: 1000).workers == 256)
    }

    @Test func acceptedEdgeValues() throws {
        // Port 0 ("any free port") for listeners, even two of them.
        let anyPort = try load(file(listen: #"{"redis": "127.0.0.1:0", "admin": "127.0.0.1:0"}"#))
        #expect(anyPort.listen.redis?.port == 0 && anyPort.listen.admin?.port == 0)
        // Integral numbers written with a fraction or exponent are the same integers.
        #expect(try load(file(extra: #""workers": 2.0"#)).workers == 2)
        #expect(try load(file(extra: #""timeouts": {"requestMs": 5e3}"#)).timeouts.request == .milliseconds(5000))
        // No local cluster at all is allowed: reads are then ranked by latency alone.
        #expect(try load(file()).clusters.allSatisfy { !$0.local })
        // Range ends.
        #expect(try load(file(extra: #""workers": 256, "timeouts": {"connectMs": 3600000}"#)).workers == 256)
        // Both loop backends.
        #expect(try load(file(extra: #""eventLoop": "libev""#)).eventLoop == .libev)
        // A cluster may list servers for a protocol nobody listens for; they are just unused.
        #expect(try load(file(clusters: #"[{"name": "a", "redis": ["h:1"], "memcached": ["h:2"]}]"#)).clusters[0].memcached.count == 1)
    }

    @Test func exampleConfigFileLoads() throws {
        let path = repositoryRoot.appendingPathComponent("config.example.json").path
        let config = try ConfigLoader.load(path: path, defaultWorkers: 1)
        #expect(config.listen == ListenConfig(
            redis: endpoint("127.0.0.1:6379"), memcached: endpoint("127.0.0.1:11211"), admin: endpoint("127.0.0.1:9121")))
        #expect(config.workers == 2)
        #expect(config.clusters.map(\.name) == ["dc-a", "dc-b", "dc-c"])
        #expect(config.clusters.map(\.local) == [true, false, false])
        #expect(config.clusters.map(\.redis) == [[server("127.0.0.1:16379")], [server("127.0.0.1:16380")], [server("127.0.0.1:16381")]])
        #expect(config.clusters.map(\.memcached) == [[server("127.0.0.1:11311")], [server("127.0.0.1:11312")], [server("127.0.0.1:11313")]])
    }

    @Test func serverEntriesInEveryForm() throws {
        let config = try load(cluster(#"""
            "redis": [
              "10.0.0.1:6379", "10.0.0.2:6379:3", "10.0.0.3:6379:10000 shard-3", "10.0.0.4:6379:1 s1",
              "[::1]:6380", "[::1]:6381:2", "[fe80::1]:6382:4 v6/a.b",
              {"address": "10.0.0.5:6379"}, {"address": "10.0.0.6:6379", "weight": 5}, {"address": "[::1]:6383", "name": "s5"},
              {"address": "cache-7:6379", "weight": 10000, "name": "s6"}, {"weight": 1, "name": "s7", "address": "10.0.0.8:6379"}
            ],
            "memcached": ["10.0.0.1:11211:2 shard-3", {"address": "10.0.0.2:11211", "name": "s1"}]
            """#))
        let redis = config.clusters[0].redis
        #expect(redis == [
            server("10.0.0.1:6379"), server("10.0.0.2:6379", weight: 3), server("10.0.0.3:6379", weight: 10000, name: "shard-3"),
            server("10.0.0.4:6379", name: "s1"),
            ServerConfig(endpoint: Endpoint(host: "::1", port: 6380)), ServerConfig(endpoint: Endpoint(host: "::1", port: 6381), weight: 2),
            ServerConfig(endpoint: Endpoint(host: "fe80::1", port: 6382), weight: 4, name: "v6/a.b"),
            server("10.0.0.5:6379"), server("10.0.0.6:6379", weight: 5), ServerConfig(endpoint: Endpoint(host: "::1", port: 6383), name: "s5"),
            server("cache-7:6379", weight: 10000, name: "s6"), server("10.0.0.8:6379", name: "s7"),
        ])
        // Names are unique per list: the memcached list may reuse a redis server's name.
        #expect(config.clusters[0].memcached == [server("10.0.0.1:11211", weight: 2, name: "shard-3"), server("10.0.0.2:11211", name: "s1")])
        // The object form of a list with only "servers" is the plain list.
        #expect(try load(redisList(#"{"servers": ["h:1", "h:2:2 b"]}"#)) == load(redisList(#"["h:1", "h:2:2 b"]"#)))
    }

    @Test func shardingOptionsApplyPerClusterAndPerList() throws {
        // Cluster-level options apply to both lists, the hash tag included.
        let shared = try load(cluster(#""redis": ["h:1"], "memcached": ["h:2"], "distribution": "modula", "hash": "murmur", "hashTag": "<>""#))
        #expect(shared.clusters[0].redisSharding == ShardingConfig(distribution: .modula, hash: .murmur, hashTag: "<>"))
        #expect(shared.clusters[0].memcachedSharding == ShardingConfig(distribution: .modula, hash: .murmur, hashTag: "<>"))
        // A list's own options override the cluster's for that protocol only; the others are inherited.
        let mixed = try load(cluster(#"""
            "hash": "md5", "distribution": "random",
            "redis": {"servers": ["h:1"], "hash": "crc16", "hashTag": ""},
            "memcached": {"servers": ["h:2"], "distribution": "libmemcached_ketama", "hashTag": "[]"}
            """#))
        #expect(mixed.clusters[0].redisSharding == ShardingConfig(distribution: .random, hash: .crc16, hashTag: ""))
        #expect(mixed.clusters[0].memcachedSharding == ShardingConfig(distribution: .libmemcachedKetama, hash: .md5, hashTag: "[]"))
        // Without cluster-level options, a list's options leave the other protocol at its defaults.
        let one = try load(cluster(#""redis": ["h:1"], "memcached": {"servers": ["h:2"], "hash": "one_at_a_time"}"#))
        #expect(one.clusters[0].redisSharding == .redisDefault)
        #expect(one.clusters[0].memcachedSharding == ShardingConfig(hash: .oneAtATime, hashTag: ""))
        // Each cluster has its own options.
        let two = try load(file(clusters: #"[{"name": "a", "redis": ["h:1"], "hash": "crc32a"}, {"name": "b", "redis": ["h:2"]}]"#))
        #expect(two.clusters.map(\.redisSharding.hash) == [.crc32a, .fnv1a_64])
        // Every name the enums know is accepted, and the same character twice is a valid tag.
        for distribution in ShardDistribution.allCases {
            let config = try load(redisList(#"["h:1"], "distribution": "\#(distribution.rawValue)""#))
            #expect(config.clusters[0].redisSharding.distribution == distribution)
        }
        for hash in KeyHashKind.allCases {
            #expect(try load(redisList(#"{"servers": ["h:1"], "hash": "\#(hash.rawValue)"}"#)).clusters[0].redisSharding.hash == hash)
        }
        #expect(try load(redisList(#"["h:1"], "hashTag": "$$""#)).clusters[0].redisSharding.hashTag == "$$")
    }

    @Test func backlogStorageOptions() throws {
        let config = try load(file(extra: #""backlog": {"dir": "/var/lib/mc", "fsync": "always", "maxBytes": 1024}"#))
        #expect(config.backlog.directory == "/var/lib/mc" && config.backlog.fsync == .always && config.backlog.maxBytes == 1024)
        let defaults = try load(file(extra: #""backlog": {}"#))
        #expect(defaults.backlog.directory == nil && defaults.backlog.fsync == .everysec)
    }

    @Test func everyKeyIsDocumented() throws {
        let docs = try String(contentsOf: repositoryRoot.appendingPathComponent("docs/configuration.md"), encoding: .utf8)
        for path in ConfigSchema.documentedPaths {
            #expect(docs.contains("`\(path)`"), "docs/configuration.md does not document `\(path)`")
        }
    }
}

// MARK: - One rule, one failing example

struct RuleCase: Sendable, CustomTestStringConvertible {
    var name: String
    var json: String
    var expected: [ConfigProblem]
    var testDescription: String { name }

    init(_ name: String, _ json: String, _ path: String, _ reason: String) {
        self.name = name
        self.json = json
        self.expected = [ConfigProblem(path: path, reason: reason)]
    }
}

private let rootKeys = "allowed keys: listen, workers, eventLoop, loopIdleWaitMicros, clusters, timeouts, limits, writeAck, health, backlog, allowFlush, allowCommands, verify, requirepass, users"
private let clusterKeys = "name, local, redis, memcached, distribution, hash, hashTag, redisAuth"
/// The valid names as the messages list them; read from the enums, which may gain cases.
private let hashNames = KeyHashKind.allCases.map(\.rawValue).joined(separator: ", ")
private let distributionNames = ShardDistribution.allCases.map(\.rawValue).joined(separator: ", ")
private let serverForms = #"expected "host:port", "host:port:weight" or "host:port:weight name" (e.g. "10.0.0.1:6379:2 s1")"#
private let spaceRule = #"whitespace is allowed only as one space between the weight and the name ("host:port:weight name")"#
private let hashTagRule = #"must be "" (no hash tag) or two printable ASCII characters such as "{}""#

/// A file whose one cluster has `members` (after its name), with both listeners set.
private func cluster(_ members: String) -> String {
    file(listen: #"{"redis": "127.0.0.1:6379", "memcached": "127.0.0.1:11211"}"#, clusters: #"[{"name": "a", \#(members)}]"#)
}

/// A file whose one cluster's redis list is `list`.
private func redisList(_ list: String) -> String { file(clusters: #"[{"name": "a", "redis": \#(list)}]"#) }

private let ruleCases: [RuleCase] = [
    // Unknown keys, at every level, with a guess when one is close.
    RuleCase("unknown root key", file(extra: #""wrokers": 2"#), "wrokers", "unknown key (did you mean \"workers\"?); \(rootKeys)"),
    RuleCase("unknown key needing quotes", file(extra: #""my key": 2"#), #"["my key"]"#, "unknown key; \(rootKeys)"),
    RuleCase("unknown listen key", file(listen: #"{"redis": "127.0.0.1:6379", "http": "127.0.0.1:80"}"#),
             "listen.http", "unknown key; allowed keys: redis, memcached, admin"),
    RuleCase("unknown cluster key", file(clusters: #"[{"name": "a", "redis": ["h:1"], "weight": 2}]"#),
             "clusters[0].weight", "unknown key; allowed keys: \(clusterKeys)"),
    RuleCase("unknown timeouts key", file(extra: #""timeouts": {"requestms": 10}"#), "timeouts.requestms",
             "unknown key (did you mean \"requestMs\"?); allowed keys: connectMs, requestMs, reconnectMinMs, reconnectMaxMs, shutdownMs"),
    RuleCase("unknown limits key", file(extra: #""limits": {"maxBytes": 10}"#), "limits.maxBytes",
             "unknown key; allowed keys: maxBulkBytes, maxMultibulkLength, maxInlineBytes, clientOutputLimitBytes, maxClientInFlight, maxClients, backendMaxInFlight, maxValueBytes"),
    // Types, with booleans and numbers told apart.
    RuleCase("workers as string", file(extra: #""workers": "2""#), "workers", "expected an integer, got a string"),
    RuleCase("workers as boolean", file(extra: #""workers": true"#), "workers", "expected an integer, got a boolean"),
    RuleCase("workers as null", file(extra: #""workers": null"#), "workers", "expected an integer, got null"),
    RuleCase("unknown ack policy", file(extra: #""writeAck": "quorum""#), "writeAck", #"expected one of "first", "local", "majority", "all", got "quorum""#),
    RuleCase("failure limit zero", file(extra: #""health": {"failureLimit": 0}"#), "health.failureLimit", "must be between 1 and 1000, got 0"),
    RuleCase("unknown backlog key", file(extra: #""backlog": {"path": "/x"}"#), "backlog.path", "unknown key; allowed keys: maxBytes, maxEntries, replayRate, dir, fsync, durability"),
    RuleCase("unknown durability", file(extra: #""backlog": {"dir": "/x", "durability": "paper"}"#), "backlog.durability", "unknown mode \"paper\"; expected one of outage, disk"),
    RuleCase("disk durability without a dir", file(extra: #""backlog": {"durability": "disk"}"#), "backlog.durability", "\"disk\" needs backlog.dir"),
    RuleCase("disk durability with writeAck all", file(extra: #""writeAck": "all", "backlog": {"dir": "/x", "durability": "disk"}"#), "backlog.durability", "\"disk\" needs writeAck \"first\" or \"local\" (remote writes are acknowledged by the disk backlog), not \"all\""),
    RuleCase("empty backlog dir", file(extra: #""backlog": {"dir": ""}"#), "backlog.dir", "must not be empty; leave it out to keep backlogs in memory"),
    RuleCase("unknown fsync policy", file(extra: #""backlog": {"fsync": "sometimes"}"#), "backlog.fsync", "unknown policy \"sometimes\"; expected one of always, everysec, no"),
    RuleCase("idle wait too long", file(extra: #""loopIdleWaitMicros": 10001"#), "loopIdleWaitMicros", "must be between 0 and 10000, got 10001"),
    RuleCase("idle wait negative", file(extra: #""loopIdleWaitMicros": -1"#), "loopIdleWaitMicros", "must be between 0 and 10000, got -1"),
    RuleCase("workers fractional", file(extra: #""workers": 1.5"#), "workers", "expected an integer, got 1.5, which has a fractional part"),
    RuleCase("local as integer", file(clusters: #"[{"name": "a", "local": 1, "redis": ["h:1"]}]"#),
             "clusters[0].local", "expected a boolean (true or false), got an integer"),
    RuleCase("local as string", file(clusters: #"[{"name": "a", "local": "true", "redis": ["h:1"]}]"#),
             "clusters[0].local", "expected a boolean (true or false), got a string"),
    RuleCase("timeouts as array", file(extra: #""timeouts": []"#), "timeouts", "expected an object, got an array"),
    // Ranges.
    RuleCase("workers zero", file(extra: #""workers": 0"#), "workers", "must be between 1 and 256, got 0"),
    RuleCase("workers too many", file(extra: #""workers": 257"#), "workers", "must be between 1 and 256, got 257"),
    RuleCase("workers beyond Int", file(extra: #""workers": 1e30"#), "workers", "must be between 1 and 256, got 1e+30"),
    RuleCase("request timeout zero", file(extra: #""timeouts": {"requestMs": 0}"#), "timeouts.requestMs", "must be between 1 and 3600000, got 0"),
    RuleCase("connect timeout as string", file(extra: #""timeouts": {"connectMs": "1000"}"#), "timeouts.connectMs", "expected an integer, got a string"),
    RuleCase("reconnect min above max", file(extra: #""timeouts": {"reconnectMinMs": 6000}"#),
             "timeouts.reconnectMinMs", "must not exceed reconnectMaxMs (5000), got 6000"),
    RuleCase("reconnect max below default min", file(extra: #""timeouts": {"reconnectMaxMs": 10}"#),
             "timeouts.reconnectMaxMs", "must be at least reconnectMinMs (50), got 10"),
    RuleCase("bulk limit zero", file(extra: #""limits": {"maxBulkBytes": 0}"#), "limits.maxBulkBytes", "must be between 1 and 4294967296, got 0"),
    RuleCase("client limit negative", file(extra: #""limits": {"maxClients": -1}"#), "limits.maxClients", "must be between 1 and 1048576, got -1"),
    // eventLoop.
    RuleCase("loop as number", file(extra: #""eventLoop": 1"#), "eventLoop", "expected a string, got an integer"),
    RuleCase("unknown loop", file(extra: #""eventLoop": "epoll""#), "eventLoop", #"expected one of "dispatch", "libev", got "epoll""#),
    // listen.
    RuleCase("listen missing", #"{"clusters": [{"name": "a", "redis": ["h:1"]}]}"#, "listen",
             #"required key is missing; set at least "redis" (e.g. {"redis": "127.0.0.1:6379"})"#),
    RuleCase("listen admin only", file(listen: #"{"admin": "127.0.0.1:9121"}"#), "listen",
             #"no proxy listener; set "redis" and/or "memcached" ("admin" alone serves no clients)"#),
    RuleCase("listen as string", file(listen: #""127.0.0.1:6379""#), "listen", "expected an object, got a string"),
    RuleCase("listener without port", file(listen: #"{"redis": "localhost"}"#), "listen.redis",
             #"expected "host:port" or "[IPv6]:port" (e.g. "127.0.0.1:6379"), got "localhost""#),
    RuleCase("listener port too high", file(listen: #"{"redis": "127.0.0.1:70000"}"#), "listen.redis", "port must be between 0 and 65535, got 70000"),
    RuleCase("listener signed port", file(listen: #"{"redis": "127.0.0.1:+80"}"#), "listen.redis",
             #"expected "host:port" or "[IPv6]:port" (e.g. "127.0.0.1:6379"), got "127.0.0.1:+80""#),
    RuleCase("listener with space", file(listen: #"{"redis": "127.0.0.1 :6379"}"#), "listen.redis", #"must not contain whitespace, got "127.0.0.1 :6379""#),
    RuleCase("listener as number", file(listen: #"{"redis": 6379}"#), "listen.redis", #"expected a "host:port" string, got an integer"#),
    RuleCase("two listeners one port", file(listen: #"{"redis": "127.0.0.1:6379", "admin": "127.0.0.1:6379"}"#), "listen.admin",
             "same address as listen.redis; each listener needs its own port"),
    // clusters.
    RuleCase("clusters missing", #"{"listen": {"redis": "127.0.0.1:6379"}}"#, "clusters", "required key is missing; list at least one cluster"),
    RuleCase("clusters empty", file(clusters: "[]"), "clusters", "must list at least one cluster"),
    RuleCase("clusters as object", file(clusters: #"{"name": "a"}"#), "clusters", "expected an array of cluster objects, got an object"),
    RuleCase("cluster as string", file(clusters: #"["dc-a"]"#), "clusters[0]", "expected an object, got a string"),
    RuleCase("cluster name missing", file(clusters: #"[{"redis": ["h:1"]}]"#), "clusters[0].name", "required key is missing"),
    RuleCase("cluster name empty", file(clusters: #"[{"name": "", "redis": ["h:1"]}]"#), "clusters[0].name", "must not be empty"),
    RuleCase("cluster name with space", file(clusters: #"[{"name": "dc a", "redis": ["h:1"]}]"#), "clusters[0].name",
             #"may contain only letters A-Z a-z, digits, '.', '_' and '-', got "dc a""#),
    RuleCase("cluster name non-ASCII", file(clusters: #"[{"name": "dé", "redis": ["h:1"]}]"#), "clusters[0].name",
             #"may contain only letters A-Z a-z, digits, '.', '_' and '-', got "dé""#),
    RuleCase("cluster name too long", file(clusters: #"[{"name": "\#(String(repeating: "x", count: 65))", "redis": ["h:1"]}]"#),
             "clusters[0].name", "must be at most 64 characters long, got 65"),
    RuleCase("cluster name as number", file(clusters: #"[{"name": 1, "redis": ["h:1"]}]"#), "clusters[0].name", "expected a string, got an integer"),
    RuleCase("duplicate cluster names", file(clusters: #"[{"name": "a", "redis": ["h:1"]}, {"name": "a", "redis": ["h:2"]}]"#),
             "clusters[1].name", #"duplicate cluster name "a" (first used at clusters[0].name)"#),
    RuleCase("cluster without redis servers", file(clusters: #"[{"name": "a", "redis": ["h:1"]}, {"name": "b", "memcached": ["h:2"]}]"#),
             "clusters[1]", "has no redis servers, but listen.redis is set; every cluster needs redis servers"),
    RuleCase("cluster with empty redis list", file(clusters: #"[{"name": "a", "redis": []}]"#),
             "clusters[0]", "has no redis servers, but listen.redis is set; every cluster needs redis servers"),
    RuleCase("cluster without memcached servers", file(listen: #"{"memcached": "127.0.0.1:11211"}"#, clusters: #"[{"name": "a", "redis": ["h:1"]}]"#),
             "clusters[0]", "has no memcached servers, but listen.memcached is set; every cluster needs memcached servers"),
    RuleCase("server list as string", file(clusters: #"[{"name": "a", "redis": "h:1"}]"#), "clusters[0].redis",
             #"expected an array of "host:port" strings, got a string; write a list even for one server: ["h:1"]"#),
    RuleCase("server port zero", file(clusters: #"[{"name": "a", "redis": ["h:0"]}]"#), "clusters[0].redis[0]",
             #"port 0 means "any free port" and is allowed only for listeners; a server needs its real port"#),
    RuleCase("server port too high", file(clusters: #"[{"name": "a", "redis": ["h:65536"]}]"#), "clusters[0].redis[0]",
             "port must be between 1 and 65535, got 65536"),
    RuleCase("server neither string nor object", file(clusters: #"[{"name": "a", "redis": [6379]}]"#), "clusters[0].redis[0]",
             #"expected a "host:port" string or a server object, got an integer"#),
    RuleCase("duplicate server", file(clusters: #"[{"name": "a", "redis": ["h:1", "h:2", "h:1"]}]"#), "clusters[0].redis[2]",
             "duplicate server h:1 (already listed at clusters[0].redis[0])"),
    RuleCase("same server for both protocols", file(clusters: #"[{"name": "a", "redis": ["h:1"], "memcached": ["h:1"]}]"#),
             "clusters[0].memcached[0]", "duplicate server h:1 (already listed at clusters[0].redis[0])"),
    RuleCase("server is the proxy itself", file(clusters: #"[{"name": "a", "redis": ["127.0.0.1:6379"]}]"#), "clusters[0].redis[0]",
             "127.0.0.1:6379 is the proxy's own listen.redis address; the proxy would forward to itself"),
    // Server entries: "host:port:weight name" strings.
    RuleCase("weight zero", redisList(#"["h:1:0"]"#), "clusters[0].redis[0]", "weight must be between 1 and 10000, got 0"),
    RuleCase("weight too big", redisList(#"["h:1:10001"]"#), "clusters[0].redis[0]", "weight must be between 1 and 10000, got 10001"),
    RuleCase("weight beyond Int", redisList(#"["h:1:99999999999999999999"]"#), "clusters[0].redis[0]",
             "weight must be between 1 and 10000, got 99999999999999999999"),
    RuleCase("weight not a number", redisList(#"["h:1:x"]"#), "clusters[0].redis[0]", #"weight must be an integer between 1 and 10000, got "x""#),
    RuleCase("weight negative", redisList(#"["h:1:-2"]"#), "clusters[0].redis[0]", #"weight must be an integer between 1 and 10000, got "-2""#),
    RuleCase("weight fractional", redisList(#"["h:1:1.5"]"#), "clusters[0].redis[0]", #"weight must be an integer between 1 and 10000, got "1.5""#),
    RuleCase("weight empty", redisList(#"["h:1:"]"#), "clusters[0].redis[0]", #"weight must be an integer between 1 and 10000, got """#),
    RuleCase("IPv6 weight zero", redisList(#"["[::1]:1:0"]"#), "clusters[0].redis[0]", "weight must be between 1 and 10000, got 0"),
    RuleCase("weighted server port zero", redisList(#"["h:0:2"]"#), "clusters[0].redis[0]",
             #"port 0 means "any free port" and is allowed only for listeners; a server needs its real port"#),
    RuleCase("weighted server port too high", redisList(#"["[::1]:65536:2 s1"]"#), "clusters[0].redis[0]", "port must be between 1 and 65535, got 65536"),
    RuleCase("server without port", redisList(#"["localhost"]"#), "clusters[0].redis[0]", #"\#(serverForms), got "localhost""#),
    RuleCase("server with four fields", redisList(#"["h:1:2:3"]"#), "clusters[0].redis[0]", #"\#(serverForms), got "h:1:2:3""#),
    RuleCase("server IPv6 without brackets", redisList(#"["::1:6379"]"#), "clusters[0].redis[0]", #"\#(serverForms), got "::1:6379""#),
    RuleCase("server IPv6 unclosed", redisList(#"["[::1:6379:2"]"#), "clusters[0].redis[0]", #"\#(serverForms), got "[::1:6379:2""#),
    RuleCase("server signed port", redisList(#"["h:+1:2"]"#), "clusters[0].redis[0]", #"\#(serverForms), got "h:+1:2""#),
    RuleCase("server name without weight", redisList(#"["h:1 s1"]"#), "clusters[0].redis[0]",
             #"a server name needs a weight before it ("host:port:weight name", e.g. "h:1:1 s1"), got "h:1 s1""#),
    RuleCase("IPv6 server name without weight", redisList(#"["[::1]:1 s1"]"#), "clusters[0].redis[0]",
             #"a server name needs a weight before it ("host:port:weight name", e.g. "[::1]:1:1 s1"), got "[::1]:1 s1""#),
    RuleCase("server name after two spaces", redisList(#"["h:1:1  s1"]"#), "clusters[0].redis[0]", #"\#(spaceRule), got "h:1:1  s1""#),
    RuleCase("server name after a tab", redisList(#"["h:1:1\ts1"]"#), "clusters[0].redis[0]", #"\#(spaceRule), got "h:1:1\ts1""#),
    RuleCase("server name with a space", redisList(#"["h:1:1 s 1"]"#), "clusters[0].redis[0]", #"\#(spaceRule), got "h:1:1 s 1""#),
    RuleCase("server with trailing space", redisList(#"["h:1:1 "]"#), "clusters[0].redis[0]", #"\#(spaceRule), got "h:1:1 ""#),
    RuleCase("server with leading space", redisList(#"[" h:1"]"#), "clusters[0].redis[0]", #"\#(spaceRule), got " h:1""#),
    RuleCase("space before the port", redisList(#"["h :1"]"#), "clusters[0].redis[0]", #"\#(serverForms), got "h :1""#),
    // Server entries: objects.
    RuleCase("server object without address", redisList(#"[{"weight": 2}]"#), "clusters[0].redis[0].address", "required key is missing"),
    RuleCase("server object unknown key", redisList(#"[{"address": "h:1", "weigth": 2}]"#), "clusters[0].redis[0].weigth",
             #"unknown key (did you mean "weight"?); allowed keys: address, weight, name"#),
    RuleCase("server object address with weight", redisList(#"[{"address": "h:1:2"}]"#), "clusters[0].redis[0].address",
             #"expected "host:port" or "[IPv6]:port" (e.g. "127.0.0.1:6379"), got "h:1:2""#),
    RuleCase("server object address port zero", redisList(#"[{"address": "h:0"}]"#), "clusters[0].redis[0].address",
             #"port 0 means "any free port" and is allowed only for listeners; a server needs its real port"#),
    RuleCase("server object address as number", redisList(#"[{"address": 1}]"#), "clusters[0].redis[0].address",
             #"expected a "host:port" string, got an integer"#),
    RuleCase("server object weight zero", redisList(#"[{"address": "h:1", "weight": 0}]"#), "clusters[0].redis[0].weight",
             "must be between 1 and 10000, got 0"),
    RuleCase("server object weight too big", redisList(#"[{"address": "h:1", "weight": 10001}]"#), "clusters[0].redis[0].weight",
             "must be between 1 and 10000, got 10001"),
    RuleCase("server object weight as string", redisList(#"[{"address": "h:1", "weight": "2"}]"#), "clusters[0].redis[0].weight",
             "expected an integer, got a string"),
    RuleCase("server object weight fractional", redisList(#"[{"address": "h:1", "weight": 1.5}]"#), "clusters[0].redis[0].weight",
             "expected an integer, got 1.5, which has a fractional part"),
    RuleCase("server object name empty", redisList(#"[{"address": "h:1", "name": ""}]"#), "clusters[0].redis[0].name", "must not be empty"),
    RuleCase("server object name with space", redisList(#"[{"address": "h:1", "name": "s 1"}]"#), "clusters[0].redis[0].name",
             #"must not contain whitespace, got "s 1""#),
    RuleCase("server object name with newline", redisList(#"[{"address": "h:1", "name": "s1\n"}]"#), "clusters[0].redis[0].name",
             #"must not contain whitespace, got "s1\n""#),
    RuleCase("server object name as number", redisList(#"[{"address": "h:1", "name": 1}]"#), "clusters[0].redis[0].name",
             "expected a string, got an integer"),
    // Duplicates within a list: names (they place servers on the ring) and endpoints, whatever the form.
    RuleCase("duplicate server name", redisList(#"["h:1:1 s1", "h:2:1 s1"]"#), "clusters[0].redis[1]",
             #"duplicate server name "s1" (already used at clusters[0].redis[0])"#),
    RuleCase("duplicate server name in objects", redisList(#"[{"address": "h:1", "name": "s1"}, {"address": "h:2", "name": "s1"}]"#),
             "clusters[0].redis[1].name", #"duplicate server name "s1" (already used at clusters[0].redis[0].name)"#),
    RuleCase("duplicate server name across forms", redisList(#"[{"address": "h:1", "name": "s1"}, "h:2:3 s1"]"#),
             "clusters[0].redis[1]", #"duplicate server name "s1" (already used at clusters[0].redis[0].name)"#),
    RuleCase("duplicate server with other weight", redisList(#"["h:1", "h:1:2"]"#), "clusters[0].redis[1]",
             "duplicate server h:1 (already listed at clusters[0].redis[0])"),
    RuleCase("duplicate server across forms", redisList(#"["h:1:1 s1", {"address": "h:1", "name": "s2"}]"#), "clusters[0].redis[1]",
             "duplicate server h:1 (already listed at clusters[0].redis[0])"),
    RuleCase("duplicate IPv6 server", redisList(#"["[::1]:1", "[::1]:2", "[::1]:1:2"]"#), "clusters[0].redis[2]",
             "duplicate server [::1]:1 (already listed at clusters[0].redis[0])"),
    RuleCase("weighted server is the proxy itself", redisList(#"["127.0.0.1:6379:2"]"#), "clusters[0].redis[0]",
             "127.0.0.1:6379 is the proxy's own listen.redis address; the proxy would forward to itself"),
    RuleCase("server object is the proxy itself", redisList(#"[{"address": "127.0.0.1:6379"}]"#), "clusters[0].redis[0]",
             "127.0.0.1:6379 is the proxy's own listen.redis address; the proxy would forward to itself"),
    // Server lists in object form.
    RuleCase("single server object instead of a list", redisList(#"{"address": "h:1"}"#), "clusters[0].redis",
             #"expected an array of servers or an object with "servers", got a single server object; write a list even for one server: [{"address": ...}]"#),
    RuleCase("server list as number", redisList("5"), "clusters[0].redis", #"expected an array of servers or an object with "servers", got an integer"#),
    RuleCase("list object without servers", redisList(#"{"hash": "md5"}"#), "clusters[0].redis.servers", "required key is missing"),
    RuleCase("list object servers as string", redisList(#"{"servers": "h:1"}"#), "clusters[0].redis.servers",
             #"expected an array of "host:port" strings, got a string; write a list even for one server: ["h:1"]"#),
    RuleCase("list object servers as object", redisList(#"{"servers": {"servers": ["h:1"]}}"#), "clusters[0].redis.servers",
             "expected an array of servers, got an object"),
    RuleCase("list object with no servers", redisList(#"{"servers": []}"#), "clusters[0]",
             "has no redis servers, but listen.redis is set; every cluster needs redis servers"),
    RuleCase("list object unknown key", redisList(#"{"servers": ["h:1"], "hashtag": "{}"}"#), "clusters[0].redis.hashtag",
             #"unknown key (did you mean "hashTag"?); allowed keys: servers, distribution, hash, hashTag"#),
    RuleCase("list object entry path", redisList(#"{"servers": ["h:1", "h:1:0"]}"#), "clusters[0].redis.servers[1]",
             "weight must be between 1 and 10000, got 0"),
    RuleCase("list object duplicate across protocols", cluster(#""redis": {"servers": ["h:1"]}, "memcached": {"servers": ["h:1:2"]}"#),
             "clusters[0].memcached.servers[0]", "duplicate server h:1 (already listed at clusters[0].redis.servers[0])"),
    // Sharding options.
    RuleCase("unknown hash", redisList(#"["h:1"], "hash": "md4""#), "clusters[0].hash", #"unknown hash "md4"; expected one of \#(hashNames)"#),
    RuleCase("hash names are case-sensitive", redisList(#"["h:1"], "hash": "MD5""#), "clusters[0].hash",
             #"unknown hash "MD5"; expected one of \#(hashNames)"#),
    RuleCase("unknown distribution", redisList(#"["h:1"], "distribution": "consistent""#), "clusters[0].distribution",
             #"unknown distribution "consistent"; expected one of \#(distributionNames)"#),
    RuleCase("unknown list distribution", cluster(#""redis": ["h:1"], "memcached": {"servers": ["h:2"], "distribution": "vnode"}"#),
             "clusters[0].memcached.distribution", #"unknown distribution "vnode"; expected one of \#(distributionNames)"#),
    RuleCase("unknown list hash", redisList(#"{"servers": ["h:1"], "hash": "sha1"}"#), "clusters[0].redis.hash",
             #"unknown hash "sha1"; expected one of \#(hashNames)"#),
    RuleCase("hash as number", redisList(#"["h:1"], "hash": 5"#), "clusters[0].hash", "expected a string, got an integer"),
    RuleCase("distribution as null", redisList(#"["h:1"], "distribution": null"#), "clusters[0].distribution", "expected a string, got null"),
    RuleCase("hash tag of one character", redisList(#"["h:1"], "hashTag": "{""#), "clusters[0].hashTag", #"\#(hashTagRule), got "{""#),
    RuleCase("hash tag of three characters", redisList(#"{"servers": ["h:1"], "hashTag": "{{}"}"#), "clusters[0].redis.hashTag",
             #"\#(hashTagRule), got "{{}""#),
    RuleCase("hash tag not ASCII", redisList(#"["h:1"], "hashTag": "«»""#), "clusters[0].hashTag", #"\#(hashTagRule), got "«»""#),
    RuleCase("hash tag with space", redisList(#"["h:1"], "hashTag": "{ ""#), "clusters[0].hashTag", #"\#(hashTagRule), got "{ ""#),
    RuleCase("hash tag control characters", redisList(#"["h:1"], "hashTag": "\t\n""#), "clusters[0].hashTag", #"\#(hashTagRule), got "\t\n""#),
    RuleCase("hash tag as boolean", redisList(#"["h:1"], "hashTag": false"#), "clusters[0].hashTag", "expected a string, got a boolean"),
    RuleCase("sharding key typo", redisList(#"["h:1"], "Hash": "md5""#), "clusters[0].Hash",
             #"unknown key (did you mean "hash"?); allowed keys: \#(clusterKeys)"#),
    // Structure of the document.
    RuleCase("duplicate root key", file(extra: #""workers": 2, "workers": 3"#), "workers",
             "duplicate key; an object must not repeat a key (only one of the values would be used)"),
    RuleCase("duplicate nested key, escaped", file(clusters: #"[{"name": "a", "redis": ["h:1"], "\u006eame": "b"}]"#), "clusters[0].name",
             "duplicate key; an object must not repeat a key (only one of the values would be used)"),
    RuleCase("root is an array", "[]", "", "expected an object, got an array"),
    RuleCase("root is a number", "3", "", "expected an object, got an integer"),
    RuleCase("empty file", " \n", "", "the file is empty; expected a JSON object"),
]

extension ConfigLoaderTests {
    @Test(arguments: ruleCases)
    func eachRuleRejectsItsExample(_ rule: RuleCase) {
        #expect(problems(rule.json) == rule.expected)
    }
}

// MARK: - Whole-file behaviour

extension ConfigLoaderTests {
    @Test func everyProblemIsReportedAtOnce() {
        let json = #"""
            {
              "listen": {"redis": "127.0.0.1:6379", "admin": "nowhere"},
              "workers": 0,
              "eventLoop": "libuv",
              "clusters": [
                {"name": "dc-a", "local": "yes", "redis": ["127.0.0.1:16379"]},
                {"name": "dc-a", "memcached": ["127.0.0.1:11311"]}
              ],
              "timeouts": {"requestMs": -5, "connectMS": 10},
              "limits": {"maxClients": 0.5},
              "extra": true
            }
            """#
        let expected = [
            ConfigProblem(path: "extra", reason: "unknown key; \(rootKeys)"),
            ConfigProblem(path: "listen.admin", reason: #"expected "host:port" or "[IPv6]:port" (e.g. "127.0.0.1:6379"), got "nowhere""#),
            ConfigProblem(path: "workers", reason: "must be between 1 and 256, got 0"),
            ConfigProblem(path: "eventLoop", reason: #"expected one of "dispatch", "libev", got "libuv""#),
            ConfigProblem(path: "clusters[0].local", reason: "expected a boolean (true or false), got a string"),
            ConfigProblem(path: "clusters[1]", reason: "has no redis servers, but listen.redis is set; every cluster needs redis servers"),
            ConfigProblem(path: "clusters[1].name", reason: #"duplicate cluster name "dc-a" (first used at clusters[0].name)"#),
            ConfigProblem(path: "timeouts.connectMS", reason: "unknown key (did you mean \"connectMs\"?); allowed keys: connectMs, requestMs, reconnectMinMs, reconnectMaxMs, shutdownMs"),
            ConfigProblem(path: "timeouts.requestMs", reason: "must be between 1 and 3600000, got -5"),
            ConfigProblem(path: "limits.maxClients", reason: "expected an integer, got 0.5, which has a fractional part"),
        ]
        #expect(problems(json) == expected)
    }

    @Test func everyServerProblemIsReportedAtOnce() {
        let json = cluster(#"""
            "redis": {"servers": ["h:1:0", "h:2:1 s1", {"address": "h:3", "name": "s1", "weight": 0}, "h:2", {"adress": "h:4"}],
                      "hash": "md4", "extra": 1},
            "memcached": {"address": "h:5"},
            "distribution": "ring", "hashTag": "{"
            """#)
        let expected = [
            ConfigProblem(path: "clusters[0].redis.extra", reason: "unknown key; allowed keys: servers, distribution, hash, hashTag"),
            ConfigProblem(path: "clusters[0].redis.servers[0]", reason: "weight must be between 1 and 10000, got 0"),
            ConfigProblem(path: "clusters[0].redis.servers[2].weight", reason: "must be between 1 and 10000, got 0"),
            ConfigProblem(path: "clusters[0].redis.servers[2].name", reason: #"duplicate server name "s1" (already used at clusters[0].redis.servers[1])"#),
            ConfigProblem(path: "clusters[0].redis.servers[3]", reason: "duplicate server h:2 (already listed at clusters[0].redis.servers[1])"),
            ConfigProblem(path: "clusters[0].redis.servers[4].adress", reason: #"unknown key (did you mean "address"?); allowed keys: address, weight, name"#),
            ConfigProblem(path: "clusters[0].redis.servers[4].address", reason: "required key is missing"),
            ConfigProblem(path: "clusters[0].redis.hash", reason: #"unknown hash "md4"; expected one of \#(hashNames)"#),
            ConfigProblem(path: "clusters[0].memcached", reason: #"expected an array of servers or an object with "servers", got a single server object; write a list even for one server: [{"address": ...}]"#),
            ConfigProblem(path: "clusters[0].distribution", reason: #"unknown distribution "ring"; expected one of \#(distributionNames)"#),
            ConfigProblem(path: "clusters[0].hashTag", reason: #"\#(hashTagRule), got "{""#),
        ]
        #expect(problems(json) == expected)
    }

    @Test func errorDescriptionIsOneLinePerProblem() {
        let error = ConfigError(problems: [
            ConfigProblem(path: "workers", reason: "must be between 1 and 256, got 0"),
            ConfigProblem(path: "", reason: "the file is empty; expected a JSON object"),
        ])
        #expect(error.description == "workers: must be between 1 and 256, got 0\nthe file is empty; expected a JSON object")
        #expect(error.localizedDescription == error.description)
    }

    @Test func syntaxErrorsGiveLineAndColumn() {
        let found = problems("{\n  \"workers\": 2,\n  \"clusters\": ]\n}")
        #expect(found.count == 1)
        #expect(found.first?.path == "")
        #expect(found.first?.reason.hasPrefix("invalid JSON: ") == true)
        #expect(found.first?.reason.contains("line 3, column 15") == true, "\(found)")
        // Columns count characters, not bytes.
        #expect(JSONTree.lineAndColumn(ofByte: 11, in: Array("{\"é😀\": x}".utf8)) == (1, 8))
        #expect(JSONTree.lineAndColumn(ofByte: 0, in: []) == (1, 1))
    }

    @Test func booleansAndNumbersAreToldApart() throws {
        #expect(try JSONTree.parse(Array(#"[true, false, 1, 0, 1.0, -0, 18446744073709551615]"#.utf8))
            == .array([.bool(true), .bool(false), .integer(1), .integer(0), .number(1.0), .integer(0), .number(18446744073709551615.0)]))
    }

    @Test func loadReadsFilesAndReportsUnreadableOnes() throws {
        let path = NSTemporaryDirectory() + "metacluster-config-\(UUID().uuidString).json"
        try Data(file(extra: #""workers": 5"#).utf8).write(to: URL(fileURLWithPath: path))
        defer { try? FileManager.default.removeItem(atPath: path) }
        #expect(try ConfigLoader.load(path: path, defaultWorkers: 1).workers == 5)

        let missing = path + ".missing"
        #expect(throws: ConfigError(problems: [ConfigProblem(path: "", reason: "cannot read config file \"\(missing)\": No such file or directory")])) {
            try ConfigLoader.load(path: missing, defaultWorkers: 1)
        }
        #expect(throws: ConfigError(problems: [ConfigProblem(path: "", reason: "cannot read config file \"/\": Is a directory")])) {
            try ConfigLoader.load(path: "/", defaultWorkers: 1)
        }
    }
}
