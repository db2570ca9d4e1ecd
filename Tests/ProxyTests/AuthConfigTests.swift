#if canImport(Proxy)
@testable import Proxy
#else
// Built standalone from a mini-package that compiles only Sources/Proxy/Configuration.
@testable import ConfigUnderTest
#endif
import Testing

/// `requirepass`, `users` and `clusters[].redisAuth`: what they load as, what they reject, and that
/// no secret reaches a problem or a description.
@Suite struct AuthConfigTests {
    private func file(_ extra: String = "", redisAuth: String? = nil, listen: String = #"{"redis": "127.0.0.1:6379"}"#) -> String {
        let auth = redisAuth.map { #", "redisAuth": \#($0)"# } ?? ""
        let cluster = #"{"name": "a", "redis": ["127.0.0.1:16379"], "memcached": ["127.0.0.1:11311"]\#(auth)}"#
        return #"{"listen": \#(listen), "clusters": [\#(cluster)]\#(extra.isEmpty ? "" : ", " + extra)}"#
    }

    private func load(_ json: String) throws -> ProxyConfig {
        try ConfigLoader.parse(Array(json.utf8), defaultWorkers: 1)
    }

    private func problems(_ json: String) -> [ConfigProblem] {
        do {
            _ = try load(json)
            return []
        } catch let error as ConfigError {
            return error.problems
        } catch {
            Issue.record("parse threw \(error), not a ConfigError")
            return []
        }
    }

    @Test func withoutKeysNobodyNeedsToAuthenticate() throws {
        let config = try load(file())
        #expect(!config.clientAuth.isRequired)
        #expect(config.clientAuth.users.isEmpty)
        #expect(config.clusters[0].redisAuth == nil)
    }

    @Test func requirepassIsTheDefaultUsersPassword() throws {
        let auth = try load(file(#""requirepass": "s3cret""#)).clientAuth
        #expect(auth.isRequired)
        #expect(auth.users == [ClientUser(name: "default", password: "s3cret")])
        #expect(auth.password(of: "default") == "s3cret")
        #expect(auth.password(of: "alice") == nil)
    }

    @Test func usersAreLoadedInOrderWithRequirepassFirst() throws {
        let auth = try load(file(#""requirepass": "d", "users": [{"user": "alice", "password": "pa"}, {"password": "pb", "user": "bob"}]"#)).clientAuth
        #expect(auth.users.map(\.name) == ["default", "alice", "bob"])
        #expect(auth.password(of: "alice") == "pa" && auth.password(of: "bob") == "pb")
        // `default` in users replaces requirepass; users alone require authentication too.
        let listed = try load(file(#""users": [{"user": "default", "password": "d2"}]"#)).clientAuth
        #expect(listed.password(of: "default") == "d2" && listed.isRequired)
        let acl = try load(file(#""users": [{"user": "alice", "password": "pa"}]"#)).clientAuth
        #expect(acl.isRequired && acl.password(of: "default") == nil)
        #expect(try !load(file(#""users": []"#)).clientAuth.isRequired)
    }

    @Test func redisAuthWithAndWithoutUser() throws {
        let plain = try load(file(redisAuth: #"{"password": "bpw"}"#))
        #expect(plain.clusters[0].redisAuth == BackendCredentials(user: nil, password: "bpw"))
        let acl = try load(file(redisAuth: #"{"user": "proxy", "password": "bpw"}"#))
        #expect(acl.clusters[0].redisAuth == BackendCredentials(user: "proxy", password: "bpw"))
    }

    @Test(arguments: [
        (#""requirepass": """#, nil as String?, "requirepass", "must not be empty; leave the key out for no password"),
        (#""requirepass": 12.5"#, nil, "requirepass", "expected a string, got a number"),
        (#""requirepass": true"#, nil, "requirepass", "expected a string, got a boolean"),
        (#""users": {"user": "a", "password": "p"}"#, nil, "users", #"expected an array of user objects ({"user": ..., "password": ...}), got an object"#),
        (#""users": [{"user": "a"}]"#, nil, "users[0].password", "required key is missing"),
        (#""users": [{"password": "p"}]"#, nil, "users[0].user", "required key is missing"),
        (#""users": [{"user": "", "password": "p"}]"#, nil, "users[0].user", "must not be empty"),
        (#""users": [{"user": "a b", "password": "p"}]"#, nil, "users[0].user", #"must not contain spaces or control characters, got "a b""#),
        (#""users": [{"user": "a", "password": ""}]"#, nil, "users[0].password", "must not be empty; leave the key out for no password"),
        (#""users": [{"user": "a", "password": 7}]"#, nil, "users[0].password", "expected a string, got a number"),
        (#""users": [{"user": "a", "password": "p", "passwd": "q"}]"#, nil, "users[0].passwd", #"unknown key (did you mean "password"?); allowed keys: user, password"#),
        (#""users": [{"user": "a", "password": "p"}, {"user": "a", "password": "q"}]"#, nil, "users[1].user", #"duplicate user "a" (first defined at users[0].user)"#),
        (#""requirepass": "p", "users": [{"user": "default", "password": "q"}]"#, nil, "users[0].user",
         #"user "default" also gets its password from requirepass; set it in one place only (remove requirepass or this entry)"#),
        ("", #"{"user": "proxy"}"#, "clusters[0].redisAuth.password", "required key is missing"),
        ("", #"{"password": ""}"#, "clusters[0].redisAuth.password", "must not be empty; leave the key out for no password"),
        ("", #"{"user": "", "password": "p"}"#, "clusters[0].redisAuth.user", "must not be empty"),
        ("", #"{"password": 3.25}"#, "clusters[0].redisAuth.password", "expected a string, got a number"),
        ("", #""bpw""#, "clusters[0].redisAuth", "expected an object, got a string"),
        ("", #"{"password": "p", "username": "u"}"#, "clusters[0].redisAuth.username", "unknown key; allowed keys: user, password"),
    ])
    func eachRuleRejectsItsExample(extra: String, redisAuth: String?, path: String, reason: String) {
        #expect(problems(file(extra, redisAuth: redisAuth)) == [ConfigProblem(path: path, reason: reason)])
    }

    @Test func clientPasswordsNeedTheRedisListener() {
        let memcachedOnly = #"{"memcached": "127.0.0.1:11211"}"#
        #expect(problems(file(#""requirepass": "p""#, listen: memcachedOnly)) == [ConfigProblem(
            path: "requirepass",
            reason: "client passwords protect the redis listener, and listen.redis is not set (memcached clients are not authenticated)")])
    }

    @Test func problemsAndDescriptionsNeverHoldAPassword() throws {
        let secrets = ["hunter2", "12.5", "dup-secret", "backend-pw"]
        let bad = file(#""requirepass": "hunter2", "users": [{"user": "default", "password": "dup-secret"}, {"user": "x", "password": 12.5}]"#,
                       redisAuth: #"{"password": "backend-pw", "extra": "backend-pw"}"#)
        let found = problems(bad)
        #expect(found.count == 3, "\(found)")
        let text = ConfigError(problems: found).description
        for secret in secrets { #expect(!text.contains(secret), "\(text)") }

        let config = try load(file(#""requirepass": "hunter2", "users": [{"user": "alice", "password": "dup-secret"}]"#,
                                   redisAuth: #"{"user": "proxy", "password": "backend-pw"}"#))
        var dumped = ""
        dump(config, to: &dumped)
        for shown in ["\(config)", String(reflecting: config), dumped, "\(config.clientAuth)", "\(config.clusters[0])",
                      "\(config.clusters[0].redisAuth!)", String(reflecting: config.clusters[0].redisAuth!)] {
            for secret in secrets { #expect(!shown.contains(secret), "\(shown)") }
        }
        // The names are still there to tell the entries apart.
        #expect("\(config.clientAuth)".contains("alice") && "\(config.clusters[0].redisAuth!)".contains("proxy"))
    }
}
