import Testing
import MemcachedProtocol

private func decode(_ s: String) -> [UInt8]? {
    let bytes = b(s)
    var out: [UInt8] = [7]
    let ok = bytes.withUnsafeBytes { MemcachedBase64.decode($0, 0 ..< bytes.count, into: &out) }
    let length = bytes.withUnsafeBytes { MemcachedBase64.decodedLength($0, 0 ..< bytes.count) }
    guard ok else {
        #expect(out == [7] && length == nil)
        return nil
    }
    #expect(out.first == 7 && length == out.count - 1)
    return Array(out.dropFirst())
}

@Suite("MemcachedBase64")
struct Base64Tests {
    @Test func canonicalTextDecodes() {
        #expect(decode("Zg==") == b("f"))
        #expect(decode("Zm8=") == b("fo"))
        #expect(decode("Zm9v") == b("foo"))
        #expect(decode("Zm9vYg==") == b("foob"))
        #expect(decode("Zm9vYmE=") == b("fooba"))
        #expect(decode("Zm9vYmFy") == b("foobar"))
        #expect(decode("AA==") == [0])
        #expect(decode("AAEC") == [0, 1, 2])
        #expect(decode("+/+/") == [0xfb, 0xff, 0xbf])
    }

    @Test func everythingElseIsRefused() {
        for text in ["", "Zg", "Zg=", "Zm9", "Zm9vY", "Z===", "====", "Zh==", "Zm9=", "Zg==Zg==", "Zm=v",
                     "Zm9-", "Zm9_", "Zm9\u{01}", "Zm 9", "Zm9v\r\n"] {
            #expect(decode(text) == nil, "\(text.debugDescription)")
        }
    }

    @Test func roundTripsEveryByteValue() {
        let data = (0 ... 255).map { UInt8($0) }
        let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8)
        for length in 1 ... 7 {
            for start in stride(from: 0, to: 256 - length, by: 37) {
                let chunk = Array(data[start ..< start + length])
                var text: [UInt8] = []
                var i = 0
                while i < chunk.count {
                    let n = Swift.min(3, chunk.count - i)
                    var word: UInt32 = 0
                    for j in 0 ..< 3 { word = word << 8 | (j < n ? UInt32(chunk[i + j]) : 0) }
                    for j in 0 ..< 4 { text.append(j <= n ? alphabet[Int(word >> UInt32(18 - 6 * j) & 63)] : UInt8(ascii: "=")) }
                    i += 3
                }
                #expect(decode(String(decoding: text, as: UTF8.self)) == chunk)
            }
        }
    }
}
