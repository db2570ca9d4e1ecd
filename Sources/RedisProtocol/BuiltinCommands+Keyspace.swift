// Built-in redis command data: generic keys, scripting and functions, pub/sub, transactions.
// Arity and key positions are as Redis's COMMAND reports them (checked against a real server by
// CommandTableTests); access kinds and flags are metacluster's decisions, explained in
// BuiltinCommands.swift and docs/redis-commands.md. Keep each family sorted by name.

extension BuiltinCommands {
    static func generic(_ b: inout Builder) {
        b.add("copy", -3, .write, keys: (1, 2, 1))
        b.add("del", -2, .write, keys: (1, -1, 1))
        b.add("dump", 2, .read, keys: (1, 1, 1), [.nondeterministic])
        b.add("exists", -2, .read, keys: (1, -1, 1))
        b.add("expire", -3, .write, keys: (1, 1, 1), [.relativeExpiry])
        b.add("expireat", -3, .write, keys: (1, 1, 1))
        b.add("expiretime", 2, .read, keys: (1, 1, 1))
        b.add("keys", 2, .read, [.unorderedOutput, .keyspaceWide])
        b.add("migrate", -6, .refused(Refusal.migrate), keys: (3, 3, 1), [.nondeterministic], movable: .migrate)
        b.add("move", 3, .write, keys: (1, 1, 1))
        b.container("object", -2, .read)
        b.add("object|encoding", 3, .read, keys: (2, 2, 1), [.nondeterministic])
        b.add("object|freq", 3, .read, keys: (2, 2, 1), [.nondeterministic])
        b.add("object|help", 2, .read)
        b.add("object|idletime", 3, .read, keys: (2, 2, 1), [.nondeterministic])
        b.add("object|refcount", 3, .read, keys: (2, 2, 1), [.nondeterministic])
        b.add("persist", 2, .write, keys: (1, 1, 1))
        b.add("pexpire", -3, .write, keys: (1, 1, 1), [.relativeExpiry])
        b.add("pexpireat", -3, .write, keys: (1, 1, 1))
        b.add("pexpiretime", 2, .read, keys: (1, 1, 1))
        b.add("pttl", 2, .read, keys: (1, 1, 1), [.nondeterministic])
        b.add("randomkey", 1, .read, [.nondeterministic, .keyspaceWide])
        b.add("rename", 3, .write, keys: (1, 2, 1))
        b.add("renamenx", 3, .write, keys: (1, 2, 1))
        b.add("restore", -4, .write, keys: (1, 1, 1), [.relativeExpiry])
        b.add("scan", -2, .read, [.nondeterministic, .keyspaceWide])
        b.add("sort", -2, .write, keys: (1, 1, 1), movable: .sortStore)
        b.add("sort_ro", -2, .read, keys: (1, 1, 1), [.movableKeys])
        b.add("touch", -2, .read, keys: (1, -1, 1))
        b.add("ttl", 2, .read, keys: (1, 1, 1), [.nondeterministic])
        b.add("type", 2, .read, keys: (1, 1, 1))
        b.add("unlink", -2, .write, keys: (1, -1, 1))
        b.add("wait", 3, .read, [.blocking])
        b.add("waitaof", 4, .read, [.blocking])  // Redis 7.2
    }

    static func scripting(_ b: inout Builder) {
        b.add("eval", -3, .write, [.scripting], movable: .numkeys(countIndex: 2))
        b.add("eval_ro", -3, .read, [.scripting], movable: .numkeys(countIndex: 2))
        b.add("evalsha", -3, .write, [.scripting], movable: .numkeys(countIndex: 2))
        b.add("evalsha_ro", -3, .read, [.scripting], movable: .numkeys(countIndex: 2))
        b.add("fcall", -3, .write, [.scripting], movable: .numkeys(countIndex: 2))
        b.add("fcall_ro", -3, .read, [.scripting], movable: .numkeys(countIndex: 2))
        b.container("function", -2, .write, [.scripting])
        b.add("function|delete", 3, .write, [.scripting])
        b.add("function|dump", 2, .read, [.nondeterministic, .scripting])
        b.add("function|flush", -2, .write, [.scripting])
        b.add("function|help", 2, .read, [.scripting])
        b.add("function|kill", 2, .refused(Refusal.killScript), [.scripting])
        b.add("function|list", -2, .read, [.unorderedOutput, .scripting])
        b.add("function|load", -3, .write, [.scripting])
        b.add("function|restore", -3, .write, [.scripting])
        b.add("function|stats", 2, .read, [.nondeterministic, .scripting])
        b.container("script", -2, .write, [.scripting])
        b.add("script|debug", 3, .refused(Refusal.scriptDebug), [.scripting])
        b.add("script|exists", -3, .read, [.nondeterministic, .scripting])
        b.add("script|flush", -2, .write, [.scripting])
        b.add("script|help", 2, .read, [.scripting])
        b.add("script|kill", 2, .refused(Refusal.killScript), [.scripting])
        b.add("script|load", 3, .write, [.scripting])
    }

    static func pubsub(_ b: inout Builder) {
        b.add("psubscribe", -2, .stateful, [.pubsub])
        b.add("publish", 3, .write, [.pubsub])
        b.container("pubsub", -2, .read, [.pubsub])
        b.add("pubsub|channels", -2, .read, [.nondeterministic, .unorderedOutput, .pubsub])
        b.add("pubsub|help", 2, .read, [.pubsub])
        b.add("pubsub|numpat", 2, .read, [.nondeterministic, .pubsub])
        b.add("pubsub|numsub", -2, .read, [.nondeterministic, .pubsub])
        b.add("pubsub|shardchannels", -2, .read, [.nondeterministic, .unorderedOutput, .pubsub])
        b.add("pubsub|shardnumsub", -2, .read, [.nondeterministic, .pubsub])
        b.add("punsubscribe", -1, .stateful, [.pubsub])
        b.add("spublish", 3, .write, keys: (1, 1, 1), [.pubsub])
        b.add("ssubscribe", -2, .stateful, keys: (1, -1, 1), [.pubsub])
        b.add("subscribe", -2, .stateful, [.pubsub])
        b.add("sunsubscribe", -1, .stateful, keys: (1, -1, 1), [.pubsub])
        b.add("unsubscribe", -1, .stateful, [.pubsub])
    }

    static func transactions(_ b: inout Builder) {
        b.add("discard", 1, .stateful, [.transaction])
        b.add("exec", 1, .stateful, [.transaction])
        b.add("multi", 1, .stateful, [.transaction])
        b.add("unwatch", 1, .stateful, [.transaction])
        b.add("watch", -2, .stateful, keys: (1, -1, 1), [.transaction])
    }
}
