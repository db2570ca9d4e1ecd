/// The proxy's redis command table: classifies a command by name (and subcommand) and finds its
/// keys.
///
/// Contract:
/// - Lookups are case-insensitive, allocation-free from raw bytes, and cost a packing of the name
///   plus one or two probes of an open-addressed table (no `String`, no Foundation).
/// - `lookup(_:)` sees top-level commands only: `client|setname` sent as a command name is
///   unknown, as it is to Redis. A `nil` answer means "unknown command"; the proxy then treats it
///   as a write (replicated to every cluster): a write missed by one cluster diverges the
///   clusters silently, while a read sent everywhere only costs work (docs/redis-commands.md).
/// - `lookup(_:subcommand:)` answers the `container|subcommand` entry, or the container's own
///   entry when that subcommand is not listed, or the command's own entry when it is no
///   container.
/// - A table is a value built once (`builtin`, or `init(_:)` from entries merged over it, e.g.
///   from a backend's `COMMAND` reply) and shared read-only between threads.
public struct CommandTable: Sendable {
    /// The table compiled into the proxy: every command of Redis 7.0 and 7.2 (and the hash-field
    /// expiry commands of 7.4), classified for a proxy in front of several clusters.
    public static let builtin = CommandTable(BuiltinCommands.all)

    /// Every entry, in the order given to `init(_:)` (later duplicates dropped).
    public let commands: [CommandInfo]

    private struct Slot {
        var name: CommandName
        var index: Int32          // into `commands`; -1 = empty slot
        var isSubcommand: Bool
        var isContainer: Bool
    }

    private let slots: [Slot]
    private let mask: Int
    private let shift: UInt64

    /// Builds a table from `entries`. When two entries share a name, the later one wins (so a
    /// caller can merge backend metadata over `BuiltinCommands.all` by appending). Entries whose
    /// name does not fit a `CommandName` are dropped.
    public init(_ entries: [CommandInfo]) {
        var unique: [CommandInfo] = []
        var position: [String: Int] = [:]
        for entry in entries where CommandName(entry.name) != nil {
            if let at = position[entry.name] {
                unique[at] = entry
            } else {
                position[entry.name] = unique.count
                unique.append(entry)
            }
        }
        var bits = 4
        while (1 << bits) < unique.count * 2 { bits += 1 }
        let size = 1 << bits
        var slots = [Slot](
            repeating: Slot(name: CommandName(unchecked: UnsafeRawBufferPointer(start: nil, count: 0)), index: -1,
                 isSubcommand: false, isContainer: false),
            count: size
        )
        let shift = UInt64(64 - bits)
        for (index, entry) in unique.enumerated() {
            let name = CommandName(entry.name)!
            var i = Int(truncatingIfNeeded: name.tableHash >> shift)
            while slots[i].index >= 0 { i = (i + 1) & (size - 1) }
            slots[i] = Slot(name: name, index: Int32(index), isSubcommand: entry.isSubcommand,
                            isContainer: entry.isContainer)
        }
        self.commands = unique
        self.slots = slots
        self.mask = size - 1
        self.shift = shift
    }

    @inline(__always)
    private func find(_ name: CommandName) -> Slot? {
        slots.withUnsafeBufferPointer { slots -> Slot? in
            var i = Int(truncatingIfNeeded: name.tableHash >> shift)
            while true {
                let slot = slots[i]
                if slot.index < 0 { return nil }
                if slot.name == name { return slot }
                i = (i + 1) & mask
            }
        }
    }

    /// The top-level command named by `name` (any case); `nil` when unknown. Allocation-free.
    public func lookup(_ name: UnsafeRawBufferPointer) -> CommandInfo? {
        guard name.count <= CommandName.capacity,
              let slot = find(CommandName(unchecked: name)), !slot.isSubcommand else { return nil }
        return commands[Int(slot.index)]
    }

    /// The top-level command named `name` (any case); `nil` when unknown.
    public func lookup(_ name: CommandName) -> CommandInfo? {
        guard let slot = find(name), !slot.isSubcommand else { return nil }
        return commands[Int(slot.index)]
    }

    /// The top-level command named `name` (any case); `nil` when unknown. Not for the hot path.
    public func lookup(_ name: String) -> CommandInfo? {
        guard let packed = CommandName(name) else { return nil }
        return lookup(packed)
    }

