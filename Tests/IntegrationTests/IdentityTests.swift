import DataverketAPI
import DataverketClient
import DataverketCore
import DataverketStore
@testable import DataverketServer
import Foundation
@testable import Identitet
import JWTKit
import Sentral
import DataverketTasks
import SQLKit
import Testing
import DataverketTestSupport

@Suite("Identitet")
struct IdentityTests {
    @Test("expired, tampered, wrong-audience, wrong-issuer, revoked and malformed tokens each get 401 problem+json")
    func rejectedTokens() async throws {
        try await withServer(.sqlite, mode: .router) { server in
            let identity = server.identity
            let now = Date()
            func claims(iss: String = testIssuer, aud: String = "dataverket", exp: Date = now.addingTimeInterval(600)) -> AccessClaims {
                AccessClaims(iss: .init(value: iss), sub: .init(value: "user:test-admin"), aud: .init(value: [aud]), exp: .init(value: exp),
                             iat: .init(value: now), jti: .init(value: ULID.make()), sid: "ses_none")
            }
            let expired = try await identity.sign(claims(exp: now.addingTimeInterval(-5)))
            let wrongAudience = try await identity.sign(claims(aud: "someone-else"))
            let wrongIssuer = try await identity.sign(claims(iss: "https://evil.example"))
            let session = try await identity.issueSession(for: "user:test-admin")
            try await identity.revoke(refreshToken: session.refreshToken)

            let cases: [(String, String, String)] = [
                ("expired", "Bearer \(expired)", "expired"),
                ("wrong audience", "Bearer \(wrongAudience)", "not for dataverket"),
                ("wrong issuer", "Bearer \(wrongIssuer)", "issued by https://evil.example"),
                ("tampered", "Bearer \(tamperedSignature(server.token))", "signature"),
                ("revoked", "Bearer \(session.accessToken)", "revoked"),
                ("malformed", "Bearer not.a.jwt", "malformed"),
                ("not bearer", "Basic dXNlcjpwYXNz", "Bearer"),
                ("oversized", "Bearer " + String(repeating: "a", count: 5000), "too long"),
            ]
            for (name, header, says) in cases {
                let response = try await server.raw(.GET, "/v1/tenants", headers: ["Authorization": header])
                #expect(response.status == 401, "\(name)")
                let problem = try server.problem(response)
                #expect(problem["type"] as? String == "https://dataverket.dev/problems/unauthenticated", "\(name)")
                #expect((problem["detail"] as? String)?.contains(says) == true, "\(name): \(problem["detail"] ?? "-")")
                #expect(response.headers["www-authenticate"]?.hasPrefix("Bearer") == true, "\(name)")
            }
            let missing = try await server.raw(.POST, "/v1/tenants", body: #"{"name":"x"}"#, headers: ["Authorization": ""])
            #expect(missing.status == 401)
            // Nothing was created by any refused request.
            #expect(try await server.client.listTenants().ok.body.json.items.isEmpty)
            // Probes and discovery need no credential.
            #expect(try await server.raw(.GET, "/healthz", headers: ["Authorization": ""]).status == 200)
            let discovery = try await server.client(token: nil).getOpenIDConfiguration().ok.body.json
            #expect(discovery.issuer == testIssuer)
            #expect(discovery.jwksUri == testIssuer + "/v1/identity/jwks")
            #expect(try await server.client(token: nil).getJWKS().ok.body.json.keys.first?.alg == "ES256")
        }
    }

    @Test("the token endpoint: refresh through the API, bad grants refused, whoami names the caller")
    func tokenEndpoint() async throws {
        try await withServer(.sqlite, mode: .router) { server in
            let anonymous = server.client(token: nil)
            let session = try await server.identity.issueSession(for: "user:test-admin")
            let refreshed = try await anonymous.createToken(body: .json(.init(grantType: .refreshToken, token: session.refreshToken))).ok.body.json
            #expect(refreshed.tokenType == "Bearer" && refreshed.expiresIn == 900)
            let me = try await server.client(token: refreshed.accessToken).whoAmI().ok.body.json
            #expect(me.subject == "user:test-admin")
            #expect(me.roles.map(\.role) == ["platform-admin"])
            #expect(try await server.raw(.POST, "/v1/identity/token", body: #"{"grantType":"refresh_token","token":"dvr_nope"}"#).status == 401)
            #expect(try await server.raw(.POST, "/v1/identity/token", body: #"{"grantType":"password","token":"x"}"#).status == 422)
            #expect(try await server.raw(.POST, "/v1/identity/token", body: #"{"grantType":"bootstrap"}"#).status == 422)
            #expect(try await server.raw(.POST, "/v1/identity/token", body: #"{"grantType":"#).status == 400)
            #expect(try await server.raw(.POST, "/v1/identity/revoke", body: #"{"token":"dvr_unknown"}"#).status == 204)
            // Logging out ends the session at once, although its token was just verified (and cached).
            let asRefreshed = ["Authorization": "Bearer \(refreshed.accessToken)"]
            #expect(try await server.raw(.GET, "/v1/tenants", headers: asRefreshed).status == 200)
            let logout = #"{"token":"\#(refreshed.refreshToken)"}"#
            #expect(try await server.raw(.POST, "/v1/identity/revoke", body: logout, headers: ["Authorization": ""]).status == 204)
            #expect(try await server.raw(.GET, "/v1/tenants", headers: asRefreshed).status == 401)
            #expect(try await server.raw(.GET, "/v1/identity/whoami", headers: ["Authorization": ""]).status == 401)
            let oversized = #"{"grantType":"refresh_token","token":""# + String(repeating: "x", count: 600) + #""}"#
            #expect(try await server.raw(.POST, "/v1/identity/token", body: oversized).status == 422)
            #expect(try await server.raw(.POST, "/v1/identity/token", body: #"{"grantType":"bootstrap","token":"x"}"#,
                                         contentType: "text/plain").status == 415)
        }
    }

    @Test("every operation in the OpenAPI document has an access rule; each role gets exactly what its rule grants")
    func accessMatrix() async throws {
        let operations = try APIDocument.operations().map(\.id)
        #expect(operations.count >= 29)
        let missing = operations.filter { AccessPolicy.rules[$0] == nil }
        #expect(missing.isEmpty, "operations without an access rule: \(missing)")
        #expect(Set(AccessPolicy.rules.keys) == Set(operations), "rules for operations the API does not have")

        // Expected grants per role at platform scope, independent of the rule table.
        let open = ExpectedAccess.open.union(ExpectedAccess.authenticated)
        let reads = ExpectedAccess.reads
        let operate = ExpectedAccess.operate
        let expected: [Role: Set<String>] = [
            .platformAdmin: Set(operations),
            .operator: reads.union(operate).union(open),
            .viewer: reads.union(open),
            .tenantAdmin: open, .projectAdmin: open, .member: open,
        ]
        for role in Role.all {
            let principal = Principal(subject: "user:x", session: "s",
                                      bindings: [RoleBinding(id: "b", subject: "user:x", role: role.name, scopeKind: "platform", scopeID: "*")])
            let granted = Set(operations.filter { AccessPolicy.allows(principal, AccessPolicy.rules[$0]!) })
            #expect(granted == expected[role], "\(role): granted \(granted.symmetricDifference(expected[role] ?? []))")
        }
    }

    @Test("through HTTP: a viewer reads but may not write (403); an operator runs tasks but may not create tenants; no role, no access")
    func rolesOverHTTP() async throws {
        try await withServer(.sqlite, mode: .router) { server in
            _ = try await server.client.createTenant(body: .json(.init(name: "acme"))).created
            let viewer = try await server.token(for: "user:vera", roles: [.viewer])
            let operatorToken = try await server.token(for: "user:otto", roles: [.operator])
            let nobody = try await server.token(for: "user:nils", roles: [])

            #expect(try await server.raw(.GET, "/v1/tenants/acme", headers: ["Authorization": "Bearer \(viewer)"]).status == 200)
            let refused = try await server.raw(.POST, "/v1/tenants", body: #"{"name":"evil"}"#, headers: ["Authorization": "Bearer \(viewer)"])
            #expect(refused.status == 403)
            #expect(try server.problem(refused)["type"] as? String == "https://dataverket.dev/problems/forbidden")
            #expect(try await server.raw(.DELETE, "/v1/tenants/acme", headers: ["Authorization": "Bearer \(viewer)"]).status == 403)
            #expect(try await server.raw(.POST, "/v1/tasks", body: #"{"kind":"noop"}"#, headers: ["Authorization": "Bearer \(viewer)"]).status == 403)

            #expect(try await server.raw(.POST, "/v1/tasks", body: #"{"kind":"noop"}"#, headers: ["Authorization": "Bearer \(operatorToken)"]).status == 202)
            #expect(try await server.raw(.POST, "/v1/tenants", body: #"{"name":"ops"}"#, headers: ["Authorization": "Bearer \(operatorToken)"]).status == 403)

            #expect(try await server.raw(.GET, "/v1/tenants", headers: ["Authorization": "Bearer \(nobody)"]).status == 403)
            #expect(try await server.raw(.GET, "/v1/identity/whoami", headers: ["Authorization": "Bearer \(nobody)"]).status == 200)

            // The actor on the audit trail is the verified subject.
            let audit = try await server.client.listAudit(query: .init(action: "task.create")).ok.body.json.items
            #expect(audit.map(\.actor) == ["user:otto"])
            #expect(try await server.client.listTenants().ok.body.json.items.map(\.name) == ["acme"])
        }
    }
}

