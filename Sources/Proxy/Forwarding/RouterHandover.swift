import EventLoop

/// A reload's hand-over from one router to the next, on one loop. The new router takes the old one's
/// held writes (`adoptBacklogs`), sessions move to it once nothing of theirs is in flight on the old
/// one (so each client's requests stay in order), and the old router is closed, its connections
/// drained, once no session uses it and none of its requests is outstanding.
///
/// Contract: loop-confined. `sessionsStillOn` pokes every session that is not on `current` yet (it
/// moves if it can) and returns the routers the sessions still use.
final class RouterHandover<Wire: BackendWire> {
    unowned(unsafe) let loop: EventLoop
    private var retiring: [ClusterRouter<Wire>] = []
    private var timer: LoopTimer?
    var sessionsStillOn: () -> Set<ObjectIdentifier> = { [] }

    init(loop: EventLoop) {
        self.loop = loop
    }

    /// Moves `acceptor`'s sessions over as they go idle.
    func watch<Session: RouterSwitching>(_ acceptor: ClientAcceptor<Session>) where Session.Wire == Wire {
        sessionsStillOn = { [unowned acceptor] in
            var inUse = Set<ObjectIdentifier>()
            acceptor.forEachSession { session in
                if !session.moveToCurrentRouter() { inUse.insert(ObjectIdentifier(session.router)) }
            }
            return inUse
        }
    }

    /// Routers replaced but not closed yet.
    var pending: Int { retiring.count }

    func replace(_ old: ClusterRouter<Wire>, with new: ClusterRouter<Wire>) {
        new.adoptBacklogs(from: old)
        retiring.append(old)
        guard timer == nil else { return }
        timer = loop.schedule(after: .milliseconds(10), repeating: .milliseconds(20)) { [unowned self] in self.check() }
    }

    private func check() {
        let inUse = sessionsStillOn()
        retiring.removeAll { router in
            guard !inUse.contains(ObjectIdentifier(router)), router.isIdle else { return false }
            router.close()
            return true
        }
        if retiring.isEmpty {
            timer?.cancel()
            timer = nil
        }
    }

    /// Closes every router at once (shutdown).
    func closeAll() {
        timer?.cancel()
        timer = nil
        for router in retiring { router.close() }
        retiring = []
    }
}

/// A session that can move to a new router after a reload.
protocol RouterSwitching: RoutedSession, ClientSession {
    var router: ClusterRouter<Wire> { get set }
    /// The worker's router, which this session should be on.
    var currentRouter: ClusterRouter<Wire> { get }
    /// A decided write is waiting for its cluster (the session must not move meanwhile).
    var isDeciding: Bool { get }
    var loop: EventLoop { get }
    func processInput()
    /// The session moved from `old` to `router` (after a reload).
    func routerChanged(from old: ClusterRouter<Wire>)
}

extension RouterSwitching {
    /// After a reload: moves to the current router once nothing of this session is in flight on the
    /// old one (so its requests reach each server in order); false while it must wait. The worker's
    /// hand-over pokes it again until it has moved.
    func moveToCurrentRouter() -> Bool {
        if router === currentRouter { return true }
        guard slots.inUse == 0, !isDeciding else { return false }
        let old = router
        router = currentRouter
        routerChanged(from: old)
        loop.deferToEndOfBatch { [self] in processInput() }
        return true
    }
}
