#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import EventLoop

/// Where the first unconsumed record is: byte `offset` of segment number `segment`. With nothing
/// held, it names the segment the next append will create, at offset 0.
struct LogPosition: Equatable {
    var segment: UInt64
    var offset: Int
}

/// The `head` file: the consumption position, rewritten on every pop.
///
/// Layout: two 32-byte slots, written alternately (slot = generation % 2), each
///
///     offset 0   UInt64  generation (increases with every write)
///     offset 8   UInt64  segment number
///     offset 16  UInt64  byte offset in that segment
///     offset 24  UInt32  CRC-32C of bytes 0 ..< 24
///     offset 28  UInt32  zero
///
/// all little-endian. Reading takes the valid slot with the higher generation.
///
/// Why two slots and not write-to-temp + rename: the position changes with every consumed record,
/// and one 32-byte pwrite is a single call where a rename costs an open, a write, a close, a rename
/// and a directory update. Atomicity comes from the other slot: a write torn by a power loss spoils
/// only the slot being written, whose checksum then fails, and the other still holds the previous
/// position (that one record is delivered again; nothing is skipped).
///
/// Contract: holds an exclusive `flock` on the file for as long as it is open, so a second process
/// (or a second log in this one) opening the same directory fails instead of interleaving with it.
struct HeadFile {
    static let name = "head"
    static let slotSize = 32

    let fd: Int32
    private var generation: UInt64 = 0

    /// What the file held when it was opened.
    enum Stored: Equatable {
        /// Empty: a new directory, or the file was lost.
        case missing
        case position(LogPosition)
        /// Bytes, but no slot with a valid checksum.
        case unreadable
    }

    /// Opens (creating it if needed) and locks the head file in the directory open as `directoryFD`.
    init(directoryFD: Int32) throws {
        fd = try Posix.openat(directoryFD, Self.name, flags: O_RDWR | O_CREAT)
        do {
            try Posix.lockExclusive(fd)
        } catch {
            Posix.close(fd)
            throw error
        }
    }

    /// Reads both slots; remembers the newest generation so the next `write` goes to the other slot.
    mutating func load() throws -> Stored {
        var raw = [UInt8](repeating: 0, count: 2 * Self.slotSize)
        let size = try Posix.fileSize(fd)
        if size == 0 { return .missing }
        var got = 0
        try raw.withUnsafeMutableBytes { buffer in
            while got < buffer.count {
                let n = try Posix.pread(fd, buffer.baseAddress! + got, buffer.count - got, at: got)
                if n == 0 { break }
                got += n
            }
        }
        var best: (generation: UInt64, position: LogPosition)?
        raw.withUnsafeBytes { buffer in
            for slot in 0 ..< 2 where (slot + 1) * Self.slotSize <= got {
                let bytes = UnsafeRawBufferPointer(rebasing: buffer[(slot * Self.slotSize) ..< ((slot + 1) * Self.slotSize)])
                let p = bytes.baseAddress!
                let crc = UInt32(littleEndianBytesAt: p + 24)
                guard crc == CRC32C.checksum(UnsafeRawBufferPointer(rebasing: bytes[0 ..< 24])) else { continue }
                let generation = UInt64(littleEndian: p.loadUnaligned(as: UInt64.self))
                let segment = UInt64(littleEndian: p.loadUnaligned(fromByteOffset: 8, as: UInt64.self))
                let offset = UInt64(littleEndian: p.loadUnaligned(fromByteOffset: 16, as: UInt64.self))
                guard offset <= UInt64(Int.max), generation >= best?.generation ?? 0 else { continue }
                best = (generation, LogPosition(segment: segment, offset: Int(offset)))
            }
        }
        guard let best else { return .unreadable }
        generation = best.generation
        return .position(best.position)
    }

    /// Writes `position` into the slot not holding the newest one. Not flushed: the owner fdatasyncs
    /// `fd` when its policy says so.
    mutating func write(_ position: LogPosition) throws {
        let next = generation &+ 1
        try withUnsafeTemporaryAllocation(byteCount: Self.slotSize, alignment: 8) { slot in
            slot.storeBytes(of: next.littleEndian, toByteOffset: 0, as: UInt64.self)
            slot.storeBytes(of: position.segment.littleEndian, toByteOffset: 8, as: UInt64.self)
            slot.storeBytes(of: UInt64(position.offset).littleEndian, toByteOffset: 16, as: UInt64.self)
            let crc = CRC32C.checksum(UnsafeRawBufferPointer(rebasing: slot[0 ..< 24]))
            slot.storeBytes(of: crc.littleEndian, toByteOffset: 24, as: UInt32.self)
            slot.storeBytes(of: UInt32(0), toByteOffset: 28, as: UInt32.self)
            let at = Int(next % 2) * Self.slotSize
            var done = 0
            while done < Self.slotSize {
                let n = try Posix.pwrite(fd, slot.baseAddress! + done, Self.slotSize - done, at: at + done)
                if n == 0 { throw SystemError("pwrite", errno: ENOSPC) }
                done += n
            }
        }
        generation = next
    }
}
