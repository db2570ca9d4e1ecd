/// The status snapshot as JSON, for `GET /status`.
///
/// Contract: one compact UTF-8 object (RFC 8259) whose keys are exactly the struct's field names
/// (camelCase), in declaration order; nil is `null`; strings escape `"`, `\` and control characters;
/// integers are written in full. A field added to `ProxyStatus` must be added here too (a test
/// compares the keys with the fields by reflection).
extension ProxyStatus {
    func jsonBytes() -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(512 + 512 * protocols.reduce(0) { $0 + $1.clusters.count })
        writeJSON(into: &out)
        return out
    }

    func writeJSON(into out: inout [UInt8]) {
        out.append(UInt8(ascii: "{"))
        Self.member("version", &out, first: true); Self.json(version, &out)
        Self.member("uptimeSeconds", &out); Self.json(uptimeSeconds, &out)
        Self.member("writeAck", &out); Self.json(writeAck, &out)
        Self.member("configPath", &out); Self.json(configPath, &out)
        Self.member("lastReload", &out)
        if let lastReload {
            out.append(UInt8(ascii: "{"))
            Self.member("atUnixSeconds", &out, first: true); Self.json(lastReload.atUnixSeconds, &out)
            Self.member("applied", &out); Self.json(lastReload.applied, &out)
            Self.member("message", &out); Self.json(lastReload.message, &out)
            out.append(UInt8(ascii: "}"))
        } else {
            out.append(contentsOf: "null".utf8)
        }
        Self.member("listeners", &out)
        Self.array(listeners, &out) { listener, out in
            Self.member("name", &out, first: true); Self.json(listener.name, &out)
            Self.member("address", &out); Self.json(listener.address, &out)
            Self.member("clients", &out); Self.json(listener.clients, &out)
            Self.member("protocolErrors", &out); Self.json(listener.protocolErrors, &out)
        }
        Self.member("protocols", &out)
        Self.array(protocols, &out) { view, out in
            Self.member("name", &out, first: true); Self.json(view.name, &out)
            Self.member("readOrder", &out)
            out.append(UInt8(ascii: "["))
            for (i, name) in view.readOrder.enumerated() {
                if i > 0 { out.append(UInt8(ascii: ",")) }
                Self.json(name, &out)
            }
            out.append(UInt8(ascii: "]"))
            Self.member("clusters", &out)
            Self.array(view.clusters, &out) { cluster, out in cluster.writeJSONMembers(into: &out) }
        }
        out.append(UInt8(ascii: "}"))
    }

    // MARK: writing

    fileprivate static func member(_ name: String, _ out: inout [UInt8], first: Bool = false) {
        if !first { out.append(UInt8(ascii: ",")) }
        json(name, &out)
        out.append(UInt8(ascii: ":"))
    }

    /// An array of objects, each written by `members` between its braces.
    private static func array<T>(_ items: [T], _ out: inout [UInt8], _ members: (T, inout [UInt8]) -> Void) {
        out.append(UInt8(ascii: "["))
        for (i, item) in items.enumerated() {
            if i > 0 { out.append(UInt8(ascii: ",")) }
            out.append(UInt8(ascii: "{"))
            members(item, &out)
            out.append(UInt8(ascii: "}"))
        }
        out.append(UInt8(ascii: "]"))
    }

    fileprivate static func json(_ value: String?, _ out: inout [UInt8]) {
        guard let value else {
            out.append(contentsOf: "null".utf8)
            return
        }
        let hex = Array("0123456789abcdef".utf8)
        out.append(UInt8(ascii: "\""))
        for byte in value.utf8 {
            switch byte {
            case UInt8(ascii: "\""): out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "\"")])
            case UInt8(ascii: "\\"): out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "\\")])
            case 0x0A: out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "n")])
            case 0x0D: out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "r")])
            case 0x09: out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "t")])
            case 0x08: out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "b")])
            case 0x0C: out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "f")])
            case 0..<0x20:
                out.append(contentsOf: "\\u00".utf8)
                out.append(hex[Int(byte >> 4)])
                out.append(hex[Int(byte & 0xF)])
            default:
                out.append(byte)
            }
        }
        out.append(UInt8(ascii: "\""))
    }

    fileprivate static func json<T: BinaryInteger>(_ value: T?, _ out: inout [UInt8]) {
        guard let value else {
            out.append(contentsOf: "null".utf8)
            return
        }
        out.append(contentsOf: String(value).utf8)
    }

    fileprivate static func json(_ value: Bool, _ out: inout [UInt8]) {
        out.append(contentsOf: (value ? "true" : "false").utf8)
    }
}

extension ProxyStatus.Cluster {
    fileprivate func writeJSONMembers(into out: inout [UInt8]) {
        typealias S = ProxyStatus
        S.member("name", &out, first: true); S.json(name, &out)
        S.member("local", &out); S.json(local, &out)
        S.member("state", &out); S.json(state, &out)
        S.member("servers", &out); S.json(servers, &out)
        S.member("serversDown", &out); S.json(serversDown, &out)
        S.member("latencyMicros", &out); S.json(latencyMicros, &out)
        S.member("readRank", &out); S.json(readRank, &out)
        S.member("backlog", &out); S.json(backlog, &out)
        S.member("backlogOldestSeconds", &out); S.json(backlogOldestSeconds, &out)
        S.member("needsResync", &out); S.json(needsResync, &out)
        S.member("requests", &out); S.json(requests, &out)
        S.member("errors", &out); S.json(errors, &out)
        S.member("missedWrites", &out); S.json(missedWrites, &out)
        S.member("droppedWrites", &out); S.json(droppedWrites, &out)
        S.member("replayedWrites", &out); S.json(replayedWrites, &out)
        S.member("divergentReplies", &out); S.json(divergentReplies, &out)
        S.member("rejectedWrites", &out); S.json(rejectedWrites, &out)
        S.member("unknownOutcomes", &out); S.json(unknownOutcomes, &out)
        S.member("repairedKeys", &out); S.json(repairedKeys, &out)
        S.member("verifiedReads", &out); S.json(verifiedReads, &out)
        S.member("verifyMismatches", &out); S.json(verifyMismatches, &out)
        S.member("verifyErrors", &out); S.json(verifyErrors, &out)
    }
}
