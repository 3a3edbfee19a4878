import AsyncHTTPClient
import DataverketClient
import Foundation
import Testing
import DataverketTestSupport

/// The public API over HTTP, on both engines.
@Suite("Tenancy API")
struct TenancyAPITests {
    @Test("create, get, list, update and delete tenants, projects and environments", arguments: Backend.allCases)
    func lifecycle(_ backend: Backend) async throws {
        try await withServer(backend, mode: .router) { server in
            let client = server.client
            let created = try await client.createTenant(body: .json(.init(name: "acme", labels: .init(additionalProperties: ["tier": "gold"])))).created
            #expect(created.headers.eTag == "\"1\"")
            #expect(created.headers.location == "/v1/tenants/acme")
            let tenant = try created.body.json
            #expect(tenant.id.hasPrefix("ten_"))
            #expect(tenant.labels.additionalProperties == ["tier": "gold"])
            // By name and by ID.
            #expect(try await client.getTenant(path: .init(tenant: "acme")).ok.body.json.id == tenant.id)
            #expect(try await client.getTenant(path: .init(tenant: tenant.id)).ok.body.json.name == "acme")

            let project = try await client.createProject(path: .init(tenant: "acme"), body: .json(.init(name: "web"))).created.body.json
            #expect(project.tenant == "acme" && project.phase == "active")
            let env = try await client.createEnvironment(path: .init(tenant: "acme", project: "web"), body: .json(.init(name: "prod"))).created.body.json
            #expect(env.project == "web" && env.projectId == project.id)

            let updated = try await client.updateProject(
                path: .init(tenant: "acme", project: "web"), headers: .init(ifMatch: "\"1\""),
                body: .json(.init(description: "the web shop", labels: .init(additionalProperties: ["team": "a"])))).ok
            #expect(updated.headers.eTag == "\"2\"")
            let body = try updated.body.json
            #expect(body.version == 2 && body.description == "the web shop" && body.labels.additionalProperties == ["team": "a"])
            #expect(body.updatedAt >= body.createdAt)

            _ = try await client.deleteEnvironment(path: .init(tenant: "acme", project: "web", environment: "prod")).noContent
            let envs = try await client.listEnvironments(path: .init(tenant: "acme", project: "web")).ok.body.json
            #expect(envs.items.isEmpty)
        }
    }

    @Test("cursor pagination returns every item once", arguments: Backend.allCases)
    func pagination(_ backend: Backend) async throws {
        try await withServer(backend, mode: .router) { server in
            let client = server.client
            for index in 0..<7 { _ = try await client.createTenant(body: .json(.init(name: "t\(index)"))).created }
            var seen: [String] = []
            var cursor: String?
            var pages = 0
            repeat {
                let page = try await client.listTenants(query: .init(limit: 3, cursor: cursor)).ok.body.json
                seen += page.items.map(\.name)
                cursor = page.nextCursor
                pages += 1
            } while cursor != nil && pages < 10
            #expect(pages == 3)
            #expect(seen == (0..<7).map { "t\($0)" })

            let bad = try await server.raw(.GET, "/v1/tenants?cursor=not-a-cursor")
            #expect(bad.status == 400)
            #expect(try server.problem(bad)["type"] as? String == "https://dataverket.dev/problems/malformed-request")
            let tooMany = try await server.raw(.GET, "/v1/tenants?limit=1001")
            #expect(tooMany.status == 422)
            let notNumber = try await server.raw(.GET, "/v1/tenants?limit=abc")
            #expect(notNumber.status == 400)
        }
    }

