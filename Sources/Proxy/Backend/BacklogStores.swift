import DurableLog
import EventLoop
import Logging

/// One loop's backlog stores for one protocol, one per server, by cluster name and address, kept
/// across reloads so a server that stays keeps its held writes (and its directory lock). With
/// `backlog.dir` each lives in `<dir>/<protocol>/<cluster>/<host>_<port>/loop-<n>/`.
///
/// Contract: loop-confined; `store` returns the same object for the same server for the life of
/// the loop; `closeAll` at shutdown.
final class BacklogStores {
    private let protocolName: String
    private let loopIndex: Int
    private let logger: Logger
    private var stores: [String: BacklogStore] = [:]

    init(protocolName: String, loopIndex: Int, logger: Logger) {
        self.protocolName = protocolName
        self.loopIndex = loopIndex
        self.logger = logger
    }

    func store(cluster: String, server: ServerConfig, config: BacklogConfig) -> BacklogStore {
        let key = "\(cluster)/\(server.endpoint)"
        if let existing = stores[key] { return existing }
        let store = make(cluster: cluster, server: server, config: config)
        stores[key] = store
        return store
    }

    private func make(cluster: String, server: ServerConfig, config: BacklogConfig) -> BacklogStore {
        let label = "\(cluster)/\(server.endpoint)"
        guard let root = config.directory else {
            return BacklogStore(memoryBounds: config, label: label, logger: logger)
        }
        let host = server.endpoint.host.map { $0.isLetter || $0.isNumber || $0 == "." || $0 == "-" ? $0 : "_" }
        let directory = "\(root)/\(protocolName)/\(cluster)/\(String(host))_\(server.endpoint.port)/loop-\(loopIndex)"
        do {
            try Posix.makeDirectories(directory)
            let log = try SegmentLog(directory: directory, maxBytes: config.maxBytes, fsync: FsyncPolicy(rawValue: config.fsync.rawValue)!)
            let report = log.recovery
            for damage in report.corruptions {
                logger.error("backlog segment damaged; the records before the damage are kept", metadata: [
                    "server": "\(label)", "file": "\(damage.file)", "offset": "\(damage.offset)",
                    "reason": "\(damage.reason)", "discardedBytes": "\(damage.discardedBytes)",
                ])
            }
            if !log.isEmpty {
                logger.info("backlog recovered from disk", metadata: [
                    "server": "\(label)", "writes": "\(log.count)", "bytes": "\(log.bytes)", "directory": "\(directory)",
                ])
            }
            return BacklogStore(disk: log, label: label, logger: logger)
        } catch {
            // Serving beats refusing to start: the writes are still held, in memory.
            logger.error("backlog directory unusable, keeping this server's backlog in memory", metadata: [
                "server": "\(label)", "directory": "\(directory)", "error": "\(error)",
            ])
            return BacklogStore(memoryBounds: config, label: label, logger: logger)
        }
    }

    func syncIfDue(nowMillis: Int64) {
        for store in stores.values { store.syncIfDue(nowMillis: nowMillis) }
    }

    func closeAll() {
        for store in stores.values { store.close() }
        stores = [:]
    }
}