@Suite("Service accounts, API keys and role bindings")
struct ServiceAccountTests {
    @Test("a service account's API key authenticates with the account's roles; revoked keys get 401; bad input is refused",
          arguments: Backend.allCases)
    func apiKeys(_ backend: Backend) async throws {
        try await withServer(backend, mode: .router) { server in
            let account = try await server.client.createServiceAccount(body: .json(.init(name: "ci", description: "pipelines"))).created.body.json
            #expect(account.subject == "sa:ci")
            #expect(try await server.raw(.POST, "/v1/identity/service-accounts", body: #"{"name":"ci"}"#).status == 409)
            #expect(try await server.raw(.POST, "/v1/identity/service-accounts", body: #"{"name":"Not_A_Label"}"#).status == 422)
            #expect(try await server.raw(.POST, "/v1/identity/service-accounts", body: #"{"name":"x","extra":1}"#).status == 422)

            let created = try await server.client.createAPIKey(path: .init(account: "ci"), body: .json(.init(ttlSeconds: 3600))).created.body.json
            #expect(created.key.hasPrefix("dvk_"))
            let asKey = ["Authorization": "Bearer \(created.key)"]
            #expect(try await server.raw(.GET, "/v1/identity/whoami", headers: asKey).status == 200)
            #expect(try await server.raw(.GET, "/v1/tenants", headers: asKey).status == 403, "no role yet")
            _ = try await server.client.createRoleBinding(body: .json(.init(subject: "sa:ci", role: .viewer))).created
            #expect(try await server.raw(.GET, "/v1/tenants", headers: asKey).status == 200)
            #expect(try await server.raw(.POST, "/v1/tenants", body: #"{"name":"nope"}"#, headers: asKey).status == 403)

            #expect(try await server.raw(.POST, "/v1/identity/service-accounts/ci/keys", body: #"{"ttlSeconds":10}"#).status == 422)
            #expect(try await server.raw(.POST, "/v1/identity/service-accounts/ghost/keys", body: #"{"ttlSeconds":600}"#).status == 404)
            #expect(try await server.raw(.DELETE, "/v1/identity/api-keys/key_nope").status == 404)
            #expect(try await server.raw(.DELETE, "/v1/identity/api-keys/\(created.id)").status == 204)
            let revoked = try await server.raw(.GET, "/v1/tenants", headers: asKey)
            #expect(revoked.status == 401)
            #expect((try server.problem(revoked)["detail"] as? String)?.contains("revoked") == true)
            #expect(try await server.raw(.GET, "/v1/tenants", headers: ["Authorization": "Bearer dvk_made_up"]).status == 401)
            // The key itself is nowhere in the store.
            // Only platform admins manage service accounts and keys.
            let viewerToken = try await server.token(for: "user:vera", roles: [.viewer])
            let asViewer = ["Authorization": "Bearer \(viewerToken)"]
            #expect(try await server.raw(.GET, "/v1/identity/service-accounts", headers: asViewer).status == 403)
            #expect(try await server.raw(.POST, "/v1/identity/service-accounts", body: #"{"name":"sneaky"}"#, headers: asViewer).status == 403)
            #expect(try await server.raw(.POST, "/v1/identity/service-accounts/ci/keys", body: #"{"ttlSeconds":600}"#, headers: asViewer).status == 403)
            #expect(try await server.raw(.DELETE, "/v1/identity/api-keys/\(created.id)", headers: asViewer).status == 403)
            #expect(try await server.raw(.GET, "/v1/identity/service-accounts", headers: ["Authorization": ""]).status == 401)
            let digests = try await server.database.read { session in
                try await session.all("SELECT key_hash FROM \(session.table("identity", "api_keys"))").map { try $0.decode(column: "key_hash", as: String.self) }
            }
            #expect(digests.count == 1 && !digests.contains(created.key))
        }
    }