    @Test("bad input gets a problem document with the right status and type", arguments: Backend.allCases)
    func problems(_ backend: Backend) async throws {
        try await withServer(backend, mode: .router) { server in
            _ = try await server.client.createTenant(body: .json(.init(name: "acme"))).created

            // 400: not JSON.
            let malformed = try await server.raw(.POST, "/v1/tenants", body: "{\"name\": ")
            #expect(malformed.status == 400)
            #expect(try server.problem(malformed)["type"] as? String == "https://dataverket.dev/problems/malformed-request")

            // 422: a name that is not a DNS label, with the field named.
            let badName = try await server.raw(.POST, "/v1/tenants", body: #"{"name":"Not_A_Label"}"#)
            #expect(badName.status == 422)
            let violations = try server.problem(badName)["errors"] as? [[String: String]]
            #expect(violations?.first?["field"] == "name")

            // 422: required field missing; unknown field; label key invalid; too long.
            #expect(try await server.raw(.POST, "/v1/tenants", body: "{}").status == 422)
            #expect(try await server.raw(.POST, "/v1/tenants", body: #"{"name":"x","colour":"red"}"#).status == 422)
            #expect(try await server.raw(.POST, "/v1/tenants", body: #"{"name":"y","labels":{"bad key":"v"}}"#).status == 422)
            #expect(try await server.raw(.POST, "/v1/tenants", body: "{\"name\":\"\(String(repeating: "a", count: 64))\"}").status == 422)

            // 409: duplicate name.
            let duplicate = try await server.raw(.POST, "/v1/tenants", body: #"{"name":"acme"}"#)
            #expect(duplicate.status == 409)
            #expect(try server.problem(duplicate)["type"] as? String == "https://dataverket.dev/problems/already-exists")

            // 404: unknown tenant, unknown route — both as problems.
            let missing = try await server.raw(.GET, "/v1/tenants/nope")
            #expect(missing.status == 404)
            #expect(try server.problem(missing)["detail"] as? String == "tenant 'nope' not found")
            let noRoute = try await server.raw(.GET, "/v1/nothing-here")
            #expect(noRoute.status == 404)
            _ = try server.problem(noRoute)

            // 413: a body over the limit is refused whole.
            let huge = "{\"name\":\"big\",\"description\":\"\(String(repeating: "x", count: 2 << 20))\"}"
            let tooLarge = try await server.raw(.POST, "/v1/tenants", body: huge)
            #expect(tooLarge.status == 413)
            _ = try server.problem(tooLarge)
            #expect(try await server.raw(.GET, "/v1/tenants/big").status == 404)

            // 415: not JSON.
            let wrongType = try await server.raw(.POST, "/v1/tenants", body: "name=acme2", contentType: "application/x-www-form-urlencoded")
            #expect(wrongType.status == 415)
            _ = try server.problem(wrongType)

            // 428 without If-Match; 412 with a stale one; 400 with garbage.
            let noPrecondition = try await server.raw(.PATCH, "/v1/tenants/acme", body: #"{"description":"d"}"#)
            #expect(noPrecondition.status == 428)
            _ = try server.problem(noPrecondition)
            let stale = try await server.raw(.PATCH, "/v1/tenants/acme", body: #"{"description":"d"}"#, headers: ["If-Match": "\"7\""])
            #expect(stale.status == 412)
            #expect(try server.problem(stale)["type"] as? String == "https://dataverket.dev/problems/precondition-failed")
            #expect(try await server.raw(.PATCH, "/v1/tenants/acme", body: #"{"description":"d"}"#, headers: ["If-Match": "seven"]).status == 400)
            // An If-Match that does not percent-decode, one outside the document's pattern: malformed, not ignored (the
            // generated code takes a header it cannot decode for none). (An empty one: RouterHandlerTests.)
            for garbled in ["a% b", "%zz", "007", "+7", "\"1\", \"2\"", String(repeating: "9", count: 19)] {
                let answer = try await server.raw(.PATCH, "/v1/tenants/acme", body: #"{"description":"d"}"#, headers: ["If-Match": garbled])
                #expect(answer.status == 400, "If-Match: \(garbled): \(answer.body)")
            }
            // null is no value: refused, naming the field — not taken as "unchanged" (or as "clear it").
            let null = try await server.raw(.PATCH, "/v1/tenants/acme", body: #"{"description":null,"labels":{"team":null}}"#,
                                            headers: ["If-Match": "*"])
            #expect(null.status == 422)
            let errors = try server.problem(null)["errors"] as? [[String: Any]]
            #expect(errors?.compactMap { $0["field"] as? String } == ["description", "labels.team"])
            // Nothing above changed the tenant.
            #expect(try await server.client.getTenant(path: .init(tenant: "acme")).ok.body.json.version == 1)
        }
    }

    @Test("a tenant with projects cannot be deleted; an empty one can", arguments: Backend.allCases)
    func tenantDeleteConflict(_ backend: Backend) async throws {
        try await withServer(backend, mode: .router) { server in
            let client = server.client
            _ = try await client.createTenant(body: .json(.init(name: "acme"))).created
            _ = try await client.createProject(path: .init(tenant: "acme"), body: .json(.init(name: "web"))).created
            let conflict = try await server.raw(.DELETE, "/v1/tenants/acme")
            #expect(conflict.status == 409)
            #expect(try server.problem(conflict)["detail"] as? String == "tenant 'acme' still has 1 project(s): delete them first")
            _ = try await client.createTenant(body: .json(.init(name: "empty"))).created
            #expect(try await server.raw(.DELETE, "/v1/tenants/empty", headers: ["If-Match": "\"2\""]).status == 412)
            // A garbled precondition is refused, not dropped: the delete is not made unconditional by it.
            #expect(try await server.raw(.DELETE, "/v1/tenants/empty", headers: ["If-Match": "a% b"]).status == 400)
            #expect(try await server.raw(.GET, "/v1/tenants/empty").status == 200)
            _ = try await client.deleteTenant(path: .init(tenant: "empty"), headers: .init(ifMatch: "\"1\"")).noContent
            #expect(try await server.raw(.GET, "/v1/tenants/empty").status == 404)
        }
    }

    @Test("Idempotency-Key: a retried create returns the original; a different body is refused", arguments: Backend.allCases)
    func idempotency(_ backend: Backend) async throws {
        try await withServer(backend, mode: .router) { server in
            let client = server.client
            let first = try await client.createTenant(headers: .init(idempotencyKey: "k-1"), body: .json(.init(name: "acme"))).created.body.json
            let retry = try await client.createTenant(headers: .init(idempotencyKey: "k-1"), body: .json(.init(name: "acme"))).created.body.json
            #expect(retry.id == first.id)
            #expect(retry.createdAt == first.createdAt)
            let reused = try await server.raw(.POST, "/v1/tenants", body: #"{"name":"other"}"#, headers: ["Idempotency-Key": "k-1"])
            #expect(reused.status == 422)
            #expect(try server.problem(reused)["type"] as? String == "https://dataverket.dev/problems/idempotency-key-reused")
            #expect(try await server.raw(.POST, "/v1/tenants", body: #"{"name":"x"}"#, headers: ["Idempotency-Key": "bad key"]).status == 400)
            // A key that does not percent-decode is malformed, not taken for none; one that decodes to a `%` is outside the
            // key's pattern.
            #expect(try await server.raw(.POST, "/v1/tenants", body: #"{"name":"x"}"#, headers: ["Idempotency-Key": "k%zz"]).status == 400)
            #expect(try await server.raw(.POST, "/v1/tenants", body: #"{"name":"x"}"#, headers: ["Idempotency-Key": "k%25x"]).status == 400)
            // Exactly one tenant and one audit record came of the three requests.
            #expect(try await client.listTenants().ok.body.json.items.count == 1)
            let audit = try await client.listAudit(query: .init(action: "tenant.create")).ok.body.json
            #expect(audit.items.count == 1)
        }
    }

    @Test("200 concurrent updates with the same If-Match, each on its own connection: exactly one wins, the rest get 412, one audit record; on PostgreSQL at least 100 are in flight at once",
          arguments: Backend.allCases)
    func concurrentUpdates(_ backend: Backend) async throws {
        try await withServer(backend) { server in
            let client = server.client
            _ = try await client.createTenant(body: .json(.init(name: "acme"))).created
            let project = try await client.createProject(path: .init(tenant: "acme"), body: .json(.init(name: "web"))).created.body.json
            // One connection per writer (AsyncHTTPClient's default is 8 per host).
            let http = HTTPClient(eventLoopGroup: HTTPClient.defaultEventLoopGroup, configuration: .init(
                connectionPool: .init(idleTimeout: .seconds(60), concurrentHTTP1ConnectionsPerHostSoftLimit: 256)))
            // On PostgreSQL the project's row is locked while the writers arrive, so they pile up in the server, in flight
            // at once (its own gauge counts them), and race for the one version when the lock goes.
            let (lockTaken, locked) = AsyncStream.makeStream(of: Void.self)
            let (unlocked, unlock) = AsyncStream.makeStream(of: Void.self)
            let lock: Task<Void, any Error>? = backend != .postgres ? nil : Task {
                try await server.database.transaction { session in
                    try await session.run("SELECT id FROM \(session.table("tenancy", "projects")) WHERE id = \(bind: project.id) FOR UPDATE")
                    locked.yield()
                    for await _ in unlocked { break }
                }
            }
            if lock != nil {
                for await _ in lockTaken { break }
            }
            let writers = Task {
                try await withThrowingTaskGroup(of: Int.self) { group in
                    for index in 0..<200 {
                        group.addTask {
                            try await server.raw(.PATCH, "/v1/tenants/acme/projects/web", body: "{\"description\":\"writer \(index)\"}",
                                                 headers: ["If-Match": "\"1\""], httpClient: http, timeout: .seconds(300)).status
                        }
                    }
                    return try await group.reduce(into: [Int]()) { $0.append($1) }
                }
            }
            var peak = 0
            if lock != nil {
                // Bounded wait for the pile-up (generous: a busy machine opens 200 connections slowly).
                let clock = ContinuousClock()
                let deadline = clock.now + .seconds(120)
                while clock.now < deadline, peak < 200 {
                    peak = max(peak, server.requestsInFlight)
                    try await Task.sleep(for: .milliseconds(20))
                }
                unlock.yield()
                try await lock?.value
            }
            let statuses = try await writers.value
            try await http.shutdown()
            if backend == .postgres {
                #expect(peak >= 100, "only \(peak) requests were in flight at once")
            }
            #expect(statuses.filter { $0 == 200 }.count == 1)
            #expect(statuses.filter { $0 == 412 }.count == 199, "\(Dictionary(grouping: statuses, by: { $0 }).mapValues(\.count))")
            let after = try await client.getProject(path: .init(tenant: "acme", project: "web")).ok.body.json
            #expect(after.version == 2)
            let audit = try await client.listAudit(query: .init(resource: project.id, action: "project.update")).ok.body.json
            #expect(audit.items.count == 1)
            #expect(audit.items.first?.beforeVersion == 1 && audit.items.first?.afterVersion == 2)
        }
    }
}
