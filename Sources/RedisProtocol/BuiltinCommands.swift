/// The built-in command data: every command of Redis 7.0 and 7.2 (plus the hash-field expiry
/// commands of 7.4), with arity and key positions as Redis's `COMMAND` reports them, and an
/// access kind chosen for a proxy in front of several independent clusters that shares pipelined
/// backend connections between clients.
///
/// The families live in `BuiltinCommands+*.swift`; `docs/redis-commands.md` is the same table for
/// people, and a test keeps the two in step. The principles:
/// - data reads are `.read` and data writes `.write`, as Redis flags them;
/// - anything that would change the state of a shared backend connection is kept by the proxy
///   (`.connectionState`), answered by it (`.proxyAnswered`), or refused;
/// - commands that change what the client's later commands mean (transactions, subscriptions) are
///   `.stateful`: the session runs them itself, on a dedicated backend connection where one is
///   needed;
/// - blocking commands (BLPOP, BZPOPMIN, WAIT, XREAD BLOCK ...) keep their data kind (`.write` for
///   what takes data, `.read` otherwise) with `.blocking`: the session runs them on the client's
///   dedicated connection and replicates what they took;
/// - administration of the backends (CONFIG SET, SAVE, replication, ACL, MODULE ...) is refused:
///   it belongs on the backends themselves, unless the config's `allowCommands` lets it through
///   (`AdminAllowList`); CLUSTER, MONITOR and kin are refused whatever the config says;
/// - every refusal carries a reason from `Refusal`, naming the rule.
public enum BuiltinCommands {
    /// The reasons given with `.unsupported`; each names the rule that refuses the command.
    public enum Refusal {
        /// Kept for blocking commands the built-in table does not know (a module's, merged from a
        /// server's `COMMAND` reply), and while the session has no dedicated connection for them.
        public static let blocking =
            "blocking command unknown to metacluster (a module's?): it cannot tell what the command takes, so it could not replicate it to the other clusters"
        public static let monitor =
            "MONITOR is not supported through metacluster: it turns the connection into a stream of one backend's traffic; run it on the backend directly"
        public static let replication =
            "replication command refused: metacluster replicates between clusters itself; manage backend replication on the backends directly"
        public static let admin =
            "administrative command: run it on the backend directly"
        public static let debug =
            "debugging command: run it on the backend directly"
        public static let cluster =
            "metacluster is not a Redis Cluster: connect in standalone mode (CLUSTER, ASKING and RESTORE-ASKING are refused)"
        public static let sentinel =
            "metacluster does not speak the Sentinel protocol: connect to it as a standalone server"
        public static let sharedConnection =
            "this command changes the state of a backend connection that metacluster shares between clients"
        public static let clientAdmin =
            "client administration refused: the backends see metacluster's shared connections, not its clients; run it on the backend directly"
        public static let tracking =
            "client-side caching (CLIENT TRACKING and related) is not supported through metacluster: invalidations would arrive on shared backend connections"
        public static let clientSubcommand =
            "CLIENT subcommand not supported through metacluster (ID, GETNAME, SETNAME, SETINFO, INFO and HELP are)"
        public static let memorySubcommand =
            "MEMORY subcommand not supported through metacluster (USAGE, STATS, DOCTOR, MALLOC-STATS and HELP are)"
        public static let migrate =
            "MIGRATE moves keys to a server outside metacluster and deletes them from every cluster; run it on the backend directly"
        public static let swapdb =
            "SWAPDB swaps whole databases on every cluster: administrative command, run it on the backend directly"
        public static let killScript =
            "SCRIPT KILL/FUNCTION KILL cannot be aimed: metacluster does not know which cluster runs the busy script; run it on the backend directly"
        public static let scriptDebug =
            "SCRIPT DEBUG turns the connection into a Lua debugger session, which a shared backend connection cannot carry"
    }

    /// Every built-in entry, containers before their subcommands.
    public static let all: [CommandInfo] = {
        var b = Builder()
        b.group = .string; strings(&b)
        b.group = .bitmap; bitmaps(&b)
        b.group = .hyperloglog; hyperloglogs(&b)
        b.group = .hash; hashes(&b)
        b.group = .list; lists(&b)
        b.group = .set; sets(&b)
        b.group = .sortedSet; sortedSets(&b)
        b.group = .geo; geo(&b)
        b.group = .stream; streams(&b)
        b.group = .generic; generic(&b)
        b.group = .scripting; scripting(&b)
        b.group = .pubsub; pubsub(&b)
        b.group = .transactions; transactions(&b)
        b.group = .connection; connection(&b)
        b.group = .server; server(&b)
        b.group = .cluster; cluster(&b)
        return b.entries
    }()

    /// Collects entries of one family at a time; keeps the data files short.
    struct Builder {
        var group: CommandGroup = .generic
        var entries: [CommandInfo] = []

        /// One command or `container|subcommand`.
        mutating func add(
            _ name: String,
            _ arity: Int,
            _ access: CommandAccess,
            keys: (Int, Int, Int)? = nil,
            _ flags: CommandFlags = [],
            movable: MovableKeys? = nil,
            blockingOption: String? = nil
        ) {
            entries.append(CommandInfo(
                name: name, arity: arity, access: access,
                keys: keys.map { KeyPositions($0.0, $0.1, $0.2) },
                flags: flags, group: group, blockingOption: blockingOption,
                movableKeys: movable, isContainer: false))
        }

        /// A container; `access` is what its unlisted subcommands get.
        mutating func container(_ name: String, _ arity: Int, _ access: CommandAccess, _ flags: CommandFlags = []) {
            entries.append(CommandInfo(
                name: name, arity: arity, access: access, flags: flags, group: group, isContainer: true))
        }
    }
}

/// Shorthand for the data files: `.refused(Refusal.admin)`.
extension CommandAccess {
    static func refused(_ reason: String) -> CommandAccess { .unsupported(reason: reason) }
}
