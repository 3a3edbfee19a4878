import DataverketCore
import DataverketStore
import Foundation
import JWTKit
import SQLKit
import AsyncHTTPClient

/// Who a request acts as, once its credential is verified.
public struct Principal: Sendable, Hashable {
    /// `user:<name>`, `sa:<name>` (service account) or `service:<name>`.
    public var subject: String
    /// The refresh-token family (session) the access token belongs to.
    public var session: String
    /// The groups the upstream identity provider put the user in at login (bindings of `group:<name>` are
    /// among `bindings`).
    public var groups: [String]
    public var bindings: [RoleBinding]

    public init(subject: String, session: String, groups: [String] = [], bindings: [RoleBinding]) {
        self.subject = subject
        self.session = session
        self.groups = groups
        self.bindings = bindings
    }

    /// Whether the principal holds `role` at platform scope.
    public func holds(_ role: Role) -> Bool {
        bindings.contains { $0.role == role.name && $0.scopeKind == "platform" }
    }
}

/// A platform role (DESIGN.md "Identity").
public struct Role: Hashable, Sendable, CustomStringConvertible {
    public let name: String
    private init(_ name: String) { self.name = name }
    public static let platformAdmin = Role("platform-admin")
    public static let `operator` = Role("operator")
    public static let tenantAdmin = Role("tenant-admin")
    public static let projectAdmin = Role("project-admin")
    public static let member = Role("member")
    public static let viewer = Role("viewer")
    public static let all: [Role] = [.platformAdmin, .operator, .tenantAdmin, .projectAdmin, .member, .viewer]
    public init?(named name: String) {
        guard let role = Self.all.first(where: { $0.name == name }) else { return nil }
        self = role
    }
    public var description: String { name }
}

/// A role held by a subject at a scope: `platform` (scope id `*`), `tenant` or `project` (their ids).
public struct RoleBinding: Sendable, Hashable, Codable {
    public var id: String
    public var subject: String
    public var role: String
    public var scopeKind: String
    public var scopeID: String
}

/// What a login or refresh returns: a short-lived signed access token and an opaque refresh token.
public struct SessionTokens: Sendable, Hashable, Codable {
    public var accessToken: String
    public var refreshToken: String
    /// Seconds until the access token expires.
    public var expiresIn: Int
    public var subject: String
}

/// A public signing key as published in the JWKS (RFC 7517, EC P-256).
public struct PublicJWK: Sendable, Hashable, Codable {
    public var kty = "EC"
    public var crv = "P-256"
    public var alg = "ES256"
    public var use = "sig"
    public var kid: String
    public var x: String
    public var y: String
}

/// The claims of Dataverket's access tokens.
struct AccessClaims: JWTPayload {
    var iss: IssuerClaim
    var sub: SubjectClaim
    var aud: AudienceClaim
    var exp: ExpirationClaim
    var iat: IssuedAtClaim
    var jti: IDClaim
    /// The session (refresh-token family): revoking it revokes its access tokens too.
    var sid: String
    /// Upstream groups from the login (single sign-on only); their role bindings apply to the subject.
    var groups: [String]? = nil

