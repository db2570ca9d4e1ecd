import Foundation

/// A parsed JSON document with booleans and numbers told apart, which `JSONSerialization`'s `Any` tree
/// does not do reliably.
///
/// Contract: `JSONTree.parse` accepts what `JSONSerialization` accepts (any top-level value, so the
/// validator can say "expected an object, got an array" instead of a parser error). Numbers are `.integer`
/// when the parser produced an integer that fits `Int`, else `.number` (fractions, exponents, huge values).
/// Syntax errors are thrown as a `ConfigError` holding one problem with the empty path and, when the parser
/// gave an offset, a 1-based line and column.
enum JSONTree: Equatable {
    case null
    case bool(Bool)
    case integer(Int)
    case number(Double)
    case string(String)
    case array([JSONTree])
    case object([String: JSONTree])

    /// "a string", "an integer", ... — the noun used in "expected X, got Y" reasons.
    var kindDescription: String {
        switch self {
        case .null: return "null"
        case .bool: return "a boolean"
        case .integer: return "an integer"
        case .number(let value): return "a number (\(value))"
        case .string: return "a string"
        case .array: return "an array"
        case .object: return "an object"
        }
    }

    static func parse(_ bytes: [UInt8]) throws(ConfigError) -> JSONTree {
        if bytes.allSatisfy(isJSONWhitespace) {
            throw ConfigError(problems: [ConfigProblem(path: "", reason: "the file is empty; expected a JSON object")])
        }
        let any: Any
        do {
            // fragmentsAllowed: a top-level `3` or `"x"` gets the validator's clearer message.
            any = try JSONSerialization.jsonObject(with: Data(bytes), options: [.fragmentsAllowed])
        } catch {
            throw ConfigError(problems: [ConfigProblem(path: "", reason: syntaxReason(error, bytes: bytes))])
        }
        return JSONTree(foundation: any)
    }

    init(foundation any: Any) {
        switch any {
        case is NSNull:
            self = .null
        case let string as String:
            self = .string(string)
        case let number as NSNumber:
            self = JSONTree.classify(number)
        case let array as [Any]:
            self = .array(array.map(JSONTree.init(foundation:)))
        case let dictionary as [String: Any]:
            self = .object(dictionary.mapValues(JSONTree.init(foundation:)))
        default:
            // JSONSerialization produces nothing else; keep the validator total anyway.
            self = .string(String(describing: any))
        }
    }

    // JSONSerialization hands back true/false as NSNumber, and `as? Bool` / `is Bool` succeed for the
    // numbers 0 and 1 too (bridging), so neither can tell them apart. On both Darwin and
    // swift-corelibs-foundation the boolean singletons report objCType "c" (C char), a type JSON numbers
    // never get (integers come back as "i"/"q"/"Q", others as "d" or NSDecimalNumber). The tests pin this
    // down: `"local": 1` must be rejected and `"workers": true` must not read as 1.
    private static func classify(_ number: NSNumber) -> JSONTree {
        let objCType = String(cString: number.objCType)
        if objCType == "c" && !(number is NSDecimalNumber) {
            return .bool(number.boolValue)
        }
        switch objCType {
        case "d", "f":
            return .number(number.doubleValue)
        case "Q", "L", "I", "S", "C":
            // Unsigned: above Int.max it cannot be an Int; keep it as a (range-checked) number.
            let value = number.uint64Value
            return value <= UInt64(Int.max) ? .integer(Int(value)) : .number(number.doubleValue)
        default:
            if number is NSDecimalNumber { return .number(number.doubleValue) }
            return .integer(Int(truncatingIfNeeded: number.int64Value))
        }
    }

    private static func isJSONWhitespace(_ byte: UInt8) -> Bool {
        byte == 0x20 || byte == 0x09 || byte == 0x0A || byte == 0x0D
    }

    // JSONSerialization reports positions as "around character N." where N is a 0-based byte offset into
    // the input (checked on Linux); people want line and column, so translate. Darwin's newer messages
    // already say "line L, column C" and are passed through.
    static func syntaxReason(_ error: Error, bytes: [UInt8]) -> String {
        let nsError = error as NSError
        let detail = (nsError.userInfo[NSDebugDescriptionErrorKey] as? String) ?? nsError.localizedDescription
        var message = detail.hasSuffix(".") ? String(detail.dropLast()) : detail
        if let range = message.range(of: "around character "),
            let offset = Int(message[range.upperBound...].prefix(while: \.isNumber))
        {
            let (line, column) = lineAndColumn(ofByte: offset, in: bytes)
            message = String(message[..<range.lowerBound]) + "at line \(line), column \(column)"
        }
        return "invalid JSON: \(message)"
    }

