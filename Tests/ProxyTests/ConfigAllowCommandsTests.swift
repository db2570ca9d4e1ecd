@testable import Proxy
import RedisProtocol
import Testing

/// `allowCommands`: administrative redis commands the operator lets through (docs/configuration.md).
@Suite struct ConfigAllowCommandsTests {
    private func file(_ extra: String) -> String {
        #"{"listen": {"redis": "127.0.0.1:6379"}, "clusters": [{"name": "a", "redis": ["127.0.0.1:16379"]}], \#(extra)}"#
    }

    private func problems(_ extra: String) -> [ConfigProblem] {
        do {
            _ = try ConfigLoader.parse(Array(file(extra).utf8), defaultWorkers: 2)
            return []
        } catch let error as ConfigError {
            return error.problems
        } catch {
            Issue.record("parse threw \(error)")
            return []
        }
    }

    private func load(_ extra: String) throws -> ProxyConfig {
        try ConfigLoader.parse(Array(file(extra).utf8), defaultWorkers: 2)
    }

    @Test func entriesBecomeTableNamesInFileOrder() throws {
        let config = try load(#""allowCommands": ["FLUSHALL", "config set", "SAVE", "CLIENT KILL", "SLOWLOG", "Shutdown"]"#)
        #expect(config.allowCommands == ["flushall", "config|set", "save", "client|kill", "slowlog", "shutdown"])
        #expect(!config.allowFlush)
    }

    @Test func absentOrEmptyAllowsNothing() throws {
        #expect(try load(#""workers": 1"#).allowCommands == [])
        #expect(try load(#""allowCommands": []"#).allowCommands == [])
    }

    @Test func allowFlushAndAllowCommandsGoTogether() throws {
        let config = try load(#""allowFlush": true, "allowCommands": ["FLUSHALL", "CONFIG SET"]"#)
        #expect(config.allowFlush)
        #expect(config.allowCommands == ["flushall", "config|set"])
    }

    @Test(arguments: [
        ("MONITOR", "MONITOR can never be allowed: MONITOR is not supported through metacluster: it turns the connection into a stream of one backend's traffic; run it on the backend directly"),
        ("CLUSTER", "CLUSTER can never be allowed: \(BuiltinCommands.Refusal.cluster)"),
        ("SENTINEL", "SENTINEL can never be allowed: \(BuiltinCommands.Refusal.sentinel)"),
        ("SCRIPT DEBUG", "SCRIPT DEBUG can never be allowed: \(BuiltinCommands.Refusal.scriptDebug)"),
        ("SCRIPT KILL", "SCRIPT KILL can never be allowed: \(BuiltinCommands.Refusal.killScript)"),
        ("FUNCTION KILL", "FUNCTION KILL can never be allowed: \(BuiltinCommands.Refusal.killScript)"),
        ("SYNC", "SYNC can never be allowed: it would turn the client's connection into a replication stream of one backend"),
        ("GET", "GET is not refused by metacluster; allowCommands lists only commands refused by default"),
        ("EXEC", "EXEC is not refused by metacluster; allowCommands lists only commands refused by default"),
        ("FROBNICATE", "unknown command FROBNICATE"),
        ("CONFIG FROB", "unknown subcommand CONFIG FROB"),
        ("CONFIG SET maxmemory 1", #"expected a command name, "CONTAINER SUBCOMMAND" or a container alone, e.g. "FLUSHALL" or "CONFIG SET""#),
    ] as [(String, String)])
    func aRejectedEntryIsNamedWithItsReason(_ entry: String, _ reason: String) {
        let json = #""allowCommands": ["SAVE", "\#(entry)"]"#
        #expect(problems(json) == [ConfigProblem(path: "allowCommands[1]", reason: "\"\(entry)\": \(reason)")])
    }

    @Test func everyBadEntryIsReportedAtOnce() {
        let got = problems(#""allowCommands": ["MONITOR", "SAVE", 7, "save", "GET"]"#)
        #expect(got.map(\.path) == ["allowCommands[0]", "allowCommands[2]", "allowCommands[3]", "allowCommands[4]"])
        #expect(got[1].reason == "expected a string, got an integer")
        #expect(got[2].reason == #""save" is listed twice (first at allowCommands[1])"#)
    }

    @Test func notAnArray() {
        #expect(problems(#""allowCommands": "FLUSHALL""#) == [ConfigProblem(path: "allowCommands", reason: "expected an array of command names, got a string")])
    }
}
