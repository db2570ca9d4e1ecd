@testable import Proxy
import Testing

/// `ScriptRepair` asks for a repair only on a missing-script reply, once per cluster, and only where
/// the wire has scripts.
@Suite struct ScriptRepairTests {
    private let noScript = Array("-NOSCRIPT No matching script. Please use EVAL.\r\n".utf8)
    private let body = Array("return 1".utf8)

    private func begin<Wire: BackendWire>(_ repair: ScriptRepair, _ cluster: Int, _ reply: [UInt8], _ wire: Wire.Type) -> [UInt8]? {
        reply.withUnsafeBytes { repair.begin(cluster: cluster, reply: $0, wire) }
    }

    @Test func eachClusterIsRepairedOnce() {
        let repair = ScriptRepair(body: body, request: Array("*3\r\n$7\r\nEVALSHA\r\n$1\r\nx\r\n$1\r\n0\r\n".utf8))
        let load = Array("*3\r\n$6\r\nSCRIPT\r\n$4\r\nLOAD\r\n$8\r\nreturn 1\r\n".utf8)
        #expect(begin(repair, 1, noScript, RedisWire.self) == load)
        // The retry answered NOSCRIPT again: that is the cluster's answer now.
        #expect(begin(repair, 1, noScript, RedisWire.self) == nil)
        #expect(begin(repair, 0, noScript, RedisWire.self) == load)
        #expect(begin(repair, 63, noScript, RedisWire.self) == load)
    }

    @Test func otherRepliesAskForNothing() {
        let repair = ScriptRepair(body: body, request: [])
        for reply in ["-ERR wrong number of arguments\r\n", ":1\r\n", "$8\r\nNOSCRIPT\r\n", ""] {
            #expect(begin(repair, 2, Array(reply.utf8), RedisWire.self) == nil, "\(reply)")
        }
        // Nothing was marked: a NOSCRIPT from the same cluster still asks for the repair.
        #expect(begin(repair, 2, noScript, RedisWire.self) != nil)
    }

    @Test func memcachedHasNoScripts() {
        let repair = ScriptRepair(body: body, request: [])
        #expect(begin(repair, 0, noScript, MemcachedWire.self) == nil)
        #expect(begin(repair, 0, Array("SERVER_ERROR NOSCRIPT\r\n".utf8), MemcachedWire.self) == nil)
        #expect(MemcachedWire.scriptLoadFrame(body: body) == nil)
    }
}