    @Test("role bindings: bind, list, unbind; never the last platform-admin; only admins manage them; every change audited",
          arguments: Backend.allCases)
    func bindings(_ backend: Backend) async throws {
        try await withServer(backend, mode: .router) { server in
            let bound = try await server.client.createRoleBinding(body: .json(.init(subject: "user:ola", role: ._operator))).created.body.json
            let again = try await server.client.createRoleBinding(body: .json(.init(subject: "user:ola", role: ._operator))).created.body.json
            #expect(again.id == bound.id, "binding twice is a no-op")
            // A tenant scope by name is stored under the tenant's id; a scope that does not exist is refused.
            let shop = try await server.sentral.tenancy.createTenant(.init(name: "shop"), context: testContext).0
            let scoped = try await server.client.createRoleBinding(body: .json(.init(
                subject: "group:shop", role: .tenantAdmin, scopeKind: .tenant, scopeId: "shop"))).created.body.json
            #expect(scoped.scopeKind == .tenant && scoped.scopeId == shop.fields.id)
            #expect(try await server.client.createRoleBinding(body: .json(.init(
                subject: "group:shop", role: .tenantAdmin, scopeKind: .tenant, scopeId: shop.fields.id))).created.body.json.id == scoped.id)
            let unknownTenant = try await server.raw(.POST, "/v1/identity/role-bindings",
                                                     body: #"{"subject":"sa:x","role":"tenant-admin","scopeKind":"tenant","scopeId":"ta"}"#)
            #expect(unknownTenant.status == 404, "\(unknownTenant.body)")
            let unknownProject = try await server.raw(.POST, "/v1/identity/role-bindings",
                                                      body: #"{"subject":"sa:x","role":"project-admin","scopeKind":"project","scopeId":"prj_01M98CFGA89KNPWXBW139QQ8QT"}"#)
            #expect(unknownProject.status == 404)
            let projectByName = try await server.raw(.POST, "/v1/identity/role-bindings",
                                                     body: #"{"subject":"sa:x","role":"project-admin","scopeKind":"project","scopeId":"web"}"#)
            #expect(projectByName.status == 422 && projectByName.body.contains("by its id"), "\(projectByName.body)")
            #expect(try await server.client.listRoleBindings(query: .init(subject: "sa:x")).ok.body.json.items.isEmpty, "nothing bound")
            let olas = try await server.client.listRoleBindings(query: .init(subject: "user:ola")).ok.body.json.items
            #expect(olas.map(\.role) == ["operator"])

            for body in [#"{"subject":"ola","role":"viewer"}"#, #"{"subject":"user:ola","role":"root"}"#,
                         #"{"subject":"user:ola","role":"viewer","scopeKind":"tenant"}"#,
                         #"{"subject":"user:ola","role":"viewer","scopeKind":"platform","scopeId":"ten_1"}"#] {
                #expect(try await server.raw(.POST, "/v1/identity/role-bindings", body: body).status == 422, "\(body)")
            }
            let admin = try #require(try await server.client.listRoleBindings(query: .init(subject: "user:test-admin")).ok.body.json.items.first)
            let last = try await server.raw(.DELETE, "/v1/identity/role-bindings/\(admin.id)")
            #expect(last.status == 409)
            #expect(try await server.raw(.DELETE, "/v1/identity/role-bindings/rb_nope").status == 404)
            #expect(try await server.raw(.DELETE, "/v1/identity/role-bindings/\(bound.id)").status == 204)

            let operatorToken = try await server.token(for: "user:otto", roles: [.operator])
            #expect(try await server.raw(.POST, "/v1/identity/role-bindings", body: #"{"subject":"user:otto","role":"platform-admin"}"#,
                                         headers: ["Authorization": "Bearer \(operatorToken)"]).status == 403, "no self-promotion")
            let audit = try await server.client.listAudit().ok.body.json.items.map(\.action)
            #expect(audit.filter { $0 == "role.bind" }.count == 4, "each bind call, no-ops included, and none of the refused")
            #expect(audit.contains("role.unbind"))
        }
    }
}

