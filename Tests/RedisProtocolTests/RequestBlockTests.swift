import RedisProtocol
import Testing

@Suite("RequestBlock")
struct RequestBlockTests {
    func command(_ args: String...) -> [UInt8] {
        var frame = "*\(args.count)\r\n"
        for a in args { frame += "$\(a.utf8.count)\r\n\(a)\r\n" }
        return Array(frame.utf8)
    }

    func block(_ commands: [UInt8]...) -> [UInt8] {
        command("MULTI") + commands.flatMap { $0 } + command("EXEC")
    }

    @Test func singleCommandsGetOneReply() {
        for frame in [command("SET", "k", "v"), command("MULTI"), command("EXEC"), command("multix", "a"), [UInt8]()] {
            #expect(frame.withUnsafeBytes { RequestBlock.replyCount($0) } == 1)
            #expect(!frame.withUnsafeBytes { RequestBlock.isTransaction($0) })
        }
    }

    @Test func aBlockGetsOneReplyPerCommand() {
        let frame = block(command("SET", "k", "v"), command("INCR", "n"))
        #expect(frame.withUnsafeBytes { RequestBlock.isTransaction($0) })
        #expect(frame.withUnsafeBytes { RequestBlock.replyCount($0) } == 4)
        let lower = command("multi") + command("exec")
        #expect(lower.withUnsafeBytes { RequestBlock.replyCount($0) } == 2)
        let ranges = frame.withUnsafeBytes { RequestBlock.commands($0) }
        #expect(ranges?.count == 4)
        #expect(ranges.map { Array(frame[$0[1]]) } == command("SET", "k", "v"))
    }

    @Test func aTruncatedBlockIsNotSplit() {
        let frame = block(command("SET", "k", "v"))
        #expect(Array(frame.dropLast(3)).withUnsafeBytes { RequestBlock.commands($0) } == nil)
        #expect(Array(frame.dropLast(3)).withUnsafeBytes { RequestBlock.replyCount($0) } == 1)
    }

    @Test func aBlockIsSafeToRepeatOnlyWhenEveryCommandIs() {
        let safe = block(command("SET", "k", "v"), command("DEL", "x"))
        let unsafe = block(command("SET", "k", "v"), command("INCR", "n"))
        #expect(safe.withUnsafeBytes { ReplaySafety.isSafeToRepeat($0) })
        #expect(!unsafe.withUnsafeBytes { ReplaySafety.isSafeToRepeat($0) })
    }

    @Test func aBlockIsRepairedThroughTheKeysOfEveryCommand() {
        let frame = block(command("INCR", "n"), command("LPUSH", "l", "a"), command("INCR", "n"))
        #expect(frame.withUnsafeBytes { KeyRepair.keys(ofWrite: $0) } == [Array("n".utf8), Array("l".utf8)])
        let keyless = block(command("INCR", "n"), command("PUBLISH", "c", "m"))
        #expect(keyless.withUnsafeBytes { KeyRepair.keys(ofWrite: $0) } == nil)
    }
}
