import DataverketCore
import DataverketStore
import Foundation
import SQLKit

/// A started device login (RFC 8628): the CLI shows the user code and the verification URI, and polls the
/// token endpoint with the device code.
public struct DeviceAuthorization: Sendable, Hashable {
    public var deviceCode: String
    public var userCode: String
    public var verificationURI: String
    public var verificationURIComplete: String
    public var expiresIn: Int
    public var interval: Int
}

/// Device login, RFC 8628, with the verification federated to the upstream provider:
///
/// 1. `startDeviceAuthorization` — a device code (secret, polled with) and a short user code (typed or
///    clicked by the person) that expire after `deviceCodeLifetime`.
/// 2. The person opens the verification page on Identitet, confirms the code, and is sent to the upstream
///    provider (`beginDeviceVerification`: authorization code + PKCE + nonce, a fresh state per attempt).
/// 3. The provider redirects back (`completeDeviceVerification`): Identitet exchanges the code, verifies the
///    ID token and approves the device authorization for the mapped user and groups.
/// 4. The CLI's next poll (`pollDeviceAuthorization`) gets the session — once.
extension Identitet {
    static let userCodeAlphabet = Array("BCDFGHJKLMNPQRSTVWXZ")

    public var deviceVerificationURI: String { issuer + "/v1/identity/device/verify" }
    public var deviceCallbackURI: String { issuer + "/v1/identity/device/callback" }
    public nonisolated var acceptsDeviceLogin: Bool { upstream != nil }

    private func requireUpstream() throws -> UpstreamOIDC {
        guard let upstream else {
            throw DataverketError(.notConfigured, "single sign-on is not configured on this server (DV_OIDC_ISSUER and DV_OIDC_CLIENT_ID); "
                                  + "log in with a bootstrap credential or an API key")
        }
        return upstream
    }

    public func startDeviceAuthorization(sourceAddress: String?) async throws -> DeviceAuthorization {
        _ = try requireUpstream()
        let deviceCode = Secrets.make(prefix: "dvd_")
        let now = self.now()
        let expires = now + Int64(deviceCodeLifetime.components.seconds) * 1_000_000
        let interval = Int(devicePollInterval.components.seconds)
        for attempt in 1...3 {
            let userCode = Self.makeUserCode()
            do {
                try await database.transaction { session in
                    let table = session.table("identity", "device_authorizations")
                    // Codes a day past their expiry are of no more use, even for the audit trail.
                    try await session.run("DELETE FROM \(table) WHERE expires_at < \(bind: now - 86_400_000_000)")
                    try await session.run("""
                        INSERT INTO \(table) (device_code_hash, user_code, status, poll_interval, client_address, created_at, expires_at)
                        VALUES (\(bind: Secrets.digest(deviceCode)), \(bind: userCode), 'pending', \(bind: interval), \(bind: sourceAddress),
                            \(bind: now), \(bind: expires))
                        """)
                }
            } catch where StoreErrors.isUniqueViolation(error) && attempt < 3 {
                continue
            }
            let display = Self.display(userCode)
            return DeviceAuthorization(
                deviceCode: deviceCode, userCode: display, verificationURI: deviceVerificationURI,
                verificationURIComplete: deviceVerificationURI + "?user_code=" + display,
                expiresIn: Int(deviceCodeLifetime.components.seconds), interval: interval)
        }
        throw DataverketError(.internal, "could not draw a unique user code")
    }

    /// The pending login a user code names (for the verification page); the code as displayed.
    public func pendingDeviceAuthorization(userCode: String) async throws -> String {
        let code = try Self.normalize(userCode: userCode)
        _ = try await pendingRow(code)
        return Self.display(code)
    }

    /// Starts the upstream login for a user code: returns where to send the browser.
    public func beginDeviceVerification(userCode: String) async throws -> String {
        let upstream = try requireUpstream()
        let code = try Self.normalize(userCode: userCode)
        try await pendingRow(code)
        let state = Secrets.make(prefix: "")
        let nonce = Secrets.make(prefix: "")
        let verifier = Secrets.make(prefix: "")
        let url = try await upstream.authorizationURL(redirectURI: deviceCallbackURI, state: state, nonce: nonce, codeVerifier: verifier)
        let sealed = try masterKey.seal(Data(verifier.utf8))
        try await database.transaction { session in
            _ = try await self.pendingRow(code, in: session)
            // A new attempt replaces the previous one: only the latest state is accepted on the way back.
            try await session.run("""
                UPDATE \(session.table("identity", "device_authorizations"))
                SET state_hash = \(bind: Secrets.digest(state)), nonce = \(bind: nonce), sealed_verifier = \(bind: sealed)
                WHERE user_code = \(bind: code)
                """)
        }
        return url
    }

