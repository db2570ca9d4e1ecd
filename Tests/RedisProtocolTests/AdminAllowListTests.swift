import Testing

import RedisProtocol

@Suite("AdminAllowList")
struct AdminAllowListTests {
    let table = CommandTable.builtin

    private func entry(_ text: String) -> String? {
        try? AdminAllowList.entry(text).get()
    }

    private func failure(_ text: String) -> String? {
        if case .failure(let error) = AdminAllowList.entry(text) { return error.reason }
        return nil
    }

    @Test(arguments: [
        ("FLUSHALL", "flushall"), ("flushdb", "flushdb"), ("CONFIG SET", "config|set"), ("config  set", "config|set"),
        ("Config Rewrite", "config|rewrite"), ("CONFIG", "config"), ("SAVE", "save"), ("BGSAVE", "bgsave"),
        ("SHUTDOWN", "shutdown"), ("DEBUG", "debug"), ("CLIENT KILL", "client|kill"), ("CLIENT", "client"),
        ("SLAVEOF", "slaveof"), ("REPLICAOF", "replicaof"), ("FAILOVER", "failover"), ("SWAPDB", "swapdb"),
        ("ACL SETUSER", "acl|setuser"), ("MODULE LOAD", "module|load"), ("SLOWLOG", "slowlog"),
        ("LATENCY RESET", "latency|reset"), ("MEMORY PURGE", "memory|purge"), ("MEMORY", "memory"),
        ("PFDEBUG", "pfdebug"),
    ] as [(String, String)])
    func allowableEntriesNameTheirTableEntry(_ text: String, _ name: String) {
        #expect(entry(text) == name, "\(text): \(failure(text) ?? "")")
    }

    @Test(arguments: [
        ("MONITOR", "MONITOR can never be allowed: MONITOR is not supported through metacluster: it turns the connection into a stream of one backend's traffic"),
        ("SYNC", "SYNC can never be allowed: it would turn the client's connection into a replication stream"),
        ("PSYNC", "PSYNC can never be allowed: it would turn"),
        ("REPLCONF", "REPLCONF can never be allowed"),
        ("CLUSTER", "CLUSTER can never be allowed: metacluster is not a Redis Cluster"),
        ("CLUSTER RESET", "CLUSTER RESET can never be allowed: metacluster is not a Redis Cluster"),
        ("ASKING", "ASKING can never be allowed"),
        ("SENTINEL", "SENTINEL can never be allowed: metacluster does not speak the Sentinel protocol"),
        ("SCRIPT DEBUG", "SCRIPT DEBUG can never be allowed: SCRIPT DEBUG turns the connection into a Lua debugger"),
        ("SCRIPT KILL", "SCRIPT KILL can never be allowed: SCRIPT KILL/FUNCTION KILL cannot be aimed"),
        ("FUNCTION KILL", "FUNCTION KILL can never be allowed"),
        ("CLIENT TRACKING", "CLIENT TRACKING can never be allowed: client-side caching"),
        ("CLIENT REPLY", "CLIENT REPLY can never be allowed: this command changes the state of a backend connection"),
        ("MIGRATE", "MIGRATE can never be allowed"),
        ("GET", "GET is not refused by metacluster; allowCommands lists only commands refused by default"),
        ("CONFIG GET", "CONFIG GET is not refused by metacluster"),
        ("MULTI", "MULTI is not refused by metacluster"),
        ("SCRIPT", "no subcommand of SCRIPT may be allowed"),
        ("XINFO", "no subcommand of XINFO may be allowed"),
        ("NOSUCH", "unknown command NOSUCH"),
        ("CONFIG NOSUCH", "unknown subcommand CONFIG NOSUCH"),
        ("DEBUG SLEEP", "DEBUG has no subcommands; list DEBUG alone"),
        ("", "expected a command name"),
        ("   ", "expected a command name"),
        ("CONFIG SET maxmemory", "expected a command name"),
    ] as [(String, String)])
    func rejectedEntriesSayWhy(_ text: String, _ reason: String) {
        let got = failure(text)
        #expect(got?.hasPrefix(reason) == true, "\(text): \(got ?? "accepted as \(entry(text) ?? "?")")")
        #expect(got.map { !$0.contains("\n") && !$0.contains("\r") } ?? false)
    }

    @Test func guardedAreTheFlushesAndTheAdministrativeRefusals() {
        var guarded: [String] = []
        for info in table.commands where AdminAllowList.isGuarded(info) { guarded.append(info.name) }
        for name in ["flushall", "flushdb", "config|set", "save", "bgsave", "shutdown", "debug", "client|kill",
                     "slaveof", "replicaof", "swapdb", "acl|setuser", "config"] {
            #expect(guarded.contains(name), "\(name)")
        }
        for name in ["monitor", "sync", "psync", "replconf", "cluster", "cluster|reset", "sentinel", "script|debug",
                     "script|kill", "function|kill", "client|tracking", "client|reply", "client", "get", "multi",
                     "config|get", "migrate", "memory", "subscribe"] {
            #expect(!guarded.contains(name), "\(name)")
        }
        // Every guarded command but the flushes is refused by default.
        for name in guarded where name != "flushall" && name != "flushdb" {
            if case .unsupported = table.command(named: name)!.access {} else { Issue.record("\(name) is not refused") }
        }
    }

    @Test func aContainerAllowsItsGuardedSubcommandsAndItsFallback() {
        let list = AdminAllowList(["config", "client"])
        #expect(list.allows(table.lookup("config", subcommand: "set")!))
        #expect(list.allows(table.lookup("config", subcommand: "rewrite")!))
        // An unlisted subcommand resolves to the container, whose refusal is administrative.
        #expect(list.allows(table.lookup("config", subcommand: "nosuch")!))
        #expect(list.allows(table.lookup("client", subcommand: "kill")!))
        #expect(list.allows(table.lookup("client", subcommand: "pause")!))
        // CLIENT's own refusal and its never-allowed subcommands stay refused.
        #expect(!list.allows(table.lookup("client", subcommand: "nosuch")!))
        #expect(!list.allows(table.lookup("client", subcommand: "tracking")!))
        #expect(!list.allows(table.lookup("client", subcommand: "reply")!))
        #expect(!list.allows(table.lookup("flushall")!))
    }

    @Test func aSubcommandAllowsItselfOnly() {
        let list = AdminAllowList(["config|set", "flushall"])
        #expect(list.allows(table.lookup("config", subcommand: "set")!))
        #expect(!list.allows(table.lookup("config", subcommand: "rewrite")!))
        #expect(!list.allows(table.lookup("config", subcommand: "nosuch")!))
        #expect(list.allows(table.lookup("flushall")!))
        #expect(!list.allows(table.lookup("flushdb")!))
    }

    @Test func namesThatCannotBeAllowedAllowNothing() {
        let list = AdminAllowList(["monitor", "get", "cluster", "nosuch", "script"])
        #expect(list.names.isEmpty)
        #expect(AdminAllowList.none.names.isEmpty)
        for info in table.commands { #expect(!AdminAllowList.none.allows(info), "\(info.name)") }
    }

    @Test func everyEntryTheValidatorAcceptsAllowsSomething() {
        // Whatever `entry` accepts must have an effect once in a list: no silent no-op entries.
        for info in table.commands {
            let text = info.displayName
            guard let name = entry(text) else { continue }
            let list = AdminAllowList([name])
            #expect(table.commands.contains(where: list.allows), "\(text) is accepted but allows nothing")
        }
    }
}
