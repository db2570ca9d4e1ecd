import RedisProtocol

/// Routing on a sharded router (some cluster has several servers): a command goes to the server
/// owning its key; multi-key commands whose keys live apart are split and merged (MGET, MSET, DEL,
/// UNLINK, EXISTS, TOUCH) or refused (the rest, which need their keys together); whole-keyspace
/// reads are gathered from one cluster's servers. See docs/redis-commands.md, "Sharded clusters".
extension RedisClientSession {
    enum ShardRoute {
        /// Route by this key.
        case key(UnsafeRawBufferPointer)
        /// No key: reads go to each cluster's first server, writes to every server.
        case keyless
        /// Answered or sent already.
        case handled
    }

    /// Commands split per server group, and how their replies merge.
    private enum SplitMerge { case byPosition, sum, agreed }

    private static func splitMerge(_ name: String) -> SplitMerge? {
        switch name {
        case "mget": return .byPosition
        case "del", "unlink", "exists", "touch": return .sum
        case "mset": return .agreed
        default: return nil
        }
    }

    func shardRoute(_ info: CommandInfo, base: UnsafeRawBufferPointer, arguments: [Range<Int>]) -> ShardRoute {
        var keys: [Int] = []
        worker.commands.keyIndices(info, argumentCount: arguments.count, argument: { UnsafeRawBufferPointer(rebasing: base[arguments[$0]]) }, into: &keys)
        if keys.isEmpty {
            if info.flags.contains(.keyspaceWide) && info.access == .read {
                keyspaceRead(info, base: base, arguments: arguments)
                return .handled
            }
            return .keyless
        }
        let first = UnsafeRawBufferPointer(rebasing: base[arguments[keys[0]]])
        if keys.count == 1 { return .key(first) }

        let groups = router.groupByServer(keys.count) { UnsafeRawBufferPointer(rebasing: base[arguments[keys[$0]]]) }
        if groups.count == 1 { return .key(first) }
        guard let merge = Self.splitMerge(info.name) else {
            replyError("CROSSSHARD Keys in request don't hash to the same server in every cluster; \(info.name.uppercased()) needs all its keys on one server: give them one hash tag, e.g. {user1}:a and {user1}:b")
            return .handled
        }
        // Redis refuses MSET with a key lacking its value as a whole; a split must not apply half of it.
        if let step = info.keys?.step, step > 1, (arguments.count - 1) % step != 0 {
            replyError("ERR wrong number of arguments for '\(info.name)' command")
            return .handled
        }
        split(info, merge: merge, base: base, arguments: arguments, keys: keys, groups: groups)
        return .handled
    }

    private func split(_ info: CommandInfo, merge: SplitMerge, base: UnsafeRawBufferPointer, arguments: [Range<Int>],
                       keys: [Int], groups: [(placement: Placement, keys: [Int])]) {
        let positions = groups.map(\.keys)
        let count = keys.count
        let request = SplitRequest(orderTag: order.next(), quiet: 0, partCount: groups.count) { parts in
            var out: [UInt8] = []
            let merged: Bool
            switch merge {
            case .byPosition: merged = RESPMerge.byPosition(parts, positions: positions, count: count, into: &out)
            case .sum: merged = RESPMerge.sum(parts, into: &out)
            case .agreed: merged = RESPMerge.agreed(parts, into: &out)
            }
            if !merged {
                out.removeAll()
                RESPEncoder.error("ERR the servers' replies to a split \(info.name.uppercased()) could not be merged", into: &out)
            }
            return out
        }
        // Each key carries its value along (MSET's step is 2).
        let step = max(info.keys?.step ?? 1, 1)
        var frame: [UInt8] = []
        for (part, group) in groups.enumerated() {
            frame.removeAll(keepingCapacity: true)
            var parts: [Range<Int>] = [arguments[0]]
            for position in group.keys {
                let k = keys[position]
                for a in k..<min(k + step, arguments.count) { parts.append(arguments[a]) }
            }
            Self.encodeCommand(parts, base: base, into: &frame)
            frame.withUnsafeBytes {
                if info.access == .read {
                    let first = UnsafeRawBufferPointer(rebasing: base[arguments[keys[group.keys[0]]]])
                    readPart($0, placement: group.placement, split: request, part: part, verifyKey: router.verifier.isOn ? first : nil)
                } else {
                    writePart($0, placement: group.placement, split: request, part: part)
                }
            }
        }
    }

    static func encodeCommand(_ arguments: [Range<Int>], base: UnsafeRawBufferPointer, into out: inout [UInt8]) {
        out.append(contentsOf: "*\(arguments.count)\r\n".utf8)
        for range in arguments {
            out.append(contentsOf: "$\(range.count)\r\n".utf8)
            out.append(contentsOf: base[range])
            out.append(contentsOf: "\r\n".utf8)
        }
    }

    /// The server of each cluster that every key at argument `positions` lives on, nil when they are
    /// spread over servers (commands that need their keys together: WATCH, a transaction, a blocking
    /// command). No positions, or an unsharded router: unset (the first server everywhere).
    func sharedPlacement(_ positions: [Int], base: UnsafeRawBufferPointer, arguments: [Range<Int>]) -> Placement? {
        guard router.isSharded, !positions.isEmpty else { return Placement() }
        let groups = router.groupByServer(positions.count) { UnsafeRawBufferPointer(rebasing: base[arguments[positions[$0]]]) }
        return groups.count == 1 ? groups[0].placement : nil
    }

    /// The argument positions of `info`'s keys in this request.
    func keyPositions(_ info: CommandInfo, base: UnsafeRawBufferPointer, arguments: [Range<Int>]) -> [Int] {
        var keys: [Int] = []
        worker.commands.keyIndices(info, argumentCount: arguments.count, argument: { UnsafeRawBufferPointer(rebasing: base[arguments[$0]]) }, into: &keys)
        return keys
    }
}
