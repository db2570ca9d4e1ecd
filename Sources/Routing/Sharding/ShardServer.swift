/// One server of a sharded cluster, as twemproxy's `servers:` lists it: `host:port:weight [name]`.
///
/// Contract: `weight` is at least 1 (twemproxy rejects 0). `host` is kept as written, not
/// resolved, because the ketama continuum hashes the text: `localhost` and `127.0.0.1` are
/// different servers to it. `name`, when given, replaces `host:port` wherever placement uses a
/// server's identity (the ketama points and twemproxy's server order), so servers can move to
/// new addresses without moving keys.
public struct ShardServer: Sendable, Equatable {
    public var host: String
    public var port: Int
    public var weight: Int
    public var name: String?

    public init(host: String, port: Int, weight: Int = 1, name: String? = nil) {
        self.host = host
        self.port = port
        self.weight = weight
        self.name = name
    }

    /// The memcached port that twemproxy and libmemcached leave out of a server's ring name.
    public static let defaultMemcachedPort = 11211

    /// The text that identifies the server to placement: `name` if given, else `host` when the port
    /// is 11211 (libmemcached's rule, which twemproxy copied), else `host:port`. The weight is
    /// never part of it.
    public var ringName: String {
        if let name { return name }
        return port == ShardServer.defaultMemcachedPort ? host : "\(host):\(port)"
    }
}
