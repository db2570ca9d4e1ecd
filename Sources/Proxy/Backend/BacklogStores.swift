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
    /// Worker loops now running: on loop 0, the directories of loops beyond them (left by a run with
    /// more workers) are taken over at start-up.
    private let loopCount: Int
    private let logger: Logger
    private var stores: [String: BacklogStore] = [:]

    init(protocolName: String, loopIndex: Int, loopCount: Int, logger: Logger) {
        self.protocolName = protocolName
        self.loopIndex = loopIndex
        self.loopCount = loopCount
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
        let serverDirectory = "\(root)/\(protocolName)/\(cluster)/\(String(host))_\(server.endpoint.port)"
        let directory = "\(serverDirectory)/loop-\(loopIndex)"
        let policy = FsyncPolicy(rawValue: config.fsync.rawValue)!
        do {
            try Posix.makeDirectories(directory)
            // Group commit: under `always` the router flushes once per batch (`BacklogStore.commit`).
            let log = try SegmentLog(directory: directory, maxBytes: config.maxBytes, fsync: policy, groupCommit: true)
            if loopIndex == 0 { adoptOrphans(in: serverDirectory, into: log, config: config, label: label) }
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
            return BacklogStore(disk: log, window: ReplayTuning.window, label: label, logger: logger)
        } catch {
            // Serving beats refusing to start: the writes are still held, in memory.
            logger.error("backlog directory unusable, keeping this server's backlog in memory", metadata: [
                "server": "\(label)", "directory": "\(directory)", "error": "\(error)",
            ])
            return BacklogStore(memoryBounds: config, label: label, logger: logger)
        }
    }

    /// Moves, in order, what the directories of loops that no longer run (`loop-<n>` with n at or
    /// beyond the loop count: the previous run had more workers) hold into loop 0's log, so a smaller
    /// `workers` loses nothing. Their records answer different clients than loop 0's, so appending
    /// them after loop 0's own keeps every client's order.
    private func adoptOrphans(in serverDirectory: String, into log: SegmentLog, config: BacklogConfig, label: String) {
        guard let names = try? Posix.listDirectory(serverDirectory) else { return }
        for name in names.sorted() where name.hasPrefix("loop-") {
            guard let n = Int(name.dropFirst(5)), n >= loopCount else { continue }
            let path = "\(serverDirectory)/\(name)"
            do {
                let orphan = try SegmentLog(directory: path, maxBytes: Int.max / 2, fsync: .always)
                var moved = 0
                while let record = try orphan.first() {
                    guard try log.append(record) else {
                        logger.error("backlog of a retired loop does not fit; the rest stays on disk", metadata: [
                            "server": "\(label)", "directory": "\(path)", "left": "\(orphan.count)",
                        ])
                        break
                    }
                    _ = try orphan.popFirst()
                    moved += 1
                }
                try log.sync()
                orphan.close()
                if moved > 0 {
                    logger.info("backlog of a retired loop taken over", metadata: [
                        "server": "\(label)", "directory": "\(path)", "writes": "\(moved)",
                    ])
                }
            } catch {
                logger.error("backlog of a retired loop unreadable", metadata: [
                    "server": "\(label)", "directory": "\(path)", "error": "\(error)",
                ])
            }
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