    /// Finishes the upstream login the provider redirected back with; returns the user it approved.
    public func completeDeviceVerification(code: String?, state: String, error upstreamError: String?,
                                           errorDescription: String?) async throws -> UpstreamIdentity {
        let upstream = try requireUpstream()
        let refusal = upstreamError.map { error in
            DataverketError(.accessDenied, "the identity provider refused the login: \(String(error.prefix(64)))"
                            + (errorDescription.map { " (\(String($0.prefix(200))))" } ?? ""))
        }
        guard !state.isEmpty, state.utf8.count <= 128 else {
            // Some providers leave the state off error responses: then the login cannot be found, only refused.
            if let refusal { throw refusal }
            throw DataverketError(.invalidArgument, "the callback has no valid state")
        }
        let stateHash = Secrets.digest(state)
        let pending = try await database.read { session -> (nonce: String, verifier: String, expires: Int64)? in
            guard let row = try await session.first("""
                SELECT nonce, sealed_verifier, expires_at, status FROM \(session.table("identity", "device_authorizations"))
                WHERE state_hash = \(bind: stateHash)
                """) else { return nil }
            guard try row.decode(column: "status", as: String.self) == "pending" else {
                throw DataverketError(.conflict, "this login was already completed; return to your terminal")
            }
            return (try row.decode(column: "nonce", as: String.self), try row.decode(column: "sealed_verifier", as: String.self),
                    try row.decode(column: "expires_at", as: Int64.self))
        }
        guard let pending else {
            throw DataverketError(.notFound, "this sign-in link is not (or no longer) valid; open the verification link again")
        }
        guard pending.expires > self.now() else { throw DataverketError(.expiredToken, "the login code expired; run `dvid login` again") }
        let outcome: Result<UpstreamIdentity, DataverketError>
        if let refusal {
            outcome = .failure(refusal)
        } else if let code, !code.isEmpty, code.utf8.count <= 2048 {
            do {
                let verifier = String(decoding: try masterKey.open(pending.verifier), as: UTF8.self)
                let idToken = try await upstream.exchange(code: code, redirectURI: deviceCallbackURI, codeVerifier: verifier)
                outcome = .success(try await upstream.verify(idToken: idToken, nonce: pending.nonce))
            } catch let error as DataverketError where error.code == .accessDenied {
                outcome = .failure(error)
            }
        } else {
            throw DataverketError(.invalidArgument, "the callback has no authorization code")
        }
        let now = self.now()
        let issuer = upstream.configuration.issuer
        try await database.transaction { session in
            let table = session.table("identity", "device_authorizations")
            let updated: Int
            switch outcome {
            case .success(let identity):
                let groups = try Self.encode(identity.groups)
                updated = try await session.affected("""
                    UPDATE \(table) SET status = 'approved', subject = \(bind: identity.subject), groups = \(bind: groups), state_hash = NULL
                    WHERE state_hash = \(bind: stateHash) AND status = 'pending' RETURNING device_code_hash
                    """)
                if updated == 1 {
                    try await session.run("""
                        INSERT INTO \(session.table("identity", "users"))
                            (subject, issuer, upstream_subject, email, name, groups, first_login_at, last_login_at)
                        VALUES (\(bind: identity.subject), \(bind: issuer), \(bind: identity.upstreamSubject), \(bind: identity.email),
                            \(bind: identity.name), \(bind: groups), \(bind: now), \(bind: now))
                        ON CONFLICT (subject) DO UPDATE SET issuer = excluded.issuer, upstream_subject = excluded.upstream_subject,
                            email = excluded.email, name = excluded.name, groups = excluded.groups, last_login_at = excluded.last_login_at
                        """)
                }
            case .failure(let error):
                updated = try await session.affected("""
                    UPDATE \(table) SET status = 'denied', reason = \(bind: String(error.message.prefix(500))), state_hash = NULL
                    WHERE state_hash = \(bind: stateHash) AND status = 'pending' RETURNING device_code_hash
                    """)
            }
            guard updated == 1 else { throw DataverketError(.conflict, "this login was already completed; return to your terminal") }
        }
        return try outcome.get()
    }

