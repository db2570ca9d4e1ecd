/// Typed access to a `JSONTree` tree that records a `ConfigProblem` instead of stopping.
///
/// Contract: every accessor either returns a value that satisfies its rule or returns nil after appending
/// exactly one problem for that value (an object with unknown keys also gets one problem per unknown key,
/// but still returns its members so the known keys are checked too). Nothing here throws: the loader walks
/// the whole file and reports everything at once.
struct ConfigReader {
    private(set) var problems: [ConfigProblem] = []

    mutating func fail(_ path: String, _ reason: String) {
        problems.append(ConfigProblem(path: path, reason: reason))
    }

    /// The object's members. Unknown keys are reported (sorted, each with its own path) and left out.
    mutating func object(_ value: JSONTree, at path: String, allowed: [String]) -> [String: JSONTree]? {
        guard case .object(let members) = value else {
            fail(path, "expected an object, got \(value.kindDescription)")
            return nil
        }
        var known: [String: JSONTree] = [:]
        for key in members.keys.sorted() {
            if allowed.contains(key) {
                known[key] = members[key]
            } else {
                var reason = "unknown key"
                if let guess = Self.closest(to: key, in: allowed) { reason += " (did you mean \(ConfigPath.quoted(guess))?)" }
                fail(ConfigPath.key(path, key), reason + "; allowed keys: " + allowed.joined(separator: ", "))
            }
        }
        return known
    }

    mutating func array(_ value: JSONTree, at path: String, of what: String = "values") -> [JSONTree]? {
        guard case .array(let elements) = value else {
            fail(path, "expected an array of \(what), got \(value.kindDescription)")
            return nil
        }
        return elements
    }

    mutating func string(_ value: JSONTree, at path: String) -> String? {
        guard case .string(let text) = value else {
            fail(path, "expected a string, got \(value.kindDescription)")
            return nil
        }
        return text
    }

    mutating func bool(_ value: JSONTree, at path: String) -> Bool? {
        guard case .bool(let flag) = value else {
            fail(path, "expected a boolean (true or false), got \(value.kindDescription)")
            return nil
        }
        return flag
    }

    /// A JSON number (integral or not) within `range`.
    mutating func fraction(_ value: JSONTree, at path: String, in range: ClosedRange<Double>) -> Double? {
        let number: Double
        switch value {
        case .integer(let exact): number = Double(exact)
        case .number(let double) where double.isFinite: number = double
        default:
            fail(path, "expected a number, got \(value.kindDescription)")
            return nil
        }
        guard range.contains(number) else {
            fail(path, "must be between \(range.lowerBound) and \(range.upperBound), got \(number)")
            return nil
        }
        return number
    }

    /// An integral JSON number within `range`. `5e3` and `5000.0` count as 5000 (JSONSerialization does
    /// not keep the spelling); `1.5`, `"5000"` and `true` do not.
    mutating func integer(_ value: JSONTree, at path: String, in range: ClosedRange<Int>) -> Int? {
        let integer: Int
        switch value {
        case .integer(let exact):
            integer = exact
        case .number(let double) where double.isFinite && double.rounded(.towardZero) == double:
            guard let exact = Int(exactly: double) else {
                fail(path, "must be between \(range.lowerBound) and \(range.upperBound), got \(double)")
                return nil
            }
            integer = exact
        case .number(let double):
            fail(path, "expected an integer, got \(double), which has a fractional part")
            return nil
        default:
            fail(path, "expected an integer, got \(value.kindDescription)")
            return nil
        }
        guard range.contains(integer) else {
            fail(path, "must be between \(range.lowerBound) and \(range.upperBound), got \(integer)")
            return nil
        }
        return integer
    }

    /// A `host:port` string. Port 0 ("any free port") only when `listener` is true.
    mutating func endpoint(_ value: JSONTree, at path: String, listener: Bool) -> Endpoint? {
        guard case .string(let text) = value else {
            fail(path, "expected a \"host:port\" string, got \(value.kindDescription)")
            return nil
        }
        switch Self.parseEndpoint(text, listener: listener) {
        case .success(let endpoint):
            return endpoint
        case .failure(let fault):
            fail(path, fault.reason(for: text, listener: listener))
            return nil
        }
    }

    /// Why a text is not a usable endpoint; `reason` gives the message `endpoint(_:at:listener:)` records.
    enum EndpointFault: Error, Equatable {
        case whitespace
        /// Not of the form `host:port` or `[IPv6]:port` at all.
        case malformed
        /// A port written in digits but outside the allowed range.
        case portOutOfRange(String)
        case portZero

        func reason(for text: String, listener: Bool) -> String {
            switch self {
            case .whitespace:
                return "must not contain whitespace, got \(ConfigPath.quoted(text))"
            case .malformed:
                return "expected \"host:port\" or \"[IPv6]:port\" (e.g. \"127.0.0.1:6379\"), got \(ConfigPath.quoted(text))"
            case .portOutOfRange(let port):
                let range = ConfigReader.portRange(listener: listener)
                return "port must be between \(range.lowerBound) and \(range.upperBound), got \(port)"
            case .portZero:
                return "port 0 means \"any free port\" and is allowed only for listeners; a server needs its real port"
            }
        }
    }

    static func portRange(listener: Bool) -> ClosedRange<Int> { listener ? 0...65535 : 1...65535 }

    /// The endpoint `text` names, checked as `endpoint(_:at:listener:)` checks it, without recording anything.
    static func parseEndpoint(_ text: String, listener: Bool) -> Result<Endpoint, EndpointFault> {
        // Endpoint(parsing:) is lenient about what it does not need to look at (a host with spaces,
        // a port written "+80"); a config file with those is a typo, so say so here.
        if text.contains(where: \.isWhitespace) { return .failure(.whitespace) }
        let portText = text.split(separator: ":", omittingEmptySubsequences: false).last ?? ""
        let portIsDigits = !portText.isEmpty && portText.utf8.allSatisfy { (0x30...0x39).contains($0) }
        guard portIsDigits, let endpoint = Endpoint(parsing: text) else {
            if portIsDigits, text.contains(":"), !(Int(portText).map(portRange(listener: listener).contains) ?? false) {
                return .failure(.portOutOfRange(String(portText)))
            }
            return .failure(.malformed)
        }
        if endpoint.port == 0 && !listener { return .failure(.portZero) }
        return .success(endpoint)
    }

    /// An allowed key the unknown one was probably meant to be: same letters ignoring case, or at most
    /// two edits away (for keys long enough that two edits are still a typo, not a different word).
    static func closest(to key: String, in allowed: [String]) -> String? {
        if let caseless = allowed.first(where: { $0.lowercased() == key.lowercased() }) { return caseless }
        guard key.count >= 4 else { return nil }
        let scored = allowed.map { ($0, editDistance(Array($0.lowercased()), Array(key.lowercased()))) }
        guard let best = scored.min(by: { $0.1 < $1.1 }), best.1 <= 2 else { return nil }
        return best.0
    }

    private static func editDistance(_ a: [Character], _ b: [Character]) -> Int {
        var previous = Array(0...b.count)
        for (i, ca) in a.enumerated() {
            var current = [i + 1]
            for (j, cb) in b.enumerated() {
                current.append(min(previous[j + 1] + 1, current[j] + 1, previous[j] + (ca == cb ? 0 : 1)))
            }
            previous = current
        }
        return previous[b.count]
    }
}