    /// The entry for `name subcommand`: the listed subcommand of a container; the container's own
    /// entry when the subcommand is not listed; the command's own entry when `name` is no
    /// container (its first argument is then just an argument); `nil` when `name` is unknown.
    /// Allocation-free.
    public func lookup(_ name: UnsafeRawBufferPointer, subcommand: UnsafeRawBufferPointer) -> CommandInfo? {
        guard name.count <= CommandName.capacity,
              let top = find(CommandName(unchecked: name)), !top.isSubcommand else { return nil }
        if top.isContainer, name.count + 1 + subcommand.count <= CommandName.capacity,
           let sub = find(CommandName(uncheckedContainer: name, subcommand: subcommand)), sub.isSubcommand {
            return commands[Int(sub.index)]
        }
        return commands[Int(top.index)]
    }

    /// `lookup(_:subcommand:)` for strings. Not for the hot path.
    public func lookup(_ name: String, subcommand: String) -> CommandInfo? {
        var name = name
        var subcommand = subcommand
        return name.withUTF8 { n in
            subcommand.withUTF8 { s in
                lookup(UnsafeRawBufferPointer(n), subcommand: UnsafeRawBufferPointer(s))
            }
        }
    }

    /// Looks an entry up by its full table name, top-level (`get`) or subcommand
    /// (`client|setname`), with no fallback. For tests, tooling and documentation.
    public func command(named fullName: String) -> CommandInfo? {
        guard let packed = CommandName(fullName), let slot = find(packed) else { return nil }
        return commands[Int(slot.index)]
    }

    /// Whether the command's first argument selects a subcommand (CLIENT, CONFIG, OBJECT ...).
    public func isContainer(_ info: CommandInfo) -> Bool { info.isContainer }

    /// The listed subcommands of `container`, in table order.
    public func subcommands(of container: CommandInfo) -> [CommandInfo] {
        let prefix = container.name + "|"
        return commands.filter { $0.name.hasPrefix(prefix) }
    }

    // MARK: - Keys

    /// Replaces the contents of `indices` (keeping its capacity) with the argument indices that
    /// are keys, in argument order. `argumentCount` includes the command name (and, for a
    /// subcommand entry, the container's name: index 0 is always the first word of the request);
    /// `argument(i)` returns argument `i`'s bytes for `0 <= i < argumentCount` and is only called
    /// for options the key search has to read. Movable keys follow `info.movableKeys`, with
    /// Redis's own rules (COMMAND GETKEYS): malformed arguments give no keys rather than a guess.
    /// Allocation-free once `indices` has capacity.
    public func keyIndices(
        _ info: CommandInfo,
        argumentCount: Int,
        argument: (Int) -> UnsafeRawBufferPointer,
        into indices: inout [Int]
    ) {
        indices.removeAll(keepingCapacity: true)
        let argc = argumentCount
        guard let movable = info.movableKeys else {
            Self.appendFixed(info.keys, argc, &indices)
            return
        }
        switch movable {
        case .numkeys(let countIndex):
            guard countIndex < argc, let n = CommandASCII.integer(argument(countIndex)),
                  n >= 1, n <= argc - countIndex - 1 else { return }
            Self.appendFixed(info.keys, countIndex, &indices)   // fixed keys before the count
            indices.append(contentsOf: (countIndex + 1)..<(countIndex + 1 + n))

        case .streams:
            guard let at = Self.streamsPosition(argc, argument) else { return }
            let rest = argc - at - 1
            guard rest > 0, rest % 2 == 0 else { return }
            indices.append(contentsOf: (at + 1)..<(at + 1 + rest / 2))

        case .sortStore:
            guard argc > 1 else { return }
            indices.append(1)
            var store = -1
            var i = 2
            while i < argc {
                let a = argument(i)
                if CommandASCII.equals(a, "limit") {
                    i += 2
                } else if CommandASCII.equals(a, "get") || CommandASCII.equals(a, "by") {
                    i += 1
                } else if CommandASCII.equals(a, "store"), i + 1 < argc {
                    store = i + 1
                    i += 1
                }
                i += 1
            }
            if store >= 0 { indices.append(store) }

        case .georadiusStore:
            // Every STORE/STOREDIST target: GEORADIUS writes the last one, Redis 7's key specs
            // report the first of each; routing needs them all.
            guard argc > 1 else { return }
            indices.append(1)
            var i = 5
            while i + 1 < argc {
                let a = argument(i)
                if CommandASCII.equals(a, "store") || CommandASCII.equals(a, "storedist") {
                    indices.append(i + 1)
                    i += 1
                }
                i += 1
            }

        case .migrate:
            guard argc > 3 else { return }
            var i = 6
            while i < argc {
                let a = argument(i)
                if CommandASCII.equals(a, "keys") {
                    // KEYS needs an empty key argument; anything else is a syntax error.
                    guard argument(3).count == 0, i + 1 < argc else { return }
                    indices.append(contentsOf: (i + 1)..<argc)
                    return
                }
                if CommandASCII.equals(a, "auth") {
                    i += 1
                } else if CommandASCII.equals(a, "auth2") {
                    i += 2
                }
                i += 1
            }
            indices.append(3)
        }
    }

