import Foundation
import Testing

import DurableLog

/// `open()`, retried for a second while it fails: a log reopened while another test spawns a server
/// can find its head file still locked, since a child between fork and exec holds a copy of every
/// descriptor for a moment.
func reopening<T>(_ open: () throws -> T) throws -> T {
    for _ in 0 ..< 200 {
        if let value = try? open() { return value }
        usleep(5_000)
    }
    return try open()
}

/// A fresh directory under /tmp for one test, removed afterwards.
func withTemporaryDirectory<T>(_ body: (String) throws -> T) throws -> T {
    let path = "/tmp/durablelog-test-\(UUID().uuidString)"
    try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(atPath: path) }
    return try body(path)
}

/// Record `i`'s payload: its length varies with `i` (0 ..< 211 bytes) unless given, its bytes too.
func payload(_ i: Int, size: Int? = nil) -> [UInt8] {
    let count = size ?? (i &* 37) % 211
    return (0 ..< count).map { UInt8(truncatingIfNeeded: i &* 31 &+ $0 &* 7) }
}

func segmentName(_ number: Int) -> String {
    String(format: "%020d.seg", number)
}

func listing(_ directory: String) throws -> [String] {
    try FileManager.default.contentsOfDirectory(atPath: directory).sorted()
}

func segmentFiles(_ directory: String) throws -> [String] {
    try listing(directory).filter { $0.hasSuffix(".seg") }
}

func fileSize(_ path: String) throws -> Int {
    (try FileManager.default.attributesOfItem(atPath: path)[.size] as? NSNumber)?.intValue ?? -1
}

/// Bytes of all segment files together.
func segmentBytesOnDisk(_ directory: String) throws -> Int {
    try segmentFiles(directory).reduce(0) { $0 + (try fileSize(directory + "/" + $1)) }
}

/// Pops everything left, in order.
func drain(_ log: SegmentLog) throws -> [[UInt8]] {
    var out: [[UInt8]] = []
    while let record = try log.popFirst() { out.append(record) }
    return out
}

func appendAll(_ log: SegmentLog, _ range: Range<Int>, size: Int? = nil) throws {
    for i in range {
        guard try log.append(payload(i, size: size)) else { throw TestFailure("append \(i) refused") }
    }
}

func flipByte(in path: String, at offset: Int) throws {
    var data = try Data(contentsOf: URL(fileURLWithPath: path))
    data[offset] ^= 0x5A
    try data.write(to: URL(fileURLWithPath: path))
}

func truncateFile(_ path: String, by count: Int) throws {
    let handle = try #require(FileHandle(forWritingAtPath: path))
    defer { try? handle.close() }
    try handle.truncate(atOffset: UInt64(try fileSize(path) - count))
}

func appendBytes(_ bytes: [UInt8], to path: String) throws {
    let handle = try #require(FileHandle(forWritingAtPath: path))
    defer { try? handle.close() }
    try handle.seekToEnd()
    try handle.write(contentsOf: Data(bytes))
}

struct TestFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
