/// twemproxy's `hash_tag`: which part of a key is hashed, so that related keys share a server.
///
/// Contract: a tag is two bytes, an opening and a closing one (like `"{}"`); `""` turns tagging
/// off. For a key that holds the opening byte and, somewhere after its first occurrence, the
/// closing byte with at least one byte between them, only the bytes between the first opening
/// byte and the first closing byte after it are hashed; any other key is hashed whole. So with
/// `"{}"`: `{user}.a` hashes `user`, `}{x}` hashes `x`, and `{}x`, `a{b` and `{}{x}` hash whole
/// (twemproxy, like Redis Cluster, looks no further than the first opening byte). The rule is the
/// same as Redis Cluster's hash tags when the tag is `"{}"`.
public struct HashTag: Sendable, Equatable {
    /// The opening and closing bytes, or nil when tagging is off.
    public let delimiters: (open: UInt8, close: UInt8)?

    /// No tagging: every key is hashed whole.
    public static let off = HashTag(delimiters: nil)

    private init(delimiters: (open: UInt8, close: UInt8)?) {
        self.delimiters = delimiters
    }

    /// `""` for no tagging, or exactly two bytes (twemproxy rejects any other length, and so do
    /// we, by returning nil).
    public init?(_ spec: String) {
        let bytes = Array(spec.utf8)
        switch bytes.count {
        case 0: self = .off
        case 2: self.init(delimiters: (bytes[0], bytes[1]))
        default: return nil
        }
    }

    /// Whether tagging is on.
    public var isOn: Bool { delimiters != nil }

    /// The bytes of `key` to hash: a sub-range of `key` itself, never a copy.
    public func hashedPart(of key: UnsafeRawBufferPointer) -> UnsafeRawBufferPointer {
        guard let (open, close) = delimiters,
              let start = key.firstIndex(of: open)
        else { return key }
        let afterOpen = start + 1
        guard let end = key[afterOpen...].firstIndex(of: close), end > afterOpen else { return key }
        return UnsafeRawBufferPointer(rebasing: key[afterOpen ..< end])
    }

    public static func == (lhs: HashTag, rhs: HashTag) -> Bool {
        switch (lhs.delimiters, rhs.delimiters) {
        case (nil, nil): return true
        case let (l?, r?): return l.open == r.open && l.close == r.close
        default: return false
        }
    }
}