    func verify(using algorithm: some JWTAlgorithm) async throws {
        try exp.verifyNotExpired()
    }
}

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

    private var keys = JWTKeyCollection()
    private var activeKID: String?
    private var loadedKIDs: Set<String> = []
    /// Credentials verified in the last few seconds (a request then costs no store round trip). Emptied on
    /// every revocation or binding change here; another instance sees such a change within the lifetime.
    private var verified: [String: (principal: Principal, until: ContinuousClock.Instant)] = [:]
    public nonisolated let verificationCacheLifetime: Duration = .seconds(5)
    static let verificationCacheSize = 10_000

    public init(database: Database, issuer: String, masterKey: MasterKey,
                accessTokenLifetime: Duration = .seconds(900), refreshTokenLifetime: Duration = .seconds(30 * 86_400),
                upstream: UpstreamIdentityProvider? = nil, httpClient: HTTPClient = .shared,
                deviceCodeLifetime: Duration = .seconds(600), devicePollInterval: Duration = .seconds(5)) {
        self.database = database
        self.masterKey = masterKey
        self.issuer = issuer
        self.accessTokenLifetime = accessTokenLifetime
        self.refreshTokenLifetime = refreshTokenLifetime
        self.upstream = upstream.map { UpstreamOIDC(configuration: $0, http: httpClient) }
        self.deviceCodeLifetime = deviceCodeLifetime
        self.devicePollInterval = devicePollInterval
    }

    /// Applies Identitet's migrations (its own `identity` context).
    public nonisolated func migrate() async throws -> [String] {
        try await Migrator(database: database, migrations: IdentitySchema.migrations).migrate()
    }

    // MARK: signing keys

    /// Makes sure there is an active signing key (creating the first one) and loads the published keys.
    public func prepare() async throws {
        try await reloadKeys()
        if activeKID == nil {
            _ = try await rotateKeys()
        }
    }

    /// Retires the active key (it stays published until tokens it signed have expired) and activates a new one.
    @discardableResult
    public func rotateKeys() async throws -> String {
        let key = ES256PrivateKey()
        let kid = "es256-" + ULID.make().lowercased()
        let sealed = try masterKey.seal(Data(key.pemRepresentation.utf8))
        try await database.transaction { session in
            let now = StoreTime.now()
            try await session.run("""
                UPDATE \(session.table("identity", "signing_keys")) SET retired_at = \(bind: now) WHERE retired_at IS NULL
                """)
            try await session.run("""
                INSERT INTO \(session.table("identity", "signing_keys")) (kid, algorithm, sealed_private_key, created_at, retired_at)
                VALUES (\(bind: kid), 'ES256', \(bind: sealed), \(bind: now), NULL)
                """)
        }
        try await reloadKeys()
        return kid
    }

    /// The public keys that verify live tokens: the active one and those retired less than one access-token
    /// lifetime (plus a minute of clock skew) ago.
    public func jwks() async throws -> [PublicJWK] {
        try await publishedKeys().compactMap { kid, key, _ in
            guard let parameters = key.parameters else { return nil }
            return PublicJWK(kid: kid, x: parameters.x, y: parameters.y)
        }
    }

    private func publishedKeys() async throws -> [(String, ES256PrivateKey, Bool)] {
        let cutoff = StoreTime.now() - Int64((accessTokenLifetime + .seconds(60)).components.seconds) * 1_000_000
        let rows = try await database.read { session in
            try await session.all("""
                SELECT kid, sealed_private_key, retired_at FROM \(session.table("identity", "signing_keys"))
                WHERE retired_at IS NULL OR retired_at > \(bind: cutoff) ORDER BY created_at DESC
                """).map { row in
                (try row.decode(column: "kid", as: String.self), try row.decode(column: "sealed_private_key", as: String.self),
                 try row.decode(column: "retired_at", as: Int64?.self) == nil)
            }
        }
        return try rows.map { kid, sealed, active in
            (kid, try ES256PrivateKey(pem: String(decoding: try masterKey.open(sealed), as: UTF8.self)), active)
        }
    }

    private func reloadKeys() async throws {
        let published = try await publishedKeys()
        let collection = JWTKeyCollection()
        for (kid, key, _) in published {
            await collection.add(ecdsa: key, kid: JWKIdentifier(string: kid))
        }
        keys = collection
        activeKID = published.first { $0.2 }?.0
        loadedKIDs = Set(published.map(\.0))
    }

    // MARK: sessions

    /// Starts a session for `subject` (with the upstream `groups` of a single sign-on login): an access
    /// token and the first refresh token of a new family.
    public func issueSession(for subject: String, groups: [String] = []) async throws -> SessionTokens {
        let family = "ses_" + ULID.make()
        let refresh = try await storeRefreshToken(subject: subject, family: family, groups: groups)
        return try await tokens(subject: subject, family: family, groups: groups, refresh: refresh)
    }

    /// Exchanges a refresh token for new tokens. The old one is used up; presenting it again revokes the
    /// whole session (a stolen token and its thief's copies stop working).
    public func refresh(_ token: String) async throws -> SessionTokens {
        let digest = Secrets.digest(token)
        let now = StoreTime.now()
        let outcome: (subject: String, family: String, groups: [String], reused: Bool) = try await database.transaction { session in
            let table = session.table("identity", "refresh_tokens")
            guard let row = try await session.first("""
                SELECT id, family, subject, groups, expires_at, used_at, revoked_at FROM \(table) WHERE token_hash = \(bind: digest)
                """) else { throw Self.unauthenticated("unknown refresh token") }
            let family = try row.decode(column: "family", as: String.self)
            let subject = try row.decode(column: "subject", as: String.self)
            let groups = try Self.decodeList(try row.decode(column: "groups", as: String?.self))
            if try row.decode(column: "revoked_at", as: Int64?.self) != nil { throw Self.unauthenticated("the session was revoked") }
            if try row.decode(column: "expires_at", as: Int64.self) <= now { throw Self.unauthenticated("the refresh token expired") }
            if try row.decode(column: "used_at", as: Int64?.self) != nil {
                try await session.run("UPDATE \(table) SET revoked_at = \(bind: now) WHERE family = \(bind: family) AND revoked_at IS NULL")
                return (subject, family, groups, true)
            }
            try await session.run("UPDATE \(table) SET used_at = \(bind: now) WHERE id = \(bind: try row.decode(column: "id", as: String.self))")
            return (subject, family, groups, false)
        }
        if outcome.reused {
            forgetVerified()
            throw Self.unauthenticated("refresh token reused: the session is revoked; log in again")
        }
        let refresh = try await storeRefreshToken(subject: outcome.subject, family: outcome.family, groups: outcome.groups)
        return try await tokens(subject: outcome.subject, family: outcome.family, groups: outcome.groups, refresh: refresh)
    }

    /// Revokes the session a refresh token belongs to (logout). Unknown tokens are ignored (RFC 7009).
    public func revoke(refreshToken token: String) async throws {
        defer { forgetVerified() }
        let digest = Secrets.digest(token)
        try await database.transaction { session in
            let table = session.table("identity", "refresh_tokens")
            guard let row = try await session.first("SELECT family FROM \(table) WHERE token_hash = \(bind: digest)") else { return }
            let family = try row.decode(column: "family", as: String.self)
            try await session.run("UPDATE \(table) SET revoked_at = \(bind: StoreTime.now()) WHERE family = \(bind: family) AND revoked_at IS NULL")
        }
    }

    /// Verifies an access token (signature, issuer, audience, expiry, session not revoked) and returns who it is.
    public func authenticate(bearer token: String) async throws -> Principal {
        guard token.utf8.count <= 4096 else { throw Self.unauthenticated("the token is too long") }
        if loadedKIDs.isEmpty { try await reloadKeys() }
        let claims: AccessClaims
        do {
            claims = try await keys.verify(token, as: AccessClaims.self)
        } catch let error as JWTError where error.errorType == .unknownKID {
            // Perhaps another instance rotated: reload once.
            try await reloadKeys()
            claims = try await verifyOrExplain(token)
        } catch {
            throw Self.explain(error)
        }
        guard claims.iss.value == issuer else { throw Self.unauthenticated("the token was issued by \(claims.iss.value), not \(issuer)") }
        guard claims.aud.value.contains(audience) else { throw Self.unauthenticated("the token is not for \(audience)") }
        let family = claims.sid
        let subject = claims.sub.value
        let groups = claims.groups ?? []
        return try await database.read { session in
            let revoked = try await session.first("""
                SELECT 1 AS revoked FROM \(session.table("identity", "refresh_tokens"))
                WHERE family = \(bind: family) AND revoked_at IS NOT NULL LIMIT 1
                """)
            if revoked != nil { throw Self.unauthenticated("the session was revoked") }
            var bindings = try await Self.bindings(session, subject: subject)
            for group in groups { bindings += try await Self.bindings(session, subject: "group:" + group) }
            return Principal(subject: subject, session: family, groups: groups, bindings: bindings)
        }
    }

    private func verifyOrExplain(_ token: String) async throws -> AccessClaims {
        do {
            return try await keys.verify(token, as: AccessClaims.self)
        } catch {
            throw Self.explain(error)
        }
    }

    static func explain(_ error: any Error) -> DataverketError {
        if let error = error as? DataverketError { return error }
        if let jwt = error as? JWTError {
            switch jwt.errorType {
            case .claimVerificationFailure: return unauthenticated("the token expired", cause: error)
            case .signatureVerificationFailed, .unknownKID: return unauthenticated("the token's signature is not valid here", cause: error)
            default: return unauthenticated("the token is malformed", cause: error)
            }
        }
        return unauthenticated("the token is malformed", cause: error)
    }

    static func unauthenticated(_ message: String, cause: (any Error)? = nil) -> DataverketError {
        DataverketError(.unauthenticated, message, cause: cause)
    }

    private func storeRefreshToken(subject: String, family: String, groups: [String]) async throws -> String {
        let token = Secrets.make(prefix: "dvr_")
        let now = StoreTime.now()
        let expires = now + Int64(refreshTokenLifetime.components.seconds) * 1_000_000
        try await database.transaction { session in
            try await session.run("""
                INSERT INTO \(session.table("identity", "refresh_tokens"))
                    (id, family, token_hash, subject, groups, created_at, expires_at, used_at, revoked_at)
                VALUES (\(bind: "rt_" + ULID.make()), \(bind: family), \(bind: Secrets.digest(token)), \(bind: subject),
                    \(bind: groups.isEmpty ? nil : try Self.encode(groups)), \(bind: now), \(bind: expires), NULL, NULL)
                """)
        }
        return token
    }

    /// Signs arbitrary claims with the active key (tests craft wrong-audience and expired tokens with it).
    func sign(_ claims: AccessClaims) async throws -> String {
        if activeKID == nil { try await prepare() }
        guard let kid = activeKID else { throw DataverketError(.internal, "no active signing key") }
        return try await keys.sign(claims, kid: JWKIdentifier(string: kid))
    }

    private func tokens(subject: String, family: String, groups: [String], refresh: String) async throws -> SessionTokens {
        if activeKID == nil { try await prepare() }
        guard let kid = activeKID else { throw DataverketError(.internal, "no active signing key") }
        let now = Date()
        let lifetime = Int(accessTokenLifetime.components.seconds)
        let claims = AccessClaims(
            iss: .init(value: issuer), sub: .init(value: subject), aud: .init(value: [audience]),
            exp: .init(value: now.addingTimeInterval(TimeInterval(lifetime))), iat: .init(value: now),
            jti: .init(value: ULID.make()), sid: family, groups: groups.isEmpty ? nil : groups)
        let token = try await keys.sign(claims, kid: JWKIdentifier(string: kid))
        return SessionTokens(accessToken: token, refreshToken: refresh, expiresIn: lifetime, subject: subject)
    }

    // MARK: bootstrap

    /// On a store where nobody holds `platform-admin` and no bootstrap credential is outstanding: makes a
    /// one-time credential and returns it (the caller shows it once and writes it to a 0600 file).
    public func prepareBootstrap() async throws -> String? {
        let token = Secrets.make(prefix: "dvb_")
        return try await database.transaction { session in
            let admins = try await session.first("""
                SELECT 1 AS one FROM \(session.table("identity", "role_bindings")) WHERE role = 'platform-admin' LIMIT 1
                """)
            let outstanding = try await session.first("""
                SELECT 1 AS one FROM \(session.table("identity", "bootstrap_credentials")) WHERE used_at IS NULL LIMIT 1
                """)
            guard admins == nil, outstanding == nil else { return nil }
            try await session.run("""
                INSERT INTO \(session.table("identity", "bootstrap_credentials")) (token_hash, created_at, used_at)
                VALUES (\(bind: Secrets.digest(token)), \(bind: StoreTime.now()), NULL)
                """)
            return token
        }
    }

    /// Exchanges the bootstrap credential, once, for a session of `user:admin`, bound `platform-admin`.
    public func exchangeBootstrap(_ token: String) async throws -> SessionTokens {
        let digest = Secrets.digest(token)
        let subject = "user:admin"
        try await database.transaction { session in
            let table = session.table("identity", "bootstrap_credentials")
            guard let row = try await session.first("SELECT used_at FROM \(table) WHERE token_hash = \(bind: digest)"),
                  try row.decode(column: "used_at", as: Int64?.self) == nil
            else { throw Self.unauthenticated("not a valid bootstrap credential (each is good for one login)") }
            try await session.run("UPDATE \(table) SET used_at = \(bind: StoreTime.now()) WHERE token_hash = \(bind: digest)")
            try await Self.insertBinding(session, subject: subject, role: .platformAdmin, scopeKind: "platform", scopeID: "*", by: "bootstrap")
        }
        return try await issueSession(for: subject)
    }

    // MARK: role bindings

    /// Binds `role` to `subject` at a scope (idempotent).
    @discardableResult
    public func bind(_ subject: String, _ role: Role, scopeKind: String = "platform", scopeID: String = "*", by actor: String) async throws -> RoleBinding {
        try Self.validate(subject: subject, scopeKind: scopeKind, scopeID: scopeID)
        defer { forgetVerified() }
        return try await database.transaction { session in
            try await Self.insertBinding(session, subject: subject, role: role, scopeKind: scopeKind, scopeID: scopeID, by: actor)
            return try await Self.bindings(session, subject: subject).first { $0.role == role.name && $0.scopeKind == scopeKind && $0.scopeID == scopeID }!
        }
    }

    public func bindings(of subject: String) async throws -> [RoleBinding] {
        try await database.read { try await Self.bindings($0, subject: subject) }
    }

    /// Subjects are `user:`, `sa:`, `group:` or `service:` plus a name; scopes are `platform` (`*`), or
    /// `tenant`/`project` with an id.
    static func validate(subject: String, scopeKind: String, scopeID: String) throws {
        let parts = subject.split(separator: ":", maxSplits: 1)
        guard parts.count == 2, ["user", "sa", "group", "service"].contains(parts[0]), !parts[1].isEmpty, subject.utf8.count <= 128,
              parts[1].allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || "-_.@".contains($0)) })
        else {
            throw DataverketError(.invalidArgument, "subject must be user:NAME, sa:NAME, group:NAME or service:NAME, got '\(subject)'")
        }
        switch scopeKind {
        case "platform":
            guard scopeID == "*" else { throw DataverketError(.invalidArgument, "a platform binding has scope id '*'") }
        case "tenant", "project":
            guard !scopeID.isEmpty, scopeID.utf8.count <= 64, scopeID != "*" else {
                throw DataverketError(.invalidArgument, "a \(scopeKind) binding needs the \(scopeKind)'s id")
            }
        default:
            throw DataverketError(.invalidArgument, "scope must be platform, tenant or project, got '\(scopeKind)'")
        }
    }

    static func insertBinding(_ session: Session, subject: String, role: Role, scopeKind: String, scopeID: String, by actor: String) async throws {
        try await session.run("""
            INSERT INTO \(session.table("identity", "role_bindings")) (id, subject, role, scope_kind, scope_id, created_at, created_by)
            VALUES (\(bind: "rb_" + ULID.make()), \(bind: subject), \(bind: role.name), \(bind: scopeKind), \(bind: scopeID),
                \(bind: StoreTime.now()), \(bind: actor))
            ON CONFLICT (subject, role, scope_kind, scope_id) DO NOTHING
            """)
    }

    static func bindings(_ session: Session, subject: String) async throws -> [RoleBinding] {
        try await session.all("""
            SELECT id, subject, role, scope_kind, scope_id FROM \(session.table("identity", "role_bindings"))
            WHERE subject = \(bind: subject) ORDER BY id
            """).map { row in
            RoleBinding(id: try row.decode(column: "id", as: String.self), subject: try row.decode(column: "subject", as: String.self),
                        role: try row.decode(column: "role", as: String.self), scopeKind: try row.decode(column: "scope_kind", as: String.self),
                        scopeID: try row.decode(column: "scope_id", as: String.self))
        }
    }
}

