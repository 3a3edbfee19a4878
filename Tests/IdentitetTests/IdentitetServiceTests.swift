import DataverketCore
import DataverketStore
import DataverketTasks
import DataverketTestSupport
import Foundation
@testable import Identitet
import SQLKit
import Testing

typealias Backend = TestBackend

/// Runs `body` with a fresh database holding the task engine's schemas (the audit log) and Identitet's, on `backend`.
func withIdentityStore<T: Sendable>(_ backend: Backend, _ body: @Sendable (Database) async throws -> T) async throws -> T {
    try await withTemporaryDatabase(backend, label: "dvidentity", migrations: TaskEngine.migrations + IdentitySchema.migrations, body)
}

/// Identitet below HTTP, on both engines: bootstrap, sessions, key rotation, audits in the change's transaction.
@Suite("Identitet (service level)")
struct IdentitetServiceTests {
    @Test("bootstrap: one credential on a fresh store, exchanged once for a platform-admin session", arguments: Backend.allCases)
    func bootstrap(_ backend: Backend) async throws {
        try await withIdentityStore(backend) { database in
            let identity = Identitet(database: database, issuer: testIssuer, masterKey: .random())
            let credential = try #require(try await identity.prepareBootstrap())
            #expect(try await identity.prepareBootstrap() == nil, "one outstanding credential at a time")
            await #expect(throws: DataverketError.self) { try await identity.exchangeBootstrap(credential + "x") }
            let session = try await identity.exchangeBootstrap(credential)
            #expect(session.subject == "user:admin")
            let principal = try await identity.authenticate(bearer: session.accessToken)
            #expect(principal.holds(.platformAdmin))
            await #expect(throws: DataverketError.self) { try await identity.exchangeBootstrap(credential) }
            #expect(try await identity.prepareBootstrap() == nil, "an admin exists: no new bootstrap credential")
            // Secrets are stored as digests, signing keys sealed.
            let stored = try await database.read { session in
                try await session.all("SELECT token_hash FROM \(session.table("identity", "bootstrap_credentials"))")
                    .map { try $0.decode(column: "token_hash", as: String.self) }
                + session.all("SELECT sealed_private_key FROM \(session.table("identity", "signing_keys"))")
                    .map { try $0.decode(column: "sealed_private_key", as: String.self) }
            }
            #expect(!stored.contains(credential))
            #expect(!stored.contains { $0.contains("PRIVATE KEY") })
        }
    }

    @Test("identity changes and logins are audited in the change's own transaction: no audit, no change", arguments: Backend.allCases)
    func auditIsAtomic(_ backend: Backend) async throws {
        try await withIdentityStore(backend) { database in
            let identity = Identitet(database: database, issuer: testIssuer, masterKey: .random())
            try await identity.prepare()
            let context = OperationContext(actor: "user:ops", correlationID: "corr-atomic")
            let credential = try #require(try await identity.prepareBootstrap())
            _ = try await identity.exchangeBootstrap(credential, audit: context)
            let binding = try await identity.bind("user:kari", .viewer, by: "user:ops", audit: context)
            _ = try await identity.createServiceAccount("ci", description: nil, by: "user:ops", audit: context)
            let (_, key) = try await identity.createAPIKey(account: "ci", lifetime: .seconds(3600), by: "user:ops", audit: context)
            try await identity.revokeAPIKey(key.id, audit: context)
            try await identity.unbind(binding.id, audit: context)
            let records = try await AuditLog(database: database).list(AuditFilter(), limit: 100, cursor: nil).items
            #expect(records.map(\.action).sorted() == [
                "api-key.create", "api-key.revoke", "identity.bootstrap", "role.bind", "role.unbind", "service-account.create",
            ])
            #expect(records.allSatisfy { $0.correlationID == "corr-atomic" })
            #expect(records.first { $0.action == "identity.bootstrap" }?.actor == "user:admin", "a login is audited as who logged in")
            #expect(records.first { $0.action == "role.bind" }?.resource.id == binding.id)

            // With the audit log unwritable, the change is refused and leaves nothing behind.
            try await database.transaction { try await $0.run("DROP TABLE \($0.table("audit", "records"))") }
            await #expect(throws: (any Error).self) {
                try await identity.bind("user:lars", .viewer, by: "user:ops", audit: context)
            }
            #expect(try await identity.bindings(of: "user:lars").isEmpty, "the binding rolled back with its audit record")
            await #expect(throws: (any Error).self) {
                try await identity.createServiceAccount("orphan", description: nil, by: "user:ops", audit: context)
            }
            #expect(!(try await identity.serviceAccounts().map(\.name).contains("orphan")))
        }
    }

    @Test("refresh tokens rotate on use; reusing a rotated one revokes the session; logout revokes it", arguments: Backend.allCases)
    func refreshRotation(_ backend: Backend) async throws {
        try await withIdentityStore(backend) { database in
            let identity = Identitet(database: database, issuer: testIssuer, masterKey: .random())
            let first = try await identity.issueSession(for: "user:ola")
            let second = try await identity.refresh(first.refreshToken)
            #expect(second.refreshToken != first.refreshToken)
            #expect(try await identity.authenticate(bearer: second.accessToken).subject == "user:ola")
            // The first refresh token was used: presenting it again is theft or a bug — the family is revoked.
            await #expect(throws: DataverketError.self) { try await identity.refresh(first.refreshToken) }
            await #expect(throws: DataverketError.self) { try await identity.refresh(second.refreshToken) }
            await #expect(throws: DataverketError.self) { try await identity.authenticate(bearer: second.accessToken) }

            let other = try await identity.issueSession(for: "user:kari")
            try await identity.revoke(refreshToken: other.refreshToken)
            await #expect(throws: DataverketError.self) { try await identity.authenticate(bearer: other.accessToken) }
            try await identity.revoke(refreshToken: "dvr_unknown")  // ignored, as RFC 7009 asks
        }
    }

    @Test("key rotation: new tokens use the new key, old tokens still verify, JWKS lists both; a wrong master key cannot open them",
          arguments: Backend.allCases)
    func rotation(_ backend: Backend) async throws {
        try await withIdentityStore(backend) { database in
            let master = MasterKey.random()
            let identity = Identitet(database: database, issuer: testIssuer, masterKey: master)
            try await identity.prepare()
            let before = try await identity.issueSession(for: "user:ola")
            let kid = try await identity.rotateKeys()
            let after = try await identity.issueSession(for: "user:ola")
            #expect(try await identity.jwks().map(\.kid).contains(kid))
            #expect(try await identity.jwks().count == 2)
            #expect(try await identity.authenticate(bearer: before.accessToken).subject == "user:ola")
            #expect(try await identity.authenticate(bearer: after.accessToken).subject == "user:ola")
            // Another instance with the same master key verifies too (it loads the keys from the store).
            let sibling = Identitet(database: database, issuer: testIssuer, masterKey: master)
            #expect(try await sibling.authenticate(bearer: after.accessToken).subject == "user:ola")
            let stranger = Identitet(database: database, issuer: testIssuer, masterKey: .random())
            await #expect(throws: DataverketError.self) { try await stranger.authenticate(bearer: after.accessToken) }
        }
    }
}