    /// Whether this request blocks its connection: a `.blocking` command without a
    /// `blockingOption` always does; XREAD/XREADGROUP (`blockingOption` "block") only when the
    /// BLOCK option appears among the options before STREAMS.
    public func isBlocking(
        _ info: CommandInfo,
        argumentCount: Int,
        argument: (Int) -> UnsafeRawBufferPointer
    ) -> Bool {
        guard info.flags.contains(.blocking) else { return false }
        guard info.blockingOption != nil else { return true }
        var i = 1
        while i < argumentCount {
            let a = argument(i)
            if CommandASCII.equals(a, "block") { return true }
            if CommandASCII.equals(a, "count") {
                i += 2
            } else if CommandASCII.equals(a, "group") {
                i += 3
            } else if CommandASCII.equals(a, "noack") {
                i += 1
            } else {
                return false   // STREAMS, or a syntax error Redis will report
            }
        }
        return false
    }

    /// Adds the legacy key positions that fall below `limit` arguments.
    @inline(__always)
    private static func appendFixed(_ keys: KeyPositions?, _ limit: Int, _ indices: inout [Int]) {
        guard let keys, keys.first > 0, keys.first < limit else { return }
        var last = keys.last < 0 ? limit + keys.last : keys.last
        if last >= limit { last = limit - 1 }
        let step = max(keys.step, 1)
        var i = keys.first
        while i <= last {
            indices.append(i)
            i += step
        }
    }

    /// Index of XREAD/XREADGROUP's STREAMS keyword, skipping the options before it as Redis does.
    private static func streamsPosition(_ argc: Int, _ argument: (Int) -> UnsafeRawBufferPointer) -> Int? {
        var i = 1
        while i < argc {
            let a = argument(i)
            if CommandASCII.equals(a, "block") || CommandASCII.equals(a, "count") {
                i += 2
            } else if CommandASCII.equals(a, "group") {
                i += 3
            } else if CommandASCII.equals(a, "noack") {
                i += 1
            } else if CommandASCII.equals(a, "streams") {
                return i
            } else {
                return nil
            }
        }
        return nil
    }
}

/// Byte helpers for option parsing on the hot path (no String, no allocation).
public enum CommandASCII {
    /// Whether `bytes` equal `lower` ignoring ASCII case; `lower` must be lower-case ASCII.
    @inline(__always)
    public static func equals(_ bytes: UnsafeRawBufferPointer, _ lower: StaticString) -> Bool {
        guard bytes.count == lower.utf8CodeUnitCount else { return false }
        let l = lower.utf8Start
        for i in 0..<bytes.count {
            var b = bytes[i]
            if b &- UInt8(ascii: "A") < 26 { b |= 0x20 }
            if b != l[i] { return false }
        }
        return true
    }

    /// A decimal integer with an optional sign, nothing else; `nil` when malformed or overflowing.
    static func integer(_ bytes: UnsafeRawBufferPointer) -> Int? {
        guard bytes.count > 0, bytes.count <= 20 else { return nil }
        var i = 0
        var negative = false
        if bytes[0] == UInt8(ascii: "-") || bytes[0] == UInt8(ascii: "+") {
            negative = bytes[0] == UInt8(ascii: "-")
            i = 1
            guard bytes.count > 1 else { return nil }
        }
        var value = 0
        while i < bytes.count {
            let d = bytes[i] &- UInt8(ascii: "0")
            guard d < 10 else { return nil }
            let (m, o1) = value.multipliedReportingOverflow(by: 10)
            let (s, o2) = m.addingReportingOverflow(Int(d))
            guard !o1, !o2 else { return nil }
            value = s
            i += 1
        }
        return negative ? -value : value
    }
}
