extension CommandTable {
    /// This table plus the commands a server's `COMMAND` reply lists that the table does not know
    /// (a newer Redis's commands, a module's commands).
    ///
    /// Contract: entries already in the table are never replaced — its decisions (answered by the
    /// proxy, refused, key positions checked in tests) come first. A new command is a read when the
    /// server flags it `readonly` and not `write`, refused when it is `blocking` (it would stall a
    /// shared connection), and otherwise a write, as the unknown-command rule says. Malformed
    /// entries are skipped. Returns the merged table and how many commands it added.
    public func merging(serverCommands reply: RESPValue) -> (table: CommandTable, added: Int) {
        let entries: [RESPValue]
        switch reply {
        case .array(let items?): entries = items
        case .set(let items): entries = items
        default: return (self, 0)
        }
        var extra: [CommandInfo] = []
        for entry in entries {
            guard case .array(let fields?) = entry, fields.count >= 6,
                  let name = Self.text(fields[0]), lookup(name) == nil,
                  case .integer(let arity) = fields[1],
                  case .integer(let first) = fields[3], case .integer(let last) = fields[4],
                  case .integer(let step) = fields[5]
            else { continue }
            let flags = Set(Self.texts(fields[2]).map { $0.lowercased() })
            let access: CommandAccess
            if flags.contains("blocking") {
                access = .unsupported(reason: BuiltinCommands.Refusal.blocking)
            } else if flags.contains("readonly") && !flags.contains("write") {
                access = .read
            } else {
                access = .write
            }
            let keys = first > 0 ? KeyPositions(first: first, last: last, step: max(step, 1)) : nil
            extra.append(CommandInfo(name: name, arity: arity, access: access, keys: keys, group: .generic))
        }
        guard !extra.isEmpty else { return (self, 0) }
        return (CommandTable(commands + extra), extra.count)
    }

    private static func text(_ value: RESPValue) -> String? {
        switch value {
        case .bulk(let bytes?): return String(decoding: bytes, as: UTF8.self)
        case .simpleString(let s): return s
        default: return nil
        }
    }

    private static func texts(_ value: RESPValue) -> [String] {
        switch value {
        case .array(let items?), .set(let items): return items.compactMap(text)
        default: return []
        }
    }
}
