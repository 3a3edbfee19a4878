import DataverketCore
import DataverketStore
import Foundation
import JWTKit
import SQLKit
import AsyncHTTPClient

/// Signing keys: created sealed at rest, rotated, published as JWKS, loaded for signing and verification.
extension Identitet {
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

    func publishedKeys() async throws -> [(String, ES256PrivateKey, Bool)] {
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

    func reloadKeys() async throws {
        let published = try await publishedKeys()
        let collection = JWTKeyCollection()
        for (kid, key, _) in published {
            await collection.add(ecdsa: key, kid: JWKIdentifier(string: kid))
        }
        keys = collection
        activeKID = published.first { $0.2 }?.0
        loadedKIDs = Set(published.map(\.0))
    }
}
