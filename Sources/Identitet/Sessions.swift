import DataverketCore
import DataverketStore
import Foundation
import JWTKit
import SQLKit
import AsyncHTTPClient

/// Sessions: access tokens, rotating refresh-token families, bearer verification.
extension Identitet {
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

    func verifyOrExplain(_ token: String) async throws -> AccessClaims {
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

    func storeRefreshToken(subject: String, family: String, groups: [String]) async throws -> String {
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

    func tokens(subject: String, family: String, groups: [String], refresh: String) async throws -> SessionTokens {
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
}
