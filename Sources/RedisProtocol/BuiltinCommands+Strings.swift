// Built-in redis command data: strings, bitmaps, HyperLogLog, hashes.
// Arity and key positions are as Redis's COMMAND reports them (checked against a real server by
// CommandTableTests); access kinds and flags are metacluster's decisions, explained in
// BuiltinCommands.swift and docs/redis-commands.md. Keep each family sorted by name.

extension BuiltinCommands {
    static func strings(_ b: inout Builder) {
        b.add("append", 3, .write, keys: (1, 1, 1))
        b.add("decr", 2, .write, keys: (1, 1, 1))
        b.add("decrby", 3, .write, keys: (1, 1, 1))
        b.add("get", 2, .read, keys: (1, 1, 1))
        b.add("getdel", 2, .write, keys: (1, 1, 1))
        b.add("getex", -2, .write, keys: (1, 1, 1), [.relativeExpiry])
        b.add("getrange", 4, .read, keys: (1, 1, 1))
        b.add("getset", 3, .write, keys: (1, 1, 1))
        b.add("incr", 2, .write, keys: (1, 1, 1))
        b.add("incrby", 3, .write, keys: (1, 1, 1))
        b.add("incrbyfloat", 3, .write, keys: (1, 1, 1))
        b.add("lcs", -3, .read, keys: (1, 2, 1))
        b.add("mget", -2, .read, keys: (1, -1, 1))
        b.add("mset", -3, .write, keys: (1, -1, 2))
        b.add("msetnx", -3, .write, keys: (1, -1, 2))
        b.add("psetex", 4, .write, keys: (1, 1, 1), [.relativeExpiry])
        b.add("set", -3, .write, keys: (1, 1, 1), [.relativeExpiry])
        b.add("setex", 4, .write, keys: (1, 1, 1), [.relativeExpiry])
        b.add("setnx", 3, .write, keys: (1, 1, 1))
        b.add("setrange", 4, .write, keys: (1, 1, 1))
        b.add("strlen", 2, .read, keys: (1, 1, 1))
        b.add("substr", 4, .read, keys: (1, 1, 1))
    }

    static func bitmaps(_ b: inout Builder) {
        b.add("bitcount", -2, .read, keys: (1, 1, 1))
        b.add("bitfield", -2, .write, keys: (1, 1, 1))
        b.add("bitfield_ro", -2, .read, keys: (1, 1, 1))
        b.add("bitop", -4, .write, keys: (2, -1, 1))
        b.add("bitpos", -3, .read, keys: (1, 1, 1))
        b.add("getbit", 3, .read, keys: (1, 1, 1))
        b.add("setbit", 4, .write, keys: (1, 1, 1))
    }

    static func hyperloglogs(_ b: inout Builder) {
        b.add("pfadd", -2, .write, keys: (1, 1, 1))
        b.add("pfcount", -2, .read, keys: (1, -1, 1))
        b.add("pfdebug", 3, .refused(Refusal.debug), keys: (2, 2, 1), [.admin])
        b.add("pfmerge", -2, .write, keys: (1, -1, 1))
        b.add("pfselftest", 1, .refused(Refusal.admin), [.admin])
    }

    static func hashes(_ b: inout Builder) {
        b.add("hdel", -3, .write, keys: (1, 1, 1))
        b.add("hexists", 3, .read, keys: (1, 1, 1))
        b.add("hexpire", -6, .write, keys: (1, 1, 1), [.relativeExpiry])  // Redis 7.4
        b.add("hexpireat", -6, .write, keys: (1, 1, 1))  // Redis 7.4
        b.add("hexpiretime", -5, .read, keys: (1, 1, 1))  // Redis 7.4
        b.add("hget", 3, .read, keys: (1, 1, 1))
        b.add("hgetall", 2, .read, keys: (1, 1, 1), [.unorderedOutput])
        b.add("hincrby", 4, .write, keys: (1, 1, 1))
        b.add("hincrbyfloat", 4, .write, keys: (1, 1, 1))
        b.add("hkeys", 2, .read, keys: (1, 1, 1), [.unorderedOutput])
        b.add("hlen", 2, .read, keys: (1, 1, 1))
        b.add("hmget", -3, .read, keys: (1, 1, 1))
        b.add("hmset", -4, .write, keys: (1, 1, 1))
        b.add("hpersist", -5, .write, keys: (1, 1, 1))  // Redis 7.4
        b.add("hpexpire", -6, .write, keys: (1, 1, 1), [.relativeExpiry])  // Redis 7.4
        b.add("hpexpireat", -6, .write, keys: (1, 1, 1))  // Redis 7.4
        b.add("hpexpiretime", -5, .read, keys: (1, 1, 1))  // Redis 7.4
        b.add("hpttl", -5, .read, keys: (1, 1, 1), [.nondeterministic])  // Redis 7.4
        b.add("hrandfield", -2, .read, keys: (1, 1, 1), [.nondeterministic])
        b.add("hscan", -3, .read, keys: (1, 1, 1), [.nondeterministic])
        b.add("hset", -4, .write, keys: (1, 1, 1))
        b.add("hsetnx", 4, .write, keys: (1, 1, 1))
        b.add("hstrlen", 3, .read, keys: (1, 1, 1))
        b.add("httl", -5, .read, keys: (1, 1, 1), [.nondeterministic])  // Redis 7.4
        b.add("hvals", 2, .read, keys: (1, 1, 1), [.unorderedOutput])
    }
}
