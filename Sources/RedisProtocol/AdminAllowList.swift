/// The administrative commands a configuration lets through (`allowCommands`, and `allowFlush` as
/// an alias of FLUSHALL and FLUSHDB). Everything here is refused by default: one stray command
/// would act on every datacenter at once.
///
/// Contract:
/// - An entry names a command (`FLUSHALL`), a subcommand (`CONFIG SET`), or a container alone
///   (`CONFIG`), meaning every subcommand of it that may be allowed, and its unlisted ones when the
///   container's own refusal may be lifted. Case-insensitive; words separated by spaces.
/// - Only *guarded* commands may be listed (`isGuarded`): FLUSHALL and FLUSHDB, and the commands
///   refused as administration of the backends (configuration, persistence, ACL, modules,
///   diagnostics, debugging, backend replication, client administration, SWAPDB). Commands that
///   can never work through the proxy (MONITOR, SYNC, CLUSTER, SENTINEL, SCRIPT DEBUG, SCRIPT KILL,
///   CLIENT TRACKING ...) and commands that are not refused at all are rejected by `entry(_:in:)`
///   with a reason naming the entry.
/// - A value is built once from validated entries and shared read-only between threads; `allows`
///   costs one set lookup.
public struct AdminAllowList: Sendable, Equatable {
    /// Full table names allowed (`flushall`, `config|set`, and a listed container's own name,
    /// which its unlisted subcommands resolve to).
    public let names: Set<String>

    /// Nothing allowed: the default.
    public static let none = AdminAllowList(names: [])

    private init(names: Set<String>) {
        self.names = names
    }

    /// The list for `entries`, each a table name as `entry(_:in:)` returns it (`flushall`,
    /// `config|set`, `config`); a container stands for its guarded subcommands. Names the table does
    /// not know, or that are not guarded, allow nothing (the configuration validated them already).
    public init(_ entries: [String], table: CommandTable = .builtin) {
        var names: Set<String> = []
        for name in entries {
            guard let info = table.command(named: name) else { continue }
            if Self.isGuarded(info) { names.insert(info.name) }
            if info.isContainer {
                for sub in table.subcommands(of: info) where Self.isGuarded(sub) { names.insert(sub.name) }
            }
        }
        self.init(names: names)
    }

    /// Whether the command (as the table resolved it: a subcommand, or a container for an unlisted
    /// subcommand) is allowed.
    @inline(__always)
    public func allows(_ info: CommandInfo) -> Bool {
        !names.isEmpty && names.contains(info.name)
    }

    /// FLUSHALL and FLUSHDB: guarded writes, replicated like any write once allowed.
    public static func isGuardedWrite(_ info: CommandInfo) -> Bool {
        info.name == "flushall" || info.name == "flushdb"
    }

    /// Whether the command is refused by default and may be allowed by the configuration.
    public static func isGuarded(_ info: CommandInfo) -> Bool {
        if isGuardedWrite(info) { return true }
        guard case .unsupported(let reason) = info.access else { return false }
        if neverAllowed[info.name] != nil { return false }
        return allowableReasons.contains(reason)
    }

    /// The refusals an operator may lift: commands aimed at the backends themselves.
    private static let allowableReasons: Set<String> = [
        BuiltinCommands.Refusal.admin, BuiltinCommands.Refusal.debug, BuiltinCommands.Refusal.replication,
        BuiltinCommands.Refusal.clientAdmin, BuiltinCommands.Refusal.swapdb,
    ]

    /// Commands refused for an allowable reason that still cannot work through the proxy.
    private static let neverAllowed: [String: String] = [
        "sync": "it would turn the client's connection into a replication stream of one backend",
        "psync": "it would turn the client's connection into a replication stream of one backend",
        "replconf": "it is part of a replica's handshake with its primary, which a client of metacluster is not",
    ]

    // MARK: - Configuration entries

    /// The table name an `allowCommands` entry stands for (`"CONFIG SET"` → `config|set`,
    /// `"flushall"` → `flushall`, `"CONFIG"` → `config`), or why the entry cannot be allowed.
    public static func entry(_ text: String, in table: CommandTable = .builtin) -> Result<String, EntryError> {
        let words = text.split(separator: " ", omittingEmptySubsequences: true).map { $0.lowercased() }
        guard !words.isEmpty, words.count <= 2 else {
            return .failure(EntryError("expected a command name, \"CONTAINER SUBCOMMAND\" or a container alone, e.g. \"FLUSHALL\" or \"CONFIG SET\""))
        }
        guard let top = table.lookup(words[0]) else {
            return .failure(EntryError("unknown command \(words[0].uppercased())"))
        }
        if words.count == 2 {
            guard top.isContainer else {
                return .failure(EntryError("\(top.displayName) has no subcommands; list \(top.displayName) alone"))
            }
            guard let sub = table.command(named: "\(top.name)|\(words[1])") else {
                return .failure(EntryError("unknown subcommand \(top.displayName) \(words[1].uppercased())"))
            }
            return check(sub).map { sub.name }
        }
        guard top.isContainer else { return check(top).map { top.name } }
        // A container stands for whatever of it may be allowed: at least one thing must be.
        if isGuarded(top) || table.subcommands(of: top).contains(where: isGuarded) { return .success(top.name) }
        if case .unsupported = top.access { return check(top).map { top.name } }
        return .failure(EntryError("no subcommand of \(top.displayName) may be allowed; allowCommands lists only administrative commands refused by default"))
    }

    /// Success when the command may be allowed.
    private static func check(_ info: CommandInfo) -> Result<Void, EntryError> {
        if isGuarded(info) { return .success(()) }
        guard case .unsupported(let reason) = info.access else {
            return .failure(EntryError("\(info.displayName) is not refused by metacluster; allowCommands lists only commands refused by default"))
        }
        let why = neverAllowed[info.name] ?? reason
        return .failure(EntryError("\(info.displayName) can never be allowed: \(why)"))
    }

    /// Why an `allowCommands` entry is rejected; one line.
    public struct EntryError: Error, Sendable, Equatable {
        public let reason: String
        public init(_ reason: String) { self.reason = reason }
    }
}
