import DataverketCore
import Foundation

/// Credentials verified recently, and a generation that every revocation or binding change advances: a
/// verification that started before such a change is not remembered after it.
struct VerificationCache: Sendable {
    var entries: [String: (principal: Principal, until: ContinuousClock.Instant)] = [:]
    var generation: UInt64 = 0
}

extension Identitet {
    /// The principal a credential stands for: an API key (`dvk_…`) or an access token. A credential verified in the
    /// last `verificationCacheLifetime` is answered from memory without touching the actor; otherwise it is verified
    /// (signature, issuer, audience, revocation, bindings) and remembered.
    public nonisolated func authenticate(credential: String) async throws -> Principal {
        let now = ContinuousClock.now
        let (hit, generation) = verified.withLock { cache -> (Principal?, UInt64) in
            if let hit = cache.entries[credential], hit.until > now { return (hit.principal, cache.generation) }
            return (nil, cache.generation)
        }
        if let hit { return hit }
        let principal = credential.hasPrefix("dvk_") ? try await authenticate(apiKey: credential) : try await authenticate(bearer: credential)
        let until = now.advanced(by: verificationCacheLifetime)
        verified.withLock { cache in
            // A revocation or binding change while this one was verified: do not remember what it may have undone.
            guard cache.generation == generation else { return }
            if cache.entries.count >= Self.verificationCacheSize { cache.entries.removeAll(keepingCapacity: true) }
            cache.entries[credential] = (principal, until)
        }
        return principal
    }

    /// Forgets every cached verification (after a revocation or a change of bindings).
    nonisolated func forgetVerified() {
        verified.withLock { cache in
            cache.entries.removeAll(keepingCapacity: true)
            cache.generation &+= 1
        }
    }
}
