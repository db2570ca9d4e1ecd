import MemcachedProtocol

/// Routing on a sharded router: a command goes to the server owning its key (a meta command's
/// base64 key as the server stores it, decoded), and a multi-key get whose keys live apart is
/// split per server group and merged in the client's key order.
extension MemcachedClientSession {
    /// Calls `body` with the key that places `request` (nil for keyless commands such as flush_all).
    @inline(__always)
    func withRoutingKey(_ frame: UnsafeRawBufferPointer, _ request: MemcachedRequest,
                        _ body: (UnsafeRawBufferPointer?) -> Void) {
        guard router.isSharded, let range = request.keys.first else { return body(nil) }
        if request.base64Key {
            var decoded: [UInt8] = []
            if MemcachedBase64.decode(frame, range, into: &decoded) {
                return decoded.withUnsafeBytes { body($0) }
            }
        }
        body(UnsafeRawBufferPointer(rebasing: frame[range]))
    }

    /// Where `request`'s key lives (unset for a keyless request or an unsharded router).
    func placement(_ frame: UnsafeRawBufferPointer, _ request: MemcachedRequest) -> Placement {
        var placement = Placement()
        withRoutingKey(frame, request) { if let key = $0 { router.place(key: key, into: &placement) } }
        return placement
    }

    /// Splits a get/gets/gat/gats whose keys live on different servers; false when it need not be.
    func splitRetrieval(_ frame: UnsafeRawBufferPointer, _ request: MemcachedRequest) -> Bool {
        guard router.isSharded, request.keys.count > 1 else { return false }
        let groups = router.groupByServer(request.keys.count) { UnsafeRawBufferPointer(rebasing: frame[request.keys[$0]]) }
        guard groups.count > 1 else { return false }
        let keys = groups.map { $0.keys.map { Array(frame[request.keys[$0]]) } }
        let positions = groups.map(\.keys)
        let split = SplitRequest(orderTag: order.next(), quiet: 0, partCount: groups.count) { parts in
            var out: [UInt8] = []
            if !MemcachedGetMerge.merge(parts, keys: keys, positions: positions, into: &out) {
                out = Array("SERVER_ERROR the servers' replies to a split get could not be merged\r\n".utf8)
            }
            return out
        }
        // `gat <exptime> k...` keeps its exptime in every part.
        var head = Array(frame[request.name])
        if request.command == .gat || request.command == .gats, let exptime = request.exptimeToken {
            head.append(UInt8(ascii: " "))
            head.append(contentsOf: frame[exptime])
        }
        var part: [UInt8] = []
        for (index, group) in groups.enumerated() {
            part.removeAll(keepingCapacity: true)
            part.append(contentsOf: head)
            for key in keys[index] {
                part.append(UInt8(ascii: " "))
                part.append(contentsOf: key)
            }
            part.append(contentsOf: "\r\n".utf8)
            // gat/gats touch as they read: only plain gets are verified.
            let verify = router.verifier.isOn && (request.command == .get || request.command == .gets)
            keys[index][0].withUnsafeBytes { first in
                part.withUnsafeBytes { readPart($0, placement: group.placement, split: split, part: index, verifyKey: verify ? first : nil) }
            }
        }
        return true
    }
}
