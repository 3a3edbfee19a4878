import DataverketCore
import Foundation
import Synchronization

/// How many requests an actor may make per route class: a token bucket of `burst` tokens refilled at
/// `perSecond`.
public struct RateLimitPolicy: Sendable, Hashable {
    public struct Bucket: Sendable, Hashable {
        public var burst: Int
        public var perSecond: Double
        public init(burst: Int, perSecond: Double) {
            self.burst = burst
            self.perSecond = perSecond
        }
    }

    public var reads: Bucket
    public var writes: Bucket
    public var destructive: Bucket
    /// Calls without a credential (the token endpoints), per source address.
    public var anonymous: Bucket
    /// Destructive requests of one tenant in flight at once.
    public var concurrentDestructivePerTenant: Int

    public init(reads: Bucket = .init(burst: 200, perSecond: 100), writes: Bucket = .init(burst: 60, perSecond: 30),
                destructive: Bucket = .init(burst: 10, perSecond: 2), anonymous: Bucket = .init(burst: 20, perSecond: 5),
                concurrentDestructivePerTenant: Int = 4) {
        self.reads = reads
        self.writes = writes
        self.destructive = destructive
        self.anonymous = anonymous
        self.concurrentDestructivePerTenant = concurrentDestructivePerTenant
    }
}

extension RateLimitPolicy {
    /// The defaults with the classes named in `spec` changed: comma-separated `class=burst/perSecond` for the classes
    /// `reads`, `writes`, `destructive` (per caller) and `anonymous` (per source address), and
    /// `tenant-destructive=N` (destructive requests of one tenant in flight at once). `DV_RATE_LIMITS` on `serve`.
    /// Example: `reads=2000/1000,writes=600/300`.
    public init(parsing spec: String, base: RateLimitPolicy = RateLimitPolicy()) throws(DataverketError) {
        self = base
        for item in spec.split(separator: ",").map({ $0.trimmingCharacters(in: .whitespaces) }) where !item.isEmpty {
            let parts = item.split(separator: "=", maxSplits: 1).map(String.init)
            guard parts.count == 2 else {
                throw DataverketError.invalid("DV_RATE_LIMITS", "'\(item)' is not class=burst/perSecond (classes: reads, writes, destructive, anonymous; or tenant-destructive=N)")
            }
            if parts[0] == "tenant-destructive" {
                guard let count = Int(parts[1]), (1...1_000_000).contains(count) else {
                    throw DataverketError.invalid("DV_RATE_LIMITS", "tenant-destructive must be 1–1000000, got '\(parts[1])'")
                }
                concurrentDestructivePerTenant = count
                continue
            }
            let numbers = parts[1].split(separator: "/", maxSplits: 1)
            guard numbers.count == 2, let burst = Int(numbers[0]), let rate = Double(numbers[1]), (1...10_000_000).contains(burst),
                  rate > 0, rate <= 10_000_000 else {
                throw DataverketError.invalid("DV_RATE_LIMITS", "'\(item)': burst/perSecond must be two positive numbers up to 10000000, like 200/100")
            }
            let bucket = Bucket(burst: burst, perSecond: rate)
            switch parts[0] {
            case "reads": reads = bucket
            case "writes": writes = bucket
            case "destructive": destructive = bucket
            case "anonymous": anonymous = bucket
            default:
                throw DataverketError.invalid("DV_RATE_LIMITS", "unknown class '\(parts[0])' (reads, writes, destructive, anonymous, tenant-destructive)")
            }
        }
    }

    /// Limits no test or benchmark reaches (the limiter still runs): for load that is the point, not abuse.
    public static let loadTesting = RateLimitPolicy(
        reads: .init(burst: 1_000_000, perSecond: 1_000_000), writes: .init(burst: 1_000_000, perSecond: 1_000_000),
        destructive: .init(burst: 1_000_000, perSecond: 1_000_000), anonymous: .init(burst: 1_000_000, perSecond: 1_000_000),
        concurrentDestructivePerTenant: 1_000_000)
}

/// The route class of a request, for rate limiting.
enum RouteClass: String, Sendable {
    case reads, writes, destructive, anonymous
}

/// What the limiter decided for one request.
struct RateDecision: Sendable {
    var allowed: Bool
    var limit: Int
    var remaining: Int
    /// Seconds until the bucket is full again (`RateLimit-Reset`).
    var reset: Int
    /// Seconds until one token is back (`Retry-After` when refused).
    var retryAfter: Int
}

/// Token buckets per (actor, route class), and in-flight destructive requests per tenant, behind one lock that is
/// never held across a suspension (a decision is a few dictionary operations). Bounded: idle buckets are dropped when
/// the table grows past `maxBuckets`.
final class RateLimiter: Sendable {
    private struct Bucket {
        var tokens: Double
        var updated: ContinuousClock.Instant
    }

    private struct State {
        var buckets: [String: Bucket] = [:]
        var destructiveInFlight: [String: Int] = [:]
    }

    let policy: RateLimitPolicy
    let maxBuckets: Int
    private let state = Mutex(State())

    init(policy: RateLimitPolicy, maxBuckets: Int = 100_000) {
        self.policy = policy
        self.maxBuckets = maxBuckets
    }

    func take(_ actor: String, _ routeClass: RouteClass) -> RateDecision {
        let bucket = switch routeClass {
        case .reads: policy.reads
        case .writes: policy.writes
        case .destructive: policy.destructive
        case .anonymous: policy.anonymous
        }
        let key = "\(routeClass.rawValue)|\(actor)"
        let now = ContinuousClock.now
        let maxBuckets = self.maxBuckets
        let tokens = state.withLock { state -> (allowed: Bool, tokens: Double) in
            var current = state.buckets[key] ?? Bucket(tokens: Double(bucket.burst), updated: now)
            let elapsed = now - current.updated
            let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
            current.tokens = min(Double(bucket.burst), current.tokens + seconds * bucket.perSecond)
            current.updated = now
            let allowed = current.tokens >= 1
            if allowed { current.tokens -= 1 }
            if state.buckets[key] == nil, state.buckets.count >= maxBuckets {
                state.buckets = state.buckets.filter { _, bucket in now - bucket.updated < .seconds(600) }
            }
            state.buckets[key] = current
            return (allowed, current.tokens)
        }
        let missing = Double(bucket.burst) - tokens.tokens
        return RateDecision(allowed: tokens.allowed, limit: bucket.burst, remaining: Int(tokens.tokens),
                            reset: Int((missing / bucket.perSecond).rounded(.up)),
                            retryAfter: tokens.allowed ? 0 : max(1, Int(((1 - tokens.tokens) / bucket.perSecond).rounded(.up))))
    }

    /// Admits one more destructive request for `tenant`, or refuses it while the cap is reached.
    func beginDestructive(tenant: String) -> Bool {
        let cap = policy.concurrentDestructivePerTenant
        return state.withLock { state in
            let current = state.destructiveInFlight[tenant, default: 0]
            guard current < cap else { return false }
            state.destructiveInFlight[tenant] = current + 1
            return true
        }
    }

    func endDestructive(tenant: String) {
        state.withLock { state in
            let current = state.destructiveInFlight[tenant, default: 1] - 1
            state.destructiveInFlight[tenant] = current > 0 ? current : nil
        }
    }
}
