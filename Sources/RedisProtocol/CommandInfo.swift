/// How the proxy treats a redis command. Metacluster sits in front of several independent
/// clusters and shares pipelined backend connections between its clients; the kinds follow from
/// that.
public enum CommandAccess: Sendable, Equatable {
    /// Touches data but changes nothing: sent to one cluster (the best one by the read plan).
    case read
    /// Changes data (or might): sent to every cluster. Unknown commands are treated this way.
    case write
    /// Answered by the proxy itself without a backend (PING, ECHO, QUIT, HELLO, CLIENT ID ...).
    case proxyAnswered
    /// Changes the state of the client's own connection (SELECT, AUTH, CLIENT SETNAME, RESET ...);
    /// the proxy keeps that state per client instead of forwarding it onto a shared connection.
    case connectionState
    /// Changes what later commands on the client's connection mean (MULTI/EXEC/DISCARD/WATCH/UNWATCH,
    /// SUBSCRIBE and kin): run by the session's own state machine, on a dedicated backend connection
    /// where one is needed.
    case stateful
    /// Refused with `-ERR <reason>`; `reason` names the rule and is a single line.
    case unsupported(reason: String)

    /// `true` for `.read` and `.write`, the kinds that travel to a backend as is.
    public var isForwarded: Bool {
        switch self {
        case .read, .write: return true
        default: return false
        }
    }
}

/// Properties of a command that routing and replication care about beyond its access kind.
public struct CommandFlags: OptionSet, Sendable, Hashable {
    public let rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }

    /// Holds the connection until data arrives or a timeout passes (BLPOP, WAIT ...). For
    /// commands with a `blockingOption` only when that option is present.
    public static let blocking = CommandFlags(rawValue: 1 << 0)
    /// The reply or the effect is not determined by the data alone (randomness, the clock, or
    /// server-specific state such as INFO or OBJECT ENCODING), so two clusters holding the same
    /// data may answer differently. Writes so flagged must have their effect replicated, not the
    /// command (SPOP, XADD `*`); reads so flagged must not be compared by read verification.
    public static let nondeterministic = CommandFlags(rawValue: 1 << 1)
    /// Operates on the server rather than on data (Redis's `admin` flag and kin).
    public static let admin = CommandFlags(rawValue: 1 << 2)
    /// Part of publish/subscribe.
    public static let pubsub = CommandFlags(rawValue: 1 << 3)
    /// Part of MULTI/EXEC/WATCH.
    public static let transaction = CommandFlags(rawValue: 1 << 4)
    /// Runs or manages Lua scripts or functions.
    public static let scripting = CommandFlags(rawValue: 1 << 5)
    /// Works on the whole keyspace rather than on named keys (KEYS, SCAN, DBSIZE, FLUSHALL ...).
    public static let keyspaceWide = CommandFlags(rawValue: 1 << 6)
    /// May set an expiry relative to the server's clock (EXPIRE, SET EX, SETEX, GETEX EX,
    /// RESTORE with a ttl ...): replicated as is, each cluster would expire the key at a slightly
    /// different instant, so replication rewrites it to an absolute one.
    public static let relativeExpiry = CommandFlags(rawValue: 1 << 7)
    /// The key positions depend on the arguments (numkeys, STREAMS, STORE ...); use
    /// `CommandTable.keyIndices`, not `CommandInfo.keys` alone.
    public static let movableKeys = CommandFlags(rawValue: 1 << 8)
    /// Only the order of the reply's elements is not determined by the data (HGETALL, SMEMBERS,
    /// KEYS ...): compare such replies as multisets.
    public static let unorderedOutput = CommandFlags(rawValue: 1 << 9)
}

/// Redis's legacy key specification: key arguments are `first`, `first + step`, ... up to
/// `last`. Argument index 0 is the command name (for a subcommand entry, the container's name:
/// `OBJECT ENCODING key` has its key at 2). A negative `last` counts from the end: -1 is the last
/// argument, -2 the one before it (BLPOP's timeout follows its keys).
public struct KeyPositions: Sendable, Equatable, Hashable, CustomStringConvertible {
    public var first: Int
    public var last: Int
    public var step: Int

    public init(first: Int, last: Int, step: Int) {
        self.first = first
        self.last = last
        self.step = step
    }

    public init(_ first: Int, _ last: Int, _ step: Int) {
        self.init(first: first, last: last, step: step)
    }

    public var description: String { "(\(first), \(last), \(step))" }
}

