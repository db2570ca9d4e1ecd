/// How a sharded cluster spreads keys over its servers. The names are twemproxy's `distribution`
/// values, so a twemproxy pool translates one to one; the libmemcached layout is for caches
/// filled by libmemcached clients (pylibmc, PHP memcached), whose ketama continuum differs.
///
/// Every server is identified by its ring name (`ShardServer.ringName`): its configured name, else
/// `host` when the port is 11211, else `host:port`; the weight is never part of it.
public enum ShardDistribution: String, Sendable, Equatable, CaseIterable {
    /// twemproxy's ketama: an MD5 continuum of 160 points per server scaled by the server's share
    /// of the total weight (`floorf(weight / total * 40 * servers) * 4`); each MD5 of
    /// "ringname-N" gives four points. The key hash (`hash`) only picks the spot on the ring.
    /// libmemcached's weighted ketama (pylibmc `{"ketama_weighted": True}`) is this same layout
    /// with `hash: md5`, for servers without configured names.
    case ketama
    /// twemproxy's modula: the key hash modulo the total weight picks a slot; servers own
    /// `weight` consecutive slots each, in twemproxy's order (sorted by ring name: shorter first,
    /// then bytewise), not in configured order.
    case modula
    /// twemproxy's random: any server, chosen afresh for each request (weights are ignored).
    case random
    /// libmemcached's `MEMCACHED_DISTRIBUTION_CONSISTENT_KETAMA` as pylibmc's
    /// `{"ketama": True, "hash": H}` sets it (libmemcached 1.0). `hash` is H, libmemcached's key
    /// hash (`MEMCACHED_BEHAVIOR_HASH`; pylibmc's default, "default", is `one_at_a_time`), and with
    /// all weights 1 it also places the ring: 100 points per server, point N being
    /// `hash("ringname-N")`. pylibmc's `ketama_hash` behavior changes nothing here. If any weight
    /// is above 1, libmemcached switches to its weighted continuum, which is `ketama`'s layout,
    /// while still hashing keys with H.
    case libmemcachedKetama = "libmemcached_ketama"
}
