/// The function that hashes a key (after its hash tag is applied). The names are twemproxy's
/// `hash` values, with twemproxy's semantics (its `crc32` is libmemcached's truncated CRC, its
/// `crc32a` the full one). pylibmc calls `one_at_a_time` "default" and `crc32` "crc"; libmemcached
/// has no `crc16` or `crc32a`.
public enum KeyHashKind: String, Sendable, Equatable, CaseIterable {
    case oneAtATime = "one_at_a_time"
    case md5
    case crc16
    case crc32
    case crc32a
    case fnv1_64
    case fnv1a_64
    case fnv1_32
    case fnv1a_32
    case hsieh
    case murmur
    case jenkins
}