// MARK: - service accounts and API keys

/// A non-human principal (`sa:<name>`) that authenticates with API keys.
public struct ServiceAccount: Sendable, Hashable, Codable {
    public var name: String
    public var description: String?
    public var createdAt: Date
    public var subject: String { "sa:\(name)" }
}

/// An API key as listed (never the key itself: that is shown once, when created).
public struct APIKey: Sendable, Hashable, Codable {
    public var id: String
    public var account: String
    public var createdAt: Date
    public var expiresAt: Date
    public var revoked: Bool
}

extension Identitet {
    public func createServiceAccount(_ name: String, description: String?, by actor: String) async throws -> ServiceAccount {
        try Validation.checkName(name, field: "name")
        try Validation.checkText(description, field: "description", max: 1024)
        let now = StoreTime.now()
        try await database.transaction { session in
            let table = session.table("identity", "service_accounts")
            if try await session.first("SELECT name FROM \(table) WHERE name = \(bind: name)") != nil {
                throw DataverketError(.alreadyExists, "service account \(name) already exists")
            }
            try await session.run("""
                INSERT INTO \(table) (name, description, created_at, created_by)
                VALUES (\(bind: name), \(bind: description), \(bind: now), \(bind: actor))
                """)
        }
        return ServiceAccount(name: name, description: description, createdAt: StoreTime.decode(now))
    }