@Suite("Rate limits")
struct RateLimitTests {
    @Test("a burst of 1,000 requests from one actor is limited by policy; another actor is unaffected")
    func burst() async throws {
        let policy = RateLimitPolicy(reads: .init(burst: 50, perSecond: 2))
        try await withServer(.sqlite, rateLimits: policy) { server in
            let other = try await server.token(for: "user:other", roles: [.viewer])
            let started = ContinuousClock.now
            let statuses = try await withThrowingTaskGroup(of: (Int, [String: String], String).self) { group in
                var results: [(Int, [String: String], String)] = []
                var next = 0
                for _ in 0..<16 {
                    group.addTask { let r = try await server.raw(.GET, "/v1/tenants"); return (r.status, r.headers, r.body) }
                    next += 1
                }
                while let result = try await group.next() {
                    results.append(result)
                    if next < 1000 {
                        group.addTask { let r = try await server.raw(.GET, "/v1/tenants"); return (r.status, r.headers, r.body) }
                        next += 1
                    }
                }
                return results
            }
            let elapsed = ContinuousClock.now - started
            let allowed = statuses.filter { $0.0 == 200 }
            let refused = statuses.filter { $0.0 == 429 }
            #expect(statuses.count == 1000)
            #expect(allowed.count + refused.count == 1000)
            // The burst, plus what refilled while the burst ran (2 per second), and no more.
            #expect(allowed.count >= 50)
            #expect(allowed.count <= 50 + 2 * (Int(elapsed.components.seconds) + 1))
            #expect(refused.allSatisfy { Int($0.1["retry-after"] ?? "") ?? 0 >= 1 && $0.1["ratelimit-remaining"] == "0" })
            #expect(allowed.allSatisfy { $0.1["ratelimit-limit"] == "50" })
            // Another actor has its own bucket.
            let unaffected = try await server.raw(.GET, "/v1/tenants", headers: ["Authorization": "Bearer \(other)"])
            #expect(unaffected.status == 200)
            // Writes are a different class: the same actor can still create.
            #expect(try await server.raw(.POST, "/v1/tenants", body: #"{"name":"still-ok"}"#).status == 201)
            let problem = try #require(refused.first)
            #expect(problem.1["content-type"] == "application/problem+json")
            let document = try JSONSerialization.jsonObject(with: Data(problem.2.utf8)) as? [String: Any]
            #expect(document?["type"] as? String == "https://dataverket.dev/problems/rate-limited")
            #expect(document?["status"] as? Int == 429)
        }
    }

