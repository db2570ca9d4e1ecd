/// The meta commands: "mg|md|ma <key> <flags>*", "ms <key> <datalen> <flags>*" + data, "me <key> [b]".
extension MemcachedRequestParser {
    // memcached's MFLAG_MAX_OPAQUE_LENGTH, applied to every flag: a flag is one token of at most
    // 32 bytes, its letter included.
    @usableFromInline static let maxFlagLength = 32
    // memcached refuses an ms of more than 16 flags (its limit of 20 tokens, counting the command,
    // key, datalen and an end marker) without swallowing the data, so it would then read the data
    // as a command line; the parser refuses it first, swallowing the data.
    @usableFromInline static let maxMetaSetFlags = 16

    /// mg, md, ma.
    @usableFromInline
    mutating func parseMetaLine(_ bytes: UnsafeRawBufferPointer) -> MemcachedParseResult {
        let header = request.headerLength
        guard tokens.count >= 2 else { return Self.fail(MemcachedErrorText.unknownCommand, consume: header) }
        request.keys.append(tokens[1])
        guard tokens[1].count <= limits.maxKeyLength else { return Self.fail(MemcachedErrorText.badFormat, consume: header) }
        if request.command == .metaArithmetic { request.delta = 1 }
        if let reply = takeMetaFlags(bytes, from: 2) { return Self.fail(reply, consume: header) }
        return .request(length: header)
    }

    /// ms: its data length is read first, so that every refusal swallows the data block.
    @usableFromInline
    mutating func parseMetaSet(_ bytes: UnsafeRawBufferPointer) -> MemcachedParseResult {
        let header = request.headerLength
        guard tokens.count >= 2 else { return Self.fail(MemcachedErrorText.unknownCommand, consume: header) }
        request.keys.append(tokens[1])
        guard tokens.count >= 3, let length = Self.dataLength(bytes, tokens[2]) else {
            return Self.fail(MemcachedErrorText.badFormat, consume: header)
        }
        let consume = header + length + 2
        guard tokens[1].count <= limits.maxKeyLength else { return Self.fail(MemcachedErrorText.badFormat, consume: consume) }
        guard tokens.count - 3 <= Self.maxMetaSetFlags else { return Self.fail(MemcachedErrorText.tooManyFlags, consume: consume) }
        if let reply = takeMetaFlags(bytes, from: 3) { return Self.fail(reply, consume: consume) }
        // memcached answers every ms error, q or not.
        return dataBlock(bytes, length: length, silent: false)
    }

    /// "me <key> [b]": memcached reads only a "b" right after the key and ignores the rest.
    @usableFromInline
    mutating func parseMetaDebug(_ bytes: UnsafeRawBufferPointer) -> MemcachedParseResult {
        let header = request.headerLength
        guard tokens.count >= 2 else { return Self.fail(MemcachedErrorText.badFormat, consume: header) }
        let key = tokens[1]
        request.keys.append(key)
        for i in 2 ..< tokens.count {
            let t = tokens[i]
            request.metaFlags.append(MetaFlag(letter: bytes[t.lowerBound], token: t.lowerBound + 1 ..< t.upperBound))
        }
        request.base64Key = tokens.count >= 3 && MemcachedScan.equals(bytes, tokens[2], "b")
        guard validMetaKey(bytes, key) else { return Self.fail(MemcachedErrorText.badFormat, consume: header) }
        return .request(length: header)
    }

    /// Records the flags from token `start` on; the error line when one is refused. Checks, in
    /// memcached's order: a letter seen twice (or not ASCII), a b key that is not base64, an O
    /// flag too long; then the proxy's own: other flags too long, control characters in a key.
    @usableFromInline
    mutating func takeMetaFlags(_ bytes: UnsafeRawBufferPointer, from start: Int) -> String? {
        let command = request.command
        let loose = command == .metaDelete || command == .metaArithmetic
        var seen: (UInt64, UInt64) = (0, 0)
        var tooLong: String? = nil
        for i in start ..< tokens.count {
            let t = tokens[i]
            let letter = bytes[t.lowerBound]
            let flag = MetaFlag(letter: letter, token: t.lowerBound + 1 ..< t.upperBound)
            request.metaFlags.append(flag)
            guard letter < 127 else { return loose ? MemcachedErrorText.invalidOrDuplicateFlag : MemcachedErrorText.duplicateFlag }
            let bit: UInt64 = 1 << UInt64(letter & 63)
            let wasSeen = letter < 64 ? seen.0 & bit : seen.1 & bit
            guard wasSeen == 0 else { return loose ? MemcachedErrorText.invalidOrDuplicateFlag : MemcachedErrorText.duplicateFlag }
            if letter < 64 { seen.0 |= bit } else { seen.1 |= bit }
            if t.count > Self.maxFlagLength, tooLong == nil {
                tooLong = letter == UInt8(ascii: "O") ? MemcachedErrorText.opaqueTooLong : MemcachedErrorText.badFlagToken
            }
            takeMetaFlagValue(bytes, flag)
        }
        let key = tokens[1]
        if request.base64Key, !validMetaKey(bytes, key) {
            return loose ? MemcachedErrorText.invalidOrDuplicateFlag : MemcachedErrorText.badBase64Key
        }
        if let tooLong { return tooLong }
        if !request.base64Key, !validMetaKey(bytes, key) { return MemcachedErrorText.badFormat }
        return nil
    }

    /// Reads the flags the proxy acts on. A token that does not parse is left for the backend to
    /// refuse, and the field keeps its default.
    @usableFromInline @inline(__always)
    mutating func takeMetaFlagValue(_ bytes: UnsafeRawBufferPointer, _ flag: MetaFlag) {
        switch flag.letter {
        case UInt8(ascii: "q"):
            request.quiet = true
        case UInt8(ascii: "b"):
            request.base64Key = true
        case UInt8(ascii: "T"):
            if let v = MemcachedScan.parseSigned(bytes, flag.token) {
                request.exptime = v
                request.exptimeToken = flag.token
            }
        case UInt8(ascii: "F"):
            if let v = MemcachedScan.parseUnsigned(bytes, flag.token, max: UInt64(UInt32.max)) { request.clientFlags = UInt32(v) }
        case UInt8(ascii: "C"):
            if let v = MemcachedScan.parseUnsigned(bytes, flag.token) { request.casUnique = v }
        case UInt8(ascii: "D"):
            if let v = MemcachedScan.parseUnsigned(bytes, flag.token) { request.delta = v }
        default:
            break
        }
    }

    /// A meta key: with b, canonical base64 of 1...maxKeyLength bytes (the text within the limit
    /// too); else a plain key.
    @usableFromInline
    func validMetaKey(_ bytes: UnsafeRawBufferPointer, _ key: Range<Int>) -> Bool {
        guard request.base64Key else { return MemcachedScan.isValidKey(bytes, key, maxLength: limits.maxKeyLength) }
        guard key.count <= limits.maxKeyLength, let decoded = MemcachedBase64.decodedLength(bytes, key) else { return false }
        return decoded <= limits.maxKeyLength
    }
}
