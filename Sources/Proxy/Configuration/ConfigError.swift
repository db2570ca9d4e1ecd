import Foundation

/// One thing wrong with a configuration file.
///
/// Contract: `path` names the offending value in the file's own terms — object keys joined with `.`,
/// array elements as `[index]` (`clusters[1].redis[0]`, `timeouts.requestMs`); a key that is not a plain
/// identifier is quoted (`listen["my key"]`). The empty path means the file as a whole (unreadable, not
/// JSON, not an object). `reason` is one human sentence fragment without a trailing period.
public struct ConfigProblem: Sendable, Equatable, CustomStringConvertible {
    public var path: String
    public var reason: String

    public init(path: String, reason: String) {
        self.path = path
        self.reason = reason
    }

    /// `path: reason`, or just `reason` for a problem with the whole file.
    public var description: String { path.isEmpty ? reason : "\(path): \(reason)" }
}

/// A configuration file that cannot be used, with every problem found in it.
///
/// Contract: `problems` is never empty. For a file that was read and parsed as JSON it lists every problem
/// the validator found, in file-schema order (not only the first), so one `--check` run shows them all.
/// An unreadable file or a JSON syntax error yields exactly one problem with the empty path.
/// `description` is one `ConfigProblem.description` per line, which is what `metacluster --check` prints.
public struct ConfigError: Error, Sendable, Equatable, CustomStringConvertible, LocalizedError {
    public var problems: [ConfigProblem]

    public init(problems: [ConfigProblem]) {
        self.problems = problems
    }

    public var description: String { problems.map(\.description).joined(separator: "\n") }

    // Foundation's default `localizedDescription` for a Swift error is "The operation could not be
    // completed"; callers that log `error.localizedDescription` should still see the problems.
    public var errorDescription: String? { description }
}

/// Builds the paths that `ConfigProblem.path` carries, so the validator and the duplicate-key scanner
/// spell them identically.
enum ConfigPath {
    static func key(_ parent: String, _ key: String) -> String {
        if isIdentifier(key) {
            return parent.isEmpty ? key : "\(parent).\(key)"
        }
        // Quote keys that would make the dotted form ambiguous (".", "[", spaces, empty keys).
        return "\(parent)[\(quoted(key))]"
    }

    static func index(_ parent: String, _ index: Int) -> String { "\(parent)[\(index)]" }

    /// The text as a JSON string literal, for echoing user values in reasons.
    static func quoted(_ text: String) -> String {
        var out = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case _ where scalar.value < 0x20 || scalar.value == 0x7F:
                out += "\\u" + String(repeating: "0", count: 4 - String(scalar.value, radix: 16).count)
                    + String(scalar.value, radix: 16)
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""
    }

    private static func isIdentifier(_ key: String) -> Bool {
        guard let first = key.utf8.first, !(UInt8(ascii: "0")...UInt8(ascii: "9")).contains(first) else {
            return false
        }
        return key.utf8.allSatisfy { byte in
            (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(byte) || (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(byte)
                || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) || byte == UInt8(ascii: "_")
                || byte == UInt8(ascii: "-")
        }
    }
}
