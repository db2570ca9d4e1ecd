#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import EventLoop

/// The on-disk layout of one record, all integers little-endian:
///
///     offset 0   UInt32  payload length
///     offset 4   UInt32  CRC-32C of bytes 8 ..< 16 + length (the timestamp, then the payload)
///     offset 8   Int64   wall-clock milliseconds of the append
///     offset 16  payload
///
/// The timestamp sits in the header (not per segment) so `oldestAppendedAtMillis` is exact for
/// every record; the checksum covers it so a damaged timestamp is caught, and so an all-zero region
/// (a file extended but never written, as after a power loss) never passes as a record.
enum RecordFormat {
    static let headerSize = 16

    /// The payload length in the header at `header`.
    @inline(__always)
    static func length(_ header: UnsafeRawPointer) -> Int {
        Int(UInt32(littleEndianBytesAt: header))
    }

    /// The append time in the header at `header`.
    @inline(__always)
    static func timestamp(_ header: UnsafeRawPointer) -> Int64 {
        Int64(littleEndian: header.loadUnaligned(fromByteOffset: 8, as: Int64.self))
    }

    /// True when the stored checksum matches; `record` is a whole record, header included.
    static func isIntact(_ record: UnsafeRawBufferPointer) -> Bool {
        let stored = UInt32(littleEndianBytesAt: record.baseAddress! + 4)
        return stored == CRC32C.checksum(UnsafeRawBufferPointer(rebasing: record[8...]))
    }

    /// Writes the record for `payload` at `offset` of `fd` with one gathering write (plus more only
    /// if the kernel writes short); throws on failure, after which the bytes there are undefined.
    static func write(_ payload: UnsafeRawBufferPointer, appendedAt millis: Int64, to fd: Int32, at offset: Int) throws {
        try withUnsafeTemporaryAllocation(byteCount: headerSize, alignment: 8) { header in
            let stamp = UnsafeMutableRawBufferPointer(rebasing: header[8 ..< 16])
            stamp.storeBytes(of: millis.littleEndian, as: Int64.self)
            let crc = CRC32C.checksum(payload, continuing: CRC32C.checksum(UnsafeRawBufferPointer(stamp)))
            header.storeBytes(of: UInt32(payload.count).littleEndian, toByteOffset: 0, as: UInt32.self)
            header.storeBytes(of: crc.littleEndian, toByteOffset: 4, as: UInt32.self)

            let total = headerSize + payload.count
            var iov = (
                iovec(iov_base: header.baseAddress, iov_len: headerSize),
                iovec(iov_base: UnsafeMutableRawPointer(mutating: payload.baseAddress), iov_len: payload.count)
            )
            var done = try withUnsafePointer(to: &iov) {
                try $0.withMemoryRebound(to: iovec.self, capacity: 2) { try Posix.pwritev(fd, $0, 2, at: offset) }
            }
            while done < total {
                let n = done < headerSize
                    ? try Posix.pwrite(fd, header.baseAddress! + done, headerSize - done, at: offset + done)
                    : try Posix.pwrite(fd, payload.baseAddress! + (done - headerSize), total - done, at: offset + done)
                // A regular file reports a full disk as ENOSPC; a 0 would loop forever, so call it that.
                if n == 0 { throw SystemError("pwrite", errno: ENOSPC) }
                done += n
            }
        }
    }
}

/// Segment file names: the sequence number zero-padded to 20 digits (every UInt64 fits, and names
/// sort like numbers), then ".seg".
enum SegmentName {
    static let suffix = ".seg"

    static func name(_ number: UInt64) -> String {
        let digits = String(number)
        return String(repeating: "0", count: 20 - digits.count) + digits + suffix
    }

    /// The number in a segment file's name; nil for any other file.
    static func number(_ name: String) -> UInt64? {
        guard name.utf8.count == 20 + suffix.utf8.count, name.hasSuffix(suffix) else { return nil }
        let stem = name.utf8.prefix(20)
        guard stem.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }) else { return nil }
        return UInt64(String(decoding: stem, as: UTF8.self))
    }
}
