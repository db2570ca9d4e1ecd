/// What a client with `noreply` / meta quiet mode must not see, as memcached 1.6.18 decides it
/// (each rule checked against the real server).
///
/// Contract, for the reply a backend gave to the loud form of the request (`MemcachedEncoder.loudFrame`):
/// - Text `noreply`: every reply is suppressed, error lines included: memcached's out_string
///   drops whatever a noreply command answers (a bad number, "SERVER_ERROR object too large for
///   cache", "CLIENT_ERROR bad data chunk" alike). Only a line memcached cannot parse (a wrong
///   token count, answered "ERROR") is sent, and the parser refuses that itself.
/// - Meta `q` (errors are always sent):
///   - mg hides EN (a miss); HD and VA (hits) are sent.
///   - ms hides HD; NS, EX, NF are sent.
///   - md hides HD; NF and EX are sent.
///   - ma hides HD and VA; NF, NS, EX are sent. (memcached sends the HD/VA of an ma whose N
///     flag just created the item; a reply cannot tell that case apart, so it is hidden too.)
///   - mn and me have no quiet mode.
public enum MemcachedQuiet {
    /// Whether the client must not see `reply` (one whole reply, as the framer delimits it).
    public static func suppresses(_ command: MemcachedCommand, quiet: Bool, noreply: Bool, reply: UnsafeRawBufferPointer) -> Bool {
        if noreply && !command.isMeta { return true }
        guard quiet, reply.count >= 2 else { return false }
        let code = 0 ..< 2
        // A two-letter code is followed by "\r\n" or a space and its flags.
        guard reply.count == 2 || reply[2] == MemcachedScan.space || reply[2] == MemcachedScan.cr else { return false }
        switch command {
        case .metaGet:
            return MemcachedScan.equals(reply, code, "EN")
        case .metaSet, .metaDelete:
            return MemcachedScan.equals(reply, code, "HD")
        case .metaArithmetic:
            return MemcachedScan.equals(reply, code, "HD") || MemcachedScan.equals(reply, code, "VA")
        default:
            return false
        }
    }
}
