import DataverketClient
import DataverketCore
import DVCommands
import Foundation
import Identitet
import NIOHTTP1
import Testing
import DataverketTestSupport

@Suite("Tenant isolation")
struct TenantIsolationTests {
    /// Two tenants with a project and an environment each; returns (tenant A id, project A id, project A2 id).
    static func seed(_ server: TestServer) async throws -> (String, String, String) {
        let a = try await server.client.createTenant(body: .json(.init(name: "alpha"))).created.body.json
        _ = try await server.client.createTenant(body: .json(.init(name: "beta"))).created
        let web = try await server.client.createProject(path: .init(tenant: "alpha"), body: .json(.init(name: "web"))).created.body.json
        let db = try await server.client.createProject(path: .init(tenant: "alpha"), body: .json(.init(name: "db"))).created.body.json
        _ = try await server.client.createProject(path: .init(tenant: "beta"), body: .json(.init(name: "web"))).created
        _ = try await server.client.createEnvironment(path: .init(tenant: "alpha", project: "web"), body: .json(.init(name: "prod"))).created
        _ = try await server.client.createEnvironment(path: .init(tenant: "beta", project: "web"), body: .json(.init(name: "prod"))).created
        return (a.id, web.id, db.id)
    }

    @Test("tenant A's admin cannot read, list, update or delete anything of tenant B: 404, no existence leak", arguments: Backend.allCases)
    func tenantAdminIsConfined(_ backend: Backend) async throws {
        try await withServer(backend, mode: .router) { server in
            let (alpha, _, _) = try await Self.seed(server)
            _ = try await server.identity.bind("user:anna", .tenantAdmin, scopeKind: "tenant", scopeID: alpha, by: "test")
            let anna = try await server.token(for: "user:anna", roles: [])
            let asAnna = ["Authorization": "Bearer \(anna)"]
            func status(_ method: NIOHTTP1.HTTPMethod, _ path: String, _ body: String? = nil, ifMatch: Bool = false) async throws -> Int {
                var headers = asAnna
                if ifMatch { headers["If-Match"] = "\"1\"" }
                return try await server.raw(method, path, body: body, headers: headers).status
            }
            // Tenant B, everything in it, and a tenant that does not exist answer alike.
            for path in ["/v1/tenants/beta", "/v1/tenants/beta/projects", "/v1/tenants/beta/projects/web",
                         "/v1/tenants/beta/projects/web/environments", "/v1/tenants/beta/projects/web/environments/prod",
                         "/v1/tenants/nosuch"] {
                #expect(try await status(.GET, path) == 404, "GET \(path)")
            }
            #expect(try await status(.PATCH, "/v1/tenants/beta", #"{"description":"mine"}"#, ifMatch: true) == 404)
            #expect(try await status(.DELETE, "/v1/tenants/beta") == 404)
            #expect(try await status(.POST, "/v1/tenants/beta/projects", #"{"name":"evil"}"#) == 404)
            #expect(try await status(.PATCH, "/v1/tenants/beta/projects/web", #"{"description":"x"}"#, ifMatch: true) == 404)
            #expect(try await status(.DELETE, "/v1/tenants/beta/projects/web") == 404)
            #expect(try await status(.POST, "/v1/tenants/beta/projects/web/environments", #"{"name":"x"}"#) == 404)
            #expect(try await status(.PATCH, "/v1/tenants/beta/projects/web/environments/prod", #"{"description":"x"}"#, ifMatch: true) == 404)
            #expect(try await status(.DELETE, "/v1/tenants/beta/projects/web/environments/prod") == 404)
            let listed = try await server.client(token: anna).listTenants().ok.body.json.items.map(\.name)
            #expect(listed == ["alpha"])
            // Tenant B is untouched.
            #expect(try await server.client.getTenant(path: .init(tenant: "beta")).ok.body.json.description == nil)
            #expect(try await server.client.listProjects(path: .init(tenant: "beta")).ok.body.json.items.count == 1)

            // In tenant A, the tenant admin works; deleting the tenant itself stays with the platform.
            #expect(try await status(.GET, "/v1/tenants/alpha") == 200)
            #expect(try await status(.PATCH, "/v1/tenants/alpha", #"{"description":"ours"}"#, ifMatch: true) == 200)
            #expect(try await status(.POST, "/v1/tenants/alpha/projects", #"{"name":"api"}"#) == 201)
            #expect(try await status(.POST, "/v1/tenants/alpha/projects/api/environments", #"{"name":"dev"}"#) == 201)
            #expect(try await status(.DELETE, "/v1/tenants/alpha/projects/api/environments/dev") == 204)
            #expect(try await status(.DELETE, "/v1/tenants/alpha") == 403)
            #expect(try await status(.POST, "/v1/tenants", #"{"name":"gamma"}"#) == 403)
            #expect(try await status(.GET, "/v1/audit") == 403)
        }
    }