    /// 1-based line and column (in characters) of a byte offset.
    static func lineAndColumn(ofByte offset: Int, in bytes: [UInt8]) -> (line: Int, column: Int) {
        let end = min(max(offset, 0), bytes.count)
        var line = 1
        var lineStart = 0
        for index in 0..<end where bytes[index] == 0x0A {
            line += 1
            lineStart = index + 1
        }
        let column = String(decoding: bytes[lineStart..<end], as: UTF8.self).count + 1
        return (line, column)
    }
}

/// Finds keys repeated within one JSON object.
///
/// Contract: run only on bytes `JSONSerialization` has accepted. Returns the path of every repeated key
/// (the second and later occurrences), in document order. Why it exists: `JSONSerialization` silently keeps
/// one of the duplicates, so `{"workers": 2, ..., "workers": 8}` would otherwise pass `--check` with one of
/// the two values quietly ignored.
struct DuplicateKeyScanner {
    private let bytes: [UInt8]
    private var index = 0
    private var duplicates: [String] = []
    // Config files are shallow; this only bounds recursion on hostile input.
    private static let maxDepth = 256

    static func duplicateKeyPaths(in bytes: [UInt8]) -> [String] {
        var scanner = DuplicateKeyScanner(bytes: bytes)
        if bytes.starts(with: [0xEF, 0xBB, 0xBF]) { scanner.index = 3 }
        scanner.value(path: "", depth: 0)
        return scanner.duplicates
    }

    private init(bytes: [UInt8]) { self.bytes = bytes }

    private var current: UInt8? { index < bytes.count ? bytes[index] : nil }

    private mutating func skipWhitespace() {
        while let byte = current, byte == 0x20 || byte == 0x09 || byte == 0x0A || byte == 0x0D { index += 1 }
    }

    private mutating func value(path: String, depth: Int) {
        guard depth < Self.maxDepth else { index = bytes.count; return }
        skipWhitespace()
        switch current {
        case UInt8(ascii: "{"): object(path: path, depth: depth)
        case UInt8(ascii: "["): array(path: path, depth: depth)
        case UInt8(ascii: "\""): _ = string()
        case nil: return
        default:
            // A number, true, false or null: runs to the next delimiter.
            while let byte = current,
                byte != UInt8(ascii: ","), byte != UInt8(ascii: "]"), byte != UInt8(ascii: "}"),
                byte != 0x20, byte != 0x09, byte != 0x0A, byte != 0x0D
            {
                index += 1
            }
        }
    }

    private mutating func object(path: String, depth: Int) {
        index += 1  // "{"
        var seen = Set<String>()
        while true {
            skipWhitespace()
            guard let byte = current else { return }
            if byte == UInt8(ascii: "}") { index += 1; return }
            if byte == UInt8(ascii: ",") { index += 1; continue }  // also tolerates a trailing comma
            guard byte == UInt8(ascii: "\"") else { index = bytes.count; return }
            let key = string()
            skipWhitespace()
            guard current == UInt8(ascii: ":") else { index = bytes.count; return }
            index += 1
            let childPath = ConfigPath.key(path, key)
            if !seen.insert(key).inserted { duplicates.append(childPath) }
            value(path: childPath, depth: depth + 1)
        }
    }

    private mutating func array(path: String, depth: Int) {
        index += 1  // "["
        var element = 0
        while true {
            skipWhitespace()
            guard let byte = current else { return }
            if byte == UInt8(ascii: "]") { index += 1; return }
            if byte == UInt8(ascii: ",") { index += 1; continue }
            value(path: ConfigPath.index(path, element), depth: depth + 1)
            element += 1
        }
    }

    /// Consumes a string literal starting at `"` and returns its decoded value.
    private mutating func string() -> String {
        let start = index
        index += 1
        var escaped = false
        while let byte = current {
            index += 1
            if escaped {
                escaped = false
            } else if byte == UInt8(ascii: "\\") {
                escaped = true
            } else if byte == UInt8(ascii: "\"") {
                break
            }
        }
        let literal = bytes[start..<index]
        if !literal.contains(UInt8(ascii: "\\")) {
            return String(decoding: literal.dropFirst().dropLast(), as: UTF8.self)
        }
        // Let the real parser decode escapes so "\u0061" and "a" compare equal, as they do as keys.
        let decoded = try? JSONSerialization.jsonObject(with: Data(literal), options: [.fragmentsAllowed])
        return (decoded as? String) ?? String(decoding: literal, as: UTF8.self)
    }
}