/// Where the keys of a command with movable keys are, beyond its legacy `keys` (which, when
/// present, hold the fixed ones such as ZUNIONSTORE's destination). Each case follows the rule
/// Redis's own `COMMAND GETKEYS` applies, except where noted.
public enum MovableKeys: Sendable, Equatable, Hashable {
    /// A key count at argument `countIndex`, followed by that many keys (EVAL, FCALL, ZUNION,
    /// ZUNIONSTORE, SINTERCARD, LMPOP, BLMPOP ...). A count below 1 or beyond the arguments
    /// present means no keys at all, as in Redis.
    case numkeys(countIndex: Int)
    /// XREAD / XREADGROUP: options, then `STREAMS key... id...`; the keys are the first half of
    /// what follows `STREAMS`.
    case streams
    /// SORT: the key at 1, plus the argument after the last `STORE` option.
    case sortStore
    /// GEORADIUS / GEORADIUSBYMEMBER: the key at 1, plus the argument after every `STORE` or
    /// `STOREDIST` option (the command writes the last one; Redis 7's `COMMAND GETKEYS` reports
    /// the first of each kind; this is the union of both).
    case georadiusStore
    /// MIGRATE: the key at 3, or, when that argument is empty, every argument after `KEYS`.
    case migrate
}

/// The family a command belongs to, as Redis's documentation groups them.
public enum CommandGroup: String, Sendable, CaseIterable {
    case string, bitmap, hyperloglog, hash, list, set, sortedSet = "sorted-set", geo, stream
    case generic, scripting, pubsub, transactions, connection, server, cluster

    /// A heading for documentation.
    public var title: String {
        switch self {
        case .string: return "Strings"
        case .bitmap: return "Bitmaps"
        case .hyperloglog: return "HyperLogLog"
        case .hash: return "Hashes"
        case .list: return "Lists"
        case .set: return "Sets"
        case .sortedSet: return "Sorted sets"
        case .geo: return "Geospatial"
        case .stream: return "Streams"
        case .generic: return "Keys (generic)"
        case .scripting: return "Scripting and functions"
        case .pubsub: return "Pub/sub"
        case .transactions: return "Transactions"
        case .connection: return "Connection"
        case .server: return "Server"
        case .cluster: return "Cluster"
        }
    }
}

/// Everything the proxy knows about one redis command or subcommand. Immutable and shared.
///
/// Contract:
/// - `name` is lower case; a subcommand is named `container|subcommand` (`client|setname`), as
///   Redis's `COMMAND` reply names them.
/// - `arity` follows Redis: positive = exactly that many arguments including the command name
///   (and, for a subcommand, the container's name); negative = at least `-arity`.
/// - `keys` is the legacy key specification, `nil` when the command takes no keys at fixed
///   positions. With `movableKeys` set, `CommandTable.keyIndices` finds the rest.
/// - `blockingOption`, when set, names the option that makes the command block (`"block"` for
///   XREAD/XREADGROUP); such a command has `.blocking` in `flags` and blocks only when the option
///   is present (`CommandTable.isBlocking`).
/// - `isContainer` marks a command whose first argument selects a subcommand (CLIENT, CONFIG,
///   OBJECT ...); its own `access` is what an unlisted subcommand gets.
public final class CommandInfo: Sendable, CustomStringConvertible {
    public let name: String
    public let arity: Int
    public let access: CommandAccess
    public let keys: KeyPositions?
    public let flags: CommandFlags
    public let blockingOption: String?
    public let movableKeys: MovableKeys?
    public let group: CommandGroup
    public let isContainer: Bool

    /// `movableKeys` adds `.movableKeys` to `flags`; `name` and `blockingOption` are lower-cased.
    public init(
        name: String,
        arity: Int,
        access: CommandAccess,
        keys: KeyPositions? = nil,
        flags: CommandFlags = [],
        group: CommandGroup,
        blockingOption: String? = nil,
        movableKeys: MovableKeys? = nil,
        isContainer: Bool = false
    ) {
        self.name = name.lowercased()
        self.arity = arity
        self.access = access
        self.keys = keys
        self.flags = movableKeys == nil ? flags : flags.union(.movableKeys)
        self.blockingOption = blockingOption?.lowercased()
        self.movableKeys = movableKeys
        self.group = group
        self.isContainer = isContainer
    }

    /// `true` for a `container|subcommand` entry.
    public var isSubcommand: Bool { name.utf8.contains(UInt8(ascii: "|")) }

    /// Whether a request with `argumentCount` arguments (the command name included) satisfies
    /// the arity.
    @inline(__always)
    public func acceptsArgumentCount(_ argumentCount: Int) -> Bool {
        arity >= 0 ? argumentCount == arity : argumentCount >= -arity
    }

    /// The command as clients write it: `CLIENT SETNAME`.
    public var displayName: String {
        name.uppercased().split(separator: "|").joined(separator: " ")
    }

    public var description: String {
        "\(displayName) arity=\(arity) access=\(access) keys=\(keys.map(\.description) ?? "none")"
    }
}