    /// The CLI's poll: `authorization-pending` until the person finished, `slow-down` when polled faster
    /// than the interval, `access-denied` with the reason, `expired-token` when expired or already used, and
    /// the session exactly once.
    /// The login is audited (as the subject that logged in, under `audit`'s correlation) in the transaction that
    /// consumes the code.
    public func pollDeviceAuthorization(deviceCode: String, audit: OperationContext? = nil) async throws -> SessionTokens {
        let digest = Secrets.digest(deviceCode)
        let now = self.now()
        let outcome: PollOutcome = try await database.transaction { session in
            let table = session.table("identity", "device_authorizations")
            guard let row = try await session.first("""
                SELECT status, subject, groups, reason, poll_interval, last_polled_at, expires_at FROM \(table)
                WHERE device_code_hash = \(bind: digest)
                """) else { throw DataverketError(.expiredToken, "unknown device code; run `dvid login` again") }
            let status = try row.decode(column: "status", as: String.self)
            if status == "consumed" { throw DataverketError(.expiredToken, "this device code was already used; run `dvid login` again") }
            if try row.decode(column: "expires_at", as: Int64.self) <= now {
                throw DataverketError(.expiredToken, "the login code expired before it was approved; run `dvid login` again")
            }
            let interval = try row.decode(column: "poll_interval", as: Int64.self)
            if let last = try row.decode(column: "last_polled_at", as: Int64?.self), now - last < interval * 1_000_000 - 250_000 {
                // RFC 8628 §3.5: every slow_down adds 5 seconds to the interval.
                try await session.run("""
                    UPDATE \(table) SET poll_interval = \(bind: interval + 5), last_polled_at = \(bind: now) WHERE device_code_hash = \(bind: digest)
                    """)
                return .slowDown(seconds: interval + 5)
            }
            switch status {
            case "approved":
                try await session.run("""
                    UPDATE \(table) SET status = 'consumed', last_polled_at = \(bind: now) WHERE device_code_hash = \(bind: digest)
                    """)
                let subject = try row.decode(column: "subject", as: String.self)
                try await Self.audit(session, audit.map { Self.loginContext($0, subject: subject) }, "identity.login", kind: "principal",
                                     id: subject, name: subject)
                return .approved(subject: subject, groups: try Self.decodeList(try row.decode(column: "groups", as: String?.self)))
            case "denied":
                throw DataverketError(.accessDenied, try row.decode(column: "reason", as: String?.self) ?? "the login was refused")
            default:
                try await session.run("UPDATE \(table) SET last_polled_at = \(bind: now) WHERE device_code_hash = \(bind: digest)")
                return .pending
            }
        }
        switch outcome {
        case .pending: throw DataverketError(.authorizationPending, "waiting for the login to be approved in the browser")
        case .slowDown(let seconds): throw DataverketError(.slowDown, "polling too fast: wait \(seconds) seconds between polls")
        case .approved(let subject, let groups): return try await issueSession(for: subject, groups: groups)
        }
    }

    private enum PollOutcome: Sendable {
        case pending
        case slowDown(seconds: Int64)
        case approved(subject: String, groups: [String])
    }

    private func pendingRow(_ userCode: String) async throws {
        try await database.read { session in try await self.pendingRow(userCode, in: session) }
    }

    private nonisolated func pendingRow(_ userCode: String, in session: Session) async throws {
        guard let row = try await session.first("""
            SELECT status, expires_at FROM \(session.table("identity", "device_authorizations")) WHERE user_code = \(bind: userCode)
            """) else { throw DataverketError(.notFound, "no login is waiting for code \(Self.display(userCode)); check the code in your terminal") }
        guard try row.decode(column: "expires_at", as: Int64.self) > self.now() else {
            throw DataverketError(.expiredToken, "code \(Self.display(userCode)) expired; run `dvid login` again")
        }
        guard try row.decode(column: "status", as: String.self) == "pending" else {
            throw DataverketError(.conflict, "code \(Self.display(userCode)) was already used")
        }
    }

    /// Eight letters from an alphabet without vowels (no words) or look-alikes: 20^8 ≈ 2.6·10¹⁰ codes,
    /// guessed only at the per-address rate limit of the verification endpoints.
    static func makeUserCode() -> String {
        var generator = SystemRandomNumberGenerator()
        return String((0..<8).map { _ in userCodeAlphabet.randomElement(using: &generator)! })
    }

    static func display(_ code: String) -> String {
        code.count == 8 ? String(code.prefix(4)) + "-" + String(code.suffix(4)) : code
    }

    /// Accepts what people type: any case, with or without the dash or spaces.
    static func normalize(userCode: String) throws -> String {
        let code = userCode.uppercased().filter { $0 != "-" && $0 != " " }
        guard code.count == 8, code.allSatisfy({ userCodeAlphabet.contains($0) }) else {
            throw DataverketError(.invalidArgument, "a login code is eight letters, like BCDF-GHJK")
        }
        return code
    }

    static func encode(_ list: [String]) throws -> String {
        String(decoding: try JSONEncoder().encode(list), as: UTF8.self)
    }

    static func decodeList(_ text: String?) throws -> [String] {
        guard let text, !text.isEmpty else { return [] }
        return try JSONDecoder().decode([String].self, from: Data(text.utf8))
    }
}
