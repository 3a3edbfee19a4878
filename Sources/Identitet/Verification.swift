import DataverketCore
import DataverketStore
import Foundation
import JWTKit
import SQLKit
import AsyncHTTPClient

/// The verification of any presented credential, with a short-lived cache of recent verifications.
extension Identitet {
    /// Verifies whatever the caller presented: an API key (`dvk_…`) or an access token.
    public func authenticate(credential: String) async throws -> Principal {
        let now = ContinuousClock.now
        if let hit = verified[credential], hit.until > now { return hit.principal }
        let principal = credential.hasPrefix("dvk_") ? try await authenticate(apiKey: credential) : try await authenticate(bearer: credential)
        if verified.count >= Self.verificationCacheSize { verified.removeAll(keepingCapacity: true) }
        verified[credential] = (principal, now.advanced(by: verificationCacheLifetime))
        return principal
    }

    /// Forgets every cached verification (after a revocation or a change of bindings).
    func forgetVerified() {
        verified.removeAll(keepingCapacity: true)
    }
}
