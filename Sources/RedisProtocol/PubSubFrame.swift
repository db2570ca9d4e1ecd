/// What one frame from a backend connection in subscribed mode is, for `Subscriptions.classify`.
public enum PubSubFrame: Equatable, Sendable {
    /// `message`, `pmessage` or `smessage`: relayed to the client byte for byte.
    case message
    /// `subscribe`, `unsubscribe`, `psubscribe`, `punsubscribe`, `ssubscribe`, `sunsubscribe`: the
    /// proxy composes the client's confirmations itself, so the backend's are swallowed.
    case confirmation
    /// The reply to the proxy's own PING (RESP2 `["pong", x]` in subscribed mode, else `+PONG`).
    case pong
    /// An error reply (`-` or `!`).
    case error
    /// Anything else (the handshake's reply, other pushes such as client-tracking invalidations).
    case other
}

extension Subscriptions {
    /// Classifies one whole frame from a backend subscription connection (RESP2 array or RESP3 push).
    /// Reads only the header, the first element and the element count; never allocates.
    /// The words are compared as Redis writes them (lowercase), with their exact element counts
    /// (3, `pmessage` 4, RESP2 `pong` 2), so a frame of any other shape is `.other`.
    public static func classify(_ frame: UnsafeRawBufferPointer) -> PubSubFrame {
        guard let first = frame.first else { return .other }
        switch first {
        case RESPType.error, RESPType.blobError:
            return .error
        case RESPType.simpleString:
            return Self.equals(frame, 0, frame.count, "+PONG\r\n") ? .pong : .other
        case RESPType.array, RESPType.push:
            break
        default:
            return .other
        }
        guard case .value(let elements, let header) = RESPScan.decimalLine(frame, from: 1),
              header < frame.count, frame[header] == RESPType.bulkString,
              case .value(let length, let data) = RESPScan.decimalLine(frame, from: header + 1),
              length >= 0, length <= frame.count - data
        else { return .other }
        // Dispatch on the length first so most words are compared once at most.
        switch (length, elements) {
        case (7, 3):
            return equals(frame, data, length, "message") ? .message : .other
        case (8, 4):
            return equals(frame, data, length, "pmessage") ? .message : .other
        case (8, 3):
            return equals(frame, data, length, "smessage") ? .message : .other
        case (9, 3):
            return equals(frame, data, length, "subscribe") ? .confirmation : .other
        case (10, 3):
            return equals(frame, data, length, "psubscribe") || equals(frame, data, length, "ssubscribe") ? .confirmation : .other
        case (11, 3):
            return equals(frame, data, length, "unsubscribe") ? .confirmation : .other
        case (12, 3):
            return equals(frame, data, length, "punsubscribe") || equals(frame, data, length, "sunsubscribe") ? .confirmation : .other
        case (4, 2):
            return first == RESPType.array && equals(frame, data, length, "pong") ? .pong : .other
        default:
            return .other
        }
    }

    /// Whether `frame[start ..< start + length]` is exactly `word`.
    @inline(__always)
    private static func equals(_ frame: UnsafeRawBufferPointer, _ start: Int, _ length: Int, _ word: StaticString) -> Bool {
        guard word.utf8CodeUnitCount == length else { return false }
        return word.withUTF8Buffer { w in
            for i in 0 ..< length where frame[start + i] != w[i] { return false }
            return true
        }
    }
}