    public func serviceAccounts() async throws -> [ServiceAccount] {
        try await database.read { session in
            try await session.all("""
                SELECT name, description, created_at FROM \(session.table("identity", "service_accounts")) ORDER BY name
                """).map { row in
                ServiceAccount(name: try row.decode(column: "name", as: String.self),
                               description: try row.decode(column: "description", as: String?.self),
                               createdAt: StoreTime.decode(try row.decode(column: "created_at", as: Int64.self)))
            }
        }
    }

    /// Creates an API key for a service account, valid for `lifetime`; returns it once (`dvk_…`) — only its
    /// digest is stored.
    public func createAPIKey(account: String, lifetime: Duration, by actor: String) async throws -> (key: String, record: APIKey) {
        guard lifetime >= .seconds(60), lifetime <= .seconds(366 * 86_400) else {
            throw DataverketError(.invalidArgument, "an API key lives from 1 minute to 366 days")
        }
        let key = Secrets.make(prefix: "dvk_")
        let now = StoreTime.now()
        let expires = now + Int64(lifetime.components.seconds) * 1_000_000
        let id = "key_" + ULID.make()
        try await database.transaction { session in
            guard try await session.first("""
                SELECT name FROM \(session.table("identity", "service_accounts")) WHERE name = \(bind: account)
                """) != nil else { throw DataverketError.notFound("service account", account) }
            try await session.run("""
                INSERT INTO \(session.table("identity", "api_keys")) (id, account, key_hash, created_at, expires_at, revoked_at, created_by)
                VALUES (\(bind: id), \(bind: account), \(bind: Secrets.digest(key)), \(bind: now), \(bind: expires), NULL, \(bind: actor))
                """)
        }
        return (key, APIKey(id: id, account: account, createdAt: StoreTime.decode(now), expiresAt: StoreTime.decode(expires), revoked: false))
    }

