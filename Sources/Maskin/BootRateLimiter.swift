import Foundation

/// A token bucket per source address; bounded (quiet addresses are dropped).
public actor BootRateLimiter {
    private struct Bucket { var tokens: Double; var at: ContinuousClock.Instant }
    private let burst: Double
    private let perSecond: Double
    private var buckets: [String: Bucket] = [:]
    private let clock = ContinuousClock()

    public init(burst: Int, perSecond: Double) {
        self.burst = Double(max(1, burst))
        self.perSecond = max(0.001, perSecond)
    }

    public func take(_ address: String) -> Bool {
        let now = clock.now
        if buckets.count > 10_000 { buckets = buckets.filter { now - $0.value.at < .seconds(60) } }
        var bucket = buckets[address] ?? Bucket(tokens: burst, at: now)
        let elapsed = now - bucket.at
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        bucket.tokens = min(burst, bucket.tokens + seconds * perSecond)
        bucket.at = now
        guard bucket.tokens >= 1 else {
            buckets[address] = bucket
            return false
        }
        bucket.tokens -= 1
        buckets[address] = bucket
        return true
    }
}