    @Test("project roles: a project admin sees its tenant and project only; a tenant viewer reads but does not write")
    func projectAndViewerRoles() async throws {
        try await withServer(.sqlite, mode: .router) { server in
            let (alpha, web, _) = try await Self.seed(server)
            _ = try await server.identity.bind("user:pia", .projectAdmin, scopeKind: "project", scopeID: web, by: "test")
            _ = try await server.identity.bind("user:vic", .viewer, scopeKind: "tenant", scopeID: alpha, by: "test")
            let pia = try await server.token(for: "user:pia", roles: [])
            let vic = try await server.token(for: "user:vic", roles: [])
            func status(_ token: String, _ method: NIOHTTP1.HTTPMethod, _ path: String, _ body: String? = nil, ifMatch: Bool = false) async throws -> Int {
                var headers = ["Authorization": "Bearer \(token)"]
                if ifMatch { headers["If-Match"] = "\"1\"" }
                return try await server.raw(method, path, body: body, headers: headers).status
            }
            #expect(try await status(pia, .GET, "/v1/tenants/alpha") == 200)
            #expect(try await server.client(token: pia).listProjects(path: .init(tenant: "alpha")).ok.body.json.items.map(\.name) == ["web"])
            #expect(try await status(pia, .GET, "/v1/tenants/alpha/projects/db") == 404)
            #expect(try await status(pia, .PATCH, "/v1/tenants/alpha", #"{"description":"x"}"#, ifMatch: true) == 403)
            #expect(try await status(pia, .POST, "/v1/tenants/alpha/projects", #"{"name":"new"}"#) == 403)
            #expect(try await status(pia, .PATCH, "/v1/tenants/alpha/projects/web", #"{"description":"x"}"#, ifMatch: true) == 200)
            #expect(try await status(pia, .POST, "/v1/tenants/alpha/projects/web/environments", #"{"name":"stage"}"#) == 201)
            #expect(try await status(pia, .DELETE, "/v1/tenants/alpha/projects/web/environments/stage") == 204)
            #expect(try await status(pia, .GET, "/v1/tenants/beta") == 404)

            #expect(try await status(vic, .GET, "/v1/tenants/alpha/projects/db") == 200)
            #expect(try await status(vic, .GET, "/v1/tenants/alpha/projects/web/environments") == 200)
            #expect(try await status(vic, .POST, "/v1/tenants/alpha/projects", #"{"name":"new"}"#) == 403)
            #expect(try await status(vic, .DELETE, "/v1/tenants/alpha/projects/db") == 403)
            #expect(try await status(vic, .GET, "/v1/tenants/beta/projects/web") == 404)
        }
    }

    @Test("through the CLI: tenant A's admin lists only A and gets not-found for B")
    func cli() async throws {
        try await withServer(.sqlite) { server in
            let (alpha, _, _) = try await Self.seed(server)
            _ = try await server.identity.bind("user:anna", .tenantAdmin, scopeKind: "tenant", scopeID: alpha, by: "test")
            let anna = try await server.token(for: "user:anna", roles: [])
            func dvAnna(_ arguments: String...) async -> (code: Int32, out: String, err: String) {
                await run(DVCommand.self, arguments + ["--server", server.baseURL, "--token", anna, "-o", "json"])
            }
            let list = await dvAnna("tenant", "list")
            let names = (try JSONSerialization.jsonObject(with: Data(list.out.utf8)) as? [[String: Any]])?.compactMap { $0["name"] as? String }
            #expect(names == ["alpha"])
            for arguments in [["tenant", "get", "beta"], ["project", "list", "-t", "beta"], ["project", "get", "web", "-t", "beta"],
                              ["env", "list", "-t", "beta", "-p", "web"], ["project", "delete", "web", "-t", "beta"],
                              ["tenant", "update", "beta", "--description", "mine"], ["env", "delete", "prod", "-t", "beta", "-p", "web"]] {
                let refused = await run(DVCommand.self, arguments + ["--server", server.baseURL, "--token", anna])
                #expect(refused.code == 1 && refused.err.contains("404"), "\(arguments): \(refused.err)")
            }
            #expect(await dvAnna("project", "create", "api", "-t", "alpha").code == 0)
        }
    }
}
