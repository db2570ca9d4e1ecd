/// The bodies of the Lua scripts clients sent through the proxy (`SCRIPT LOAD body`, `EVAL body ...`),
/// by their SHA-1: what the proxy needs to give a server that lost its script cache (a restart) the
/// script an `EVALSHA` names.
///
/// Contract:
/// - Pure and not thread-safe: one per worker loop.
/// - Bounded: at most `maxScripts` scripts and `maxBytes` bytes of bodies; the least recently used
///   (learned or looked up) script goes first. A body larger than `maxBytes` is not kept.
/// - A script's digest is the SHA-1 Redis names it by; a body learned twice is kept once.
/// - Learning and looking up a known script allocate nothing; learning a new one copies its body.
public struct ScriptCache {
    public static let defaultMaxScripts = 1_000
    public static let defaultMaxBytes = 8 << 20

    public let maxScripts: Int
    public let maxBytes: Int
    /// Bytes of the bodies kept.
    public private(set) var bytes = 0

    private struct Entry {
        var digest: SHA1.Digest
        var body: [UInt8]
        /// Neighbours in recency order (-1: none): `newer` towards `newest`, `older` towards `oldest`.
        var newer: Int
        var older: Int
    }

    private var index: [SHA1.Digest: Int] = [:]
    /// Entry storage; indices in `unused` are free for reuse.
    private var entries: [Entry] = []
    private var unused: [Int] = []
    private var newest = -1
    private var oldest = -1
    /// The flush count seen at the last `sync`.
    private var flushesSeen: UInt64 = 0

    public init(maxScripts: Int = defaultMaxScripts, maxBytes: Int = defaultMaxBytes) {
        precondition(maxScripts > 0 && maxBytes > 0, "a script cache needs room for one script")
        self.maxScripts = maxScripts
        self.maxBytes = maxBytes
    }

    /// Scripts kept.
    public var count: Int { index.count }

    /// Remembers `body` under its SHA-1 (or marks it recently used when known) and returns the digest.
    @discardableResult
    public mutating func learn(_ body: some Collection<UInt8>) -> SHA1.Digest {
        let digest = SHA1.digest(body)
        if let i = index[digest] {
            moveToNewest(i)
            return digest
        }
        guard body.count <= maxBytes else { return digest }
        while index.count >= maxScripts || bytes + body.count > maxBytes { removeOldest() }
        let entry = Entry(digest: digest, body: Array(body), newer: -1, older: newest)
        let i: Int
        if let reused = unused.popLast() {
            entries[reused] = entry
            i = reused
        } else {
            entries.append(entry)
            i = entries.count - 1
        }
        if newest >= 0 { entries[newest].newer = i }
        newest = i
        if oldest < 0 { oldest = i }
        index[digest] = i
        bytes += body.count
        return digest
    }

    /// The body of the script named `sha` (40 hex digits, either case, as EVALSHA takes it), marked
    /// recently used; nil when unknown or when `sha` is not a digest.
    public mutating func body(sha: some Collection<UInt8>) -> [UInt8]? {
        guard let digest = SHA1.Digest(hex: sha) else { return nil }
        return body(digest: digest)
    }

    public mutating func body(digest: SHA1.Digest) -> [UInt8]? {
        guard let i = index[digest] else { return nil }
        moveToNewest(i)
        return entries[i].body
    }

    /// Forgets every script (`SCRIPT FLUSH`).
    public mutating func removeAll() {
        index.removeAll()
        entries.removeAll()
        unused.removeAll()
        newest = -1
        oldest = -1
        bytes = 0
    }

    /// Forgets every script when `flushes` (a count of `SCRIPT FLUSH`es shared by several caches)
    /// moved since the last call: a flush taken by another cache's owner reaches this one.
    public mutating func sync(flushes: UInt64) {
        guard flushes != flushesSeen else { return }
        flushesSeen = flushes
        removeAll()
    }

    // MARK: recency list

    private mutating func unlink(_ i: Int) {
        let (newer, older) = (entries[i].newer, entries[i].older)
        if newer >= 0 { entries[newer].older = older } else { newest = older }
        if older >= 0 { entries[older].newer = newer } else { oldest = newer }
    }

    private mutating func moveToNewest(_ i: Int) {
        guard i != newest else { return }
        unlink(i)
        entries[i].newer = -1
        entries[i].older = newest
        entries[newest].newer = i
        newest = i
    }

    private mutating func removeOldest() {
        let i = oldest
        guard i >= 0 else { return }
        unlink(i)
        index[entries[i].digest] = nil
        bytes -= entries[i].body.count
        // Free the body now, not when the slot is reused.
        entries[i].body = []
        unused.append(i)
    }
}
