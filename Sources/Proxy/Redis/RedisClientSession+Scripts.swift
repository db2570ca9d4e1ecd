import RedisProtocol
import Synchronization

/// `SCRIPT FLUSH`es taken through this process, by any worker: each worker's script cache forgets
/// its scripts when it sees the count move (a flushed script must stay gone on every worker, not
/// be loaded again by a repair).
let scriptFlushes = Atomic<UInt64>(0)

/// Scripts through the redis front end. Scripts and functions are forwarded like any command
/// (`EVAL`, `EVALSHA`, `FCALL`, `SCRIPT LOAD|FLUSH`, `FUNCTION LOAD|DELETE|FLUSH|RESTORE` are writes,
/// sent to every cluster; the `_RO` forms are reads); here the worker's `ScriptCache` learns the
/// bodies clients send (`SCRIPT LOAD`, `EVAL`), and an `EVALSHA`/`EVALSHA_RO` naming a known script
/// carries what a cluster that lost it needs (`RoutedSession+ScriptRepair`).
///
/// Limits: the cache is per worker (a script loaded through one worker is unknown to another until
/// a client of that one sends it), bounded (least recently used out), and learns a body when the
/// request passes, whether or not the servers accept it. A keyless `EVALSHA` on a sharded router
/// runs on every server and is not repaired.
extension RedisClientSession {
    /// Learns from a scripting command (`info.flags` holds `.scripting`) and forwards it when it names
    /// a known script; false when the caller forwards it as usual. `key` is the key it routes by.
    func forwardScript(_ info: CommandInfo, frame: UnsafeRawBufferPointer, base: UnsafeRawBufferPointer,
                       arguments: [Range<Int>], key: UnsafeRawBufferPointer?) -> Bool {
        switch info.name {
        case "eval":
            guard arguments.count > 1 else { return false }
            syncScripts()
            worker.scripts.learn(UnsafeRawBufferPointer(rebasing: base[arguments[1]]))
            return false
        case "script|load":
            guard arguments.count == 3 else { return false }
            syncScripts()
            worker.scripts.learn(UnsafeRawBufferPointer(rebasing: base[arguments[2]]))
            return false
        case "script|flush":
            scriptFlushes.add(1, ordering: .relaxed)
            syncScripts()
            return false
        case "evalsha", "evalsha_ro":
            // A keyless write on a sharded router goes to every server (`broadcast`): not repaired.
            guard arguments.count > 2, key != nil || !router.isSharded || info.access == .read else { return false }
            syncScripts()
            guard let body = worker.scripts.body(sha: UnsafeRawBufferPointer(rebasing: base[arguments[1]])) else { return false }
            if info.access == .write {
                writeScript(frame, key: key, body: body)
            } else {
                readScript(frame, key: key, body: body)
            }
            return true
        default:
            return false
        }
    }

    private func syncScripts() {
        worker.scripts.sync(flushes: scriptFlushes.load(ordering: .relaxed))
    }
}