    public func revokeAPIKey(_ id: String) async throws {
        defer { forgetVerified() }
        try await database.transaction { session in
            let table = session.table("identity", "api_keys")
            guard try await session.first("SELECT id FROM \(table) WHERE id = \(bind: id)") != nil else {
                throw DataverketError.notFound("API key", id)
            }
            try await session.run("UPDATE \(table) SET revoked_at = \(bind: StoreTime.now()) WHERE id = \(bind: id) AND revoked_at IS NULL")
        }
    }

    /// Verifies an API key: known, not expired, not revoked; its service account's bindings.
    func authenticate(apiKey key: String) async throws -> Principal {
        let digest = Secrets.digest(key)
        return try await database.read { session in
            guard let row = try await session.first("""
                SELECT id, account, expires_at, revoked_at FROM \(session.table("identity", "api_keys")) WHERE key_hash = \(bind: digest)
                """) else { throw Self.unauthenticated("unknown API key") }
            if try row.decode(column: "revoked_at", as: Int64?.self) != nil { throw Self.unauthenticated("the API key was revoked") }
            if try row.decode(column: "expires_at", as: Int64.self) <= StoreTime.now() { throw Self.unauthenticated("the API key expired") }
            let subject = "sa:" + (try row.decode(column: "account", as: String.self))
            return Principal(subject: subject, session: try row.decode(column: "id", as: String.self),
                             bindings: try await Self.bindings(session, subject: subject))
        }
    }

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

