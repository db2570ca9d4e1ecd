import EventLoop
import Logging

/// Hot reload (SIGHUP, `POST /reload`): the configuration file is read again and, when valid,
/// applied on every loop without dropping a client connection.
extension ProxyServer {
    /// Re-reads the configuration file. An invalid file, or one that changes what only a restart can
    /// change (listeners, workers, the loop backend), is logged and the running configuration kept.
    /// Safe to call from any thread but a worker loop; reloads run one at a time.
    public func reload() -> (applied: Bool, message: String) {
        reloadLock.withLock { _ in reloadNow() }
    }

    private func reloadNow() -> (applied: Bool, message: String) {
        guard let path = configPath else { return reject("the proxy was started without a configuration file") }
        let old = config
        let new: ProxyConfig
        do {
            new = try ConfigLoader.load(path: path, defaultWorkers: old.workers)
        } catch {
            return reject("\(path): \(error)")
        }
        var restartOnly: [String] = []
        if new.listen != old.listen { restartOnly.append("listen") }
        if new.workers != old.workers { restartOnly.append("workers") }
        if new.eventLoop != old.eventLoop { restartOnly.append("eventLoop") }
        if new.loopIdleWaitMicros != old.loopIdleWaitMicros { restartOnly.append("loopIdleWaitMicros") }
        if !restartOnly.isEmpty {
            return reject("\(restartOnly.joined(separator: ", ")) changed: that takes a restart; nothing was applied")
        }
        for (loop, ends) in zip(loops, frontEnds) {
            loop.runAndWait { for end in ends { end.apply(new, directory: clusterStats) } }
        }
        let added = new.clusters.map(\.name).filter { name in !old.clusters.contains { $0.name == name } }
        let removed = old.clusters.map(\.name).filter { name in !new.clusters.contains { $0.name == name } }
        let message = "applied: \(new.clusters.count) clusters"
            + (added.isEmpty ? "" : ", added \(added.joined(separator: ","))")
            + (removed.isEmpty ? "" : ", removed \(removed.joined(separator: ","))")
        state.withLock {
            $0.config = new
            $0.lastReload = .init(atUnixSeconds: Posix.wallClockMilliseconds() / 1000, applied: true, message: message)
        }
        reloadsApplied.bump()
        logger.info("configuration reloaded", metadata: [
            "clusters": "\(new.clusters.map(\.name).joined(separator: ","))",
            "added": "\(added.joined(separator: ","))", "removed": "\(removed.joined(separator: ","))",
        ])
        return (true, message)
    }

    private func reject(_ reason: String) -> (applied: Bool, message: String) {
        state.withLock {
            $0.lastReload = .init(atUnixSeconds: Posix.wallClockMilliseconds() / 1000, applied: false, message: reason)
        }
        reloadsRejected.bump()
        logger.error("configuration reload rejected, running configuration kept", metadata: ["reason": "\(reason)"])
        return (false, reason)
    }
}
