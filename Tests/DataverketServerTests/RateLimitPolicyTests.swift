import DataverketCore
@testable import DataverketServer
import Testing

/// `DV_RATE_LIMITS`: an operator sets the buckets without rebuilding.
@Suite("Rate-limit settings")
struct RateLimitPolicyTests {
    @Test("classes named in the setting change; the others keep their defaults")
    func parses() throws {
        let policy = try RateLimitPolicy(parsing: " reads=2000/1000, writes=600/300.5 ,tenant-destructive=16")
        #expect(policy.reads == .init(burst: 2000, perSecond: 1000))
        #expect(policy.writes == .init(burst: 600, perSecond: 300.5))
        #expect(policy.concurrentDestructivePerTenant == 16)
        #expect(policy.destructive == RateLimitPolicy().destructive)
        #expect(policy.anonymous == RateLimitPolicy().anonymous)
        #expect(try RateLimitPolicy(parsing: "") == RateLimitPolicy())
    }

    @Test("malformed, out-of-range and unknown classes are refused with the setting named")
    func refuses() {
        for spec in ["reads", "reads=100", "reads=0/1", "reads=1/0", "reads=1/-2", "reads=x/1", "bogus=1/1", "tenant-destructive=0",
                     "tenant-destructive=many", "reads=99999999999/1"] {
            #expect(throws: DataverketError.self, "\(spec)") { try RateLimitPolicy(parsing: spec) }
            do {
                _ = try RateLimitPolicy(parsing: spec)
            } catch {
                #expect(error.message.contains("DV_RATE_LIMITS") && error.code == .invalidArgument, "\(error.message)")
            }
        }
    }
}