    /// All bindings (optionally of one subject), for `dvid role list`.
    public func allBindings(subject: String? = nil) async throws -> [RoleBinding] {
        try await database.read { session in
            var query: SQLQueryString = "SELECT id, subject, role, scope_kind, scope_id FROM \(session.table("identity", "role_bindings"))"
            if let subject {
                query.appendInterpolation(unsafeRaw: " WHERE subject = ")
                query.appendInterpolation(bind: subject)
            }
            query.appendInterpolation(unsafeRaw: " ORDER BY subject, role, id")
            return try await session.all(query).map { row in
                RoleBinding(id: try row.decode(column: "id", as: String.self), subject: try row.decode(column: "subject", as: String.self),
                            role: try row.decode(column: "role", as: String.self), scopeKind: try row.decode(column: "scope_kind", as: String.self),
                            scopeID: try row.decode(column: "scope_id", as: String.self))
            }
        }
    }

    /// Removes a binding. The last platform-admin binding cannot be removed (nobody could administer the platform).
    public func unbind(_ id: String) async throws {
        defer { forgetVerified() }
        try await database.transaction { session in
            let table = session.table("identity", "role_bindings")
            guard let row = try await session.first("SELECT role, scope_kind FROM \(table) WHERE id = \(bind: id)") else {
                throw DataverketError.notFound("role binding", id)
            }
            if try row.decode(column: "role", as: String.self) == Role.platformAdmin.name,
               try row.decode(column: "scope_kind", as: String.self) == "platform" {
                let admins = try await session.all("""
                    SELECT id FROM \(table) WHERE role = 'platform-admin' AND scope_kind = 'platform'
                    """).count
                if admins <= 1 { throw DataverketError(.conflict, "\(id) is the last platform-admin binding; bind another admin first") }
            }
            try await session.run("DELETE FROM \(table) WHERE id = \(bind: id)")
        }
    }
}