    @Test("the token endpoint is limited per source address")
    func anonymousLimited() async throws {
        try await withServer(.sqlite, rateLimits: RateLimitPolicy(anonymous: .init(burst: 5, perSecond: 0.01))) { server in
            var statuses: [Int] = []
            for _ in 0..<12 {
                statuses.append(try await server.raw(.POST, "/v1/identity/token", body: #"{"grantType":"refresh_token","token":"dvr_guess"}"#).status)
            }
            #expect(statuses.prefix(5).allSatisfy { $0 == 401 })
            #expect(statuses.dropFirst(5).allSatisfy { $0 == 429 }, "\(statuses)")
            #expect(try await server.raw(.GET, "/healthz").status == 200)
            // Guessing bearer credentials draws on the same per-address budget; valid ones are unaffected.
            let guessed = try await server.raw(.GET, "/v1/tenants", headers: ["Authorization": "Bearer dvk_guess"])
            #expect(guessed.status == 429)
            #expect(try await server.raw(.GET, "/v1/tenants").status == 200)
        }
    }

    @Test("destructive requests in flight per tenant are capped")
    func destructiveCap() throws {
        let limiter = RateLimiter(policy: RateLimitPolicy(concurrentDestructivePerTenant: 2))
        #expect(limiter.beginDestructive(tenant: "acme"))
        #expect(limiter.beginDestructive(tenant: "acme"))
        #expect(!limiter.beginDestructive(tenant: "acme"))
        #expect(limiter.beginDestructive(tenant: "globex"))
        limiter.endDestructive(tenant: "acme")
        #expect(limiter.beginDestructive(tenant: "acme"))
        #expect(AccessMiddleware.tenant(in: "/v1/tenants/acme/projects/web") == "acme")
        #expect(AccessMiddleware.tenant(in: "/v1/tenants/acme?x=1") == "acme")
        #expect(AccessMiddleware.tenant(in: "/v1/tasks/t1") == nil)
    }
}
