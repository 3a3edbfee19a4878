import DataverketCore
import DataverketStore
import Foundation
import JWTKit
import SQLKit
import AsyncHTTPClient

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

/// Service accounts and their API keys.
extension Identitet {
    public func createServiceAccount(_ name: String, description: String?, by actor: String,
                                     audit: OperationContext? = nil) async throws -> ServiceAccount {
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
            try await Self.audit(session, audit, "service-account.create", id: "sa:\(name)", name: name)
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
    public func createAPIKey(account: String, lifetime: Duration, by actor: String,
                             audit: OperationContext? = nil) async throws -> (key: String, record: APIKey) {
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
            try await Self.audit(session, audit, "api-key.create", id: id, name: "sa:\(account)")
        }
        return (key, APIKey(id: id, account: account, createdAt: StoreTime.decode(now), expiresAt: StoreTime.decode(expires), revoked: false))
    }

    public func revokeAPIKey(_ id: String, audit: OperationContext? = nil) async throws {
        defer { forgetVerified() }
        try await database.transaction { session in
            let table = session.table("identity", "api_keys")
            guard try await session.first("SELECT id FROM \(table) WHERE id = \(bind: id)") != nil else {
                throw DataverketError.notFound("API key", id)
            }
            try await session.run("UPDATE \(table) SET revoked_at = \(bind: StoreTime.now()) WHERE id = \(bind: id) AND revoked_at IS NULL")
            try await Self.audit(session, audit, "api-key.revoke", id: id, name: nil)
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
}
