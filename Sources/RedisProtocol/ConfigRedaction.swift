/// Keeps the backends' passwords out of `CONFIG GET` replies relayed to clients: a client that may
/// use the proxy must not learn the password that lets the proxy into the servers.
///
/// Contract: `redacted` takes a whole CONFIG GET reply (RESP2 flat name/value array or RESP3 map)
/// and answers it with the value of every secret parameter replaced by `<redacted>`; any other
/// reply (an error, something unparsable) comes back unchanged. Pure.
public enum ConfigRedaction {
    /// The parameters whose values are secrets.
    public static let secrets: Set<String> = ["requirepass", "masterauth"]

    public static func redacted(_ reply: [UInt8]) -> [UInt8] {
        guard let value = try? RESPValue.parse(reply).0 else { return reply }
        let hidden = RESPValue.bulk(Array("<redacted>".utf8))
        func isSecret(_ name: RESPValue) -> Bool {
            guard case .bulk(let bytes?) = name else { return false }
            return secrets.contains(String(decoding: bytes, as: UTF8.self).lowercased())
        }
        var changed = false
        let result: RESPValue
        switch value {
        case .array(let items?):
            var items = items
            var i = 0
            while i + 1 < items.count {
                if isSecret(items[i]) && items[i + 1] != hidden { items[i + 1] = hidden; changed = true }
                i += 2
            }
            result = .array(items)
        case .map(let pairs):
            result = .map(pairs.map { pair in
                guard isSecret(pair.key) else { return pair }
                changed = true
                return RESPValuePair(pair.key, hidden)
            })
        default:
            return reply
        }
        guard changed else { return reply }
        var out: [UInt8] = []
        result.encode(into: &out)
        return out
    }
}
