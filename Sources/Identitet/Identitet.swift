import DataverketCore
import DataverketStore
import DataverketTasks
import Foundation
import JWTKit
import SQLKit
import Synchronization
import AsyncHTTPClient

/// Identitet: signs short-lived ES256 access tokens with keys sealed at rest, rotates them (old public keys
/// stay in the JWKS until their last token expired), issues opaque refresh tokens (hashed at rest, rotated
/// on use; reuse of a rotated one revokes the whole session), the one-time bootstrap credential, and role
/// bindings.
public actor Identitet {
    public nonisolated let issuer: String
    public nonisolated let audience = "dataverket"
    public nonisolated let accessTokenLifetime: Duration
    public nonisolated let refreshTokenLifetime: Duration
    let database: Database
    let masterKey: MasterKey
    /// The single sign-on provider device logins are verified by; `nil` when none is configured.
    nonisolated let upstream: UpstreamOIDC?
    public nonisolated let deviceCodeLifetime: Duration
    public nonisolated let devicePollInterval: Duration
    /// The time device logins are judged by (poll intervals, code expiry), in store microseconds: injected so tests
    /// advance it instead of sleeping on it.
    nonisolated let now: @Sendable () -> Int64

    var keys = JWTKeyCollection()
    var activeKID: String?
    var loadedKIDs: Set<String> = []
    /// Credentials verified in the last few seconds (a request then costs no store round trip and no hop onto this
    /// actor). Emptied on every revocation or binding change here; another instance sees such a change within the
    /// lifetime.
    nonisolated let verified = Mutex(VerificationCache())
    public nonisolated let verificationCacheLifetime: Duration = .seconds(5)
    static let verificationCacheSize = 10_000

    public init(database: Database, issuer: String, masterKey: MasterKey,
                accessTokenLifetime: Duration = .seconds(900), refreshTokenLifetime: Duration = .seconds(30 * 86_400),
                upstream: UpstreamIdentityProvider? = nil, httpClient: HTTPClient = .shared,
                deviceCodeLifetime: Duration = .seconds(600), devicePollInterval: Duration = .seconds(5),
                now: @escaping @Sendable () -> Int64 = StoreTime.now) {
        self.database = database
        self.masterKey = masterKey
        self.issuer = issuer
        self.accessTokenLifetime = accessTokenLifetime
        self.refreshTokenLifetime = refreshTokenLifetime
        self.upstream = upstream.map { UpstreamOIDC(configuration: $0, http: httpClient) }
        self.deviceCodeLifetime = deviceCodeLifetime
        self.devicePollInterval = devicePollInterval
        self.now = now
    }

    /// Writes the audit record of an identity change in the change's own transaction (`context` nil: no record,
    /// for internal callers such as tests and the bootstrap of a store).
    static func audit(_ session: Session, _ context: OperationContext?, _ action: String, kind: String = "identity", id: String,
                      name: String?) async throws {
        guard let context else { return }
        try await Audit.append(session, context: context, action: action, resource: ResourceRef(kind: kind, id: id, name: name),
                               tenantID: nil, projectID: nil, beforeVersion: nil, afterVersion: nil)
    }
}
