import DataverketCore
import DataverketStore
import Foundation
import JWTKit
import SQLKit
import AsyncHTTPClient

/// The one-time bootstrap credential of a fresh store.
extension Identitet {
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

    /// Exchanges the bootstrap credential, once, for a session of `user:admin`, bound `platform-admin`; the login
    /// is audited (as `user:admin`, under `audit`'s correlation) in the same transaction.
    public func exchangeBootstrap(_ token: String, audit: OperationContext? = nil) async throws -> SessionTokens {
        let digest = Secrets.digest(token)
        let subject = "user:admin"
        try await database.transaction { session in
            let table = session.table("identity", "bootstrap_credentials")
            guard let row = try await session.first("SELECT used_at FROM \(table) WHERE token_hash = \(bind: digest)"),
                  try row.decode(column: "used_at", as: Int64?.self) == nil
            else { throw Self.unauthenticated("not a valid bootstrap credential (each is good for one login)") }
            try await session.run("UPDATE \(table) SET used_at = \(bind: StoreTime.now()) WHERE token_hash = \(bind: digest)")
            try await Self.insertBinding(session, subject: subject, role: .platformAdmin, scopeKind: "platform", scopeID: "*", by: "bootstrap")
            try await Self.audit(session, audit.map { Self.loginContext($0, subject: subject) }, "identity.bootstrap", kind: "principal",
                                 id: subject, name: subject)
        }
        return try await issueSession(for: subject)
    }

    /// A login's audit context: the subject that logged in is its actor (there was none before it).
    static func loginContext(_ context: OperationContext, subject: String) -> OperationContext {
        var context = context
        context.actor = subject
        return context
    }
}
