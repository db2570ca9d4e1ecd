/// Lets through at most `perSecond` events per second (for log lines on hot failure paths).
struct RateLimit {
    let perSecond: Int
    private var windowStart: UInt64 = 0
    private var count = 0

    init(perSecond: Int) {
        self.perSecond = perSecond
    }

    mutating func allow(now: UInt64) -> Bool {
        if now &- windowStart >= 1_000_000_000 {
            windowStart = now
            count = 0
        }
        count += 1
        return count <= perSecond
    }
}
