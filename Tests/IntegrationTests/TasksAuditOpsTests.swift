import DataverketClient
import DataverketServer
import DataverketStore
import DataverketBus
import Foundation
import Identitet
import Sentral
import DataverketTasks
import Testing
import DataverketTestSupport

@Suite("Tasks, audit and operations API")
struct TasksAuditOpsTests {
    @Test("deleting a project with environments is a task that removes them first", arguments: Backend.allCases)
    func projectDeleteTask(_ backend: Backend) async throws {
        // Live: the audit record's source address is the client's socket, which router mode does not have.
        try await withServer(backend) { server in
            let client = server.client
            _ = try await client.createTenant(body: .json(.init(name: "acme"))).created
            let project = try await client.createProject(path: .init(tenant: "acme"), body: .json(.init(name: "web"))).created.body.json
            for name in ["dev", "staging", "prod"] {
                _ = try await client.createEnvironment(path: .init(tenant: "acme", project: "web"), body: .json(.init(name: name))).created
            }
            let response = try await server.raw(.DELETE, "/v1/tenants/acme/projects/web", headers: ["X-Correlation-ID": "delete-web-1"])
            #expect(response.status == 202)
            let task = try JSONDecoder().decode(TaskSummary.self, from: Data(response.body.utf8))
            #expect(response.headers["location"] == "/v1/tasks/\(task.id)")
            #expect(task.kind == "project.delete" && task.correlationId == "delete-web-1")
            #expect(task.resource.id == project.id)

            var finished: Components.Schemas.Task?
            for _ in 0..<200 {
                let current = try await client.getTask(path: .init(task: task.id)).ok.body.json
                if current.state == .succeeded || current.state == .failed { finished = current; break }
                try await Task.sleep(for: .milliseconds(25))
            }
            #expect(finished?.state == .succeeded)
            #expect(finished?.progress == 100)
            #expect(finished?.finishedAt != nil && finished?.startedAt != nil)
            #expect(try await server.raw(.GET, "/v1/tenants/acme/projects/web").status == 404)

            // The environments went first, each audited under the request's correlation ID and the task.
            let audit = try await client.listAudit(query: .init(actor: nil)).ok.body.json.items.filter { $0.correlationId == "delete-web-1" }
            #expect(audit.map(\.action).sorted() == ["environment.delete", "environment.delete", "environment.delete", "project.delete", "project.delete.requested"])
            #expect(audit.filter { $0.action == "environment.delete" }.allSatisfy { $0.taskId == task.id })
            let requested = try #require(audit.first { $0.action == "project.delete.requested" })
            #expect(requested.sourceAddress == "127.0.0.1")

            // Task listing and filters.
            let succeeded = try await client.listTasks(query: .init(state: .succeeded)).ok.body.json.items
            #expect(succeeded.map(\.id) == [task.id])
            #expect(try await client.listTasks(query: .init(state: .queued)).ok.body.json.items.isEmpty)
            #expect(try await client.listTasks(query: .init(resource: project.id)).ok.body.json.items.count == 1)
            // A finished task cannot be cancelled; an unknown one is 404; a bad state filter is 400.
            #expect(try await server.raw(.POST, "/v1/tasks/\(task.id)/cancel").status == 409)
            #expect(try await server.raw(.POST, "/v1/tasks/tsk_01M841FG94ZY8ZS953BJ4HXVBE/cancel").status == 404)
            #expect(try await server.raw(.GET, "/v1/tasks?state=sleeping").status == 400)
        }
    }

    @Test("built-in engine tasks through the API: noop succeeds, bad input is refused", arguments: Backend.allCases)
    func builtinTasks(_ backend: Backend) async throws {
        try await withServer(backend, mode: .router) { server in
            let task = try await server.client.createTask(body: .json(.init(kind: .noop))).accepted.body.json
            #expect(task.kind == "noop" && task.state == .queued)
            var current = task
            for _ in 0..<200 where current.state != .succeeded {
                try await Task.sleep(for: .milliseconds(25))
                current = try await server.client.getTask(path: .init(task: task.id)).ok.body.json
            }
            #expect(current.state == .succeeded)
            #expect(try await server.raw(.POST, "/v1/tasks", body: #"{"kind":"reboot-everything"}"#).status == 422)
            #expect(try await server.raw(.POST, "/v1/tasks", body: #"{"kind":"sleep","milliseconds":-1}"#).status == 422)
            #expect(try await server.raw(.POST, "/v1/tasks", body: #"{"kind":"sleep","failAttempts":99}"#).status == 422)
            #expect(try await server.raw(.POST, "/v1/tasks", body: "[").status == 400)
            let audit = try await server.client.listAudit(query: .init(action: "task.create")).ok.body.json.items
            #expect(audit.count == 1)
        }
    }

    @Test("saga-demo through the API: GET shows the saga log; a failing step unwinds; bad input is refused", arguments: Backend.allCases)
    func sagaDemo(_ backend: Backend) async throws {
        try await withServer(backend, mode: .router) { server in
            func finished(_ id: String) async throws -> Components.Schemas.Task {
                var task = try await server.client.getTask(path: .init(task: id)).ok.body.json
                for _ in 0..<200 where ![.succeeded, .failed, .cancelled].contains(task.state) {
                    try await Task.sleep(for: .milliseconds(25))
                    task = try await server.client.getTask(path: .init(task: id)).ok.body.json
                }
                return task
            }
            let ok = try await server.client.createTask(body: .json(.init(kind: .sagaDemo))).accepted.body.json
            let done = try await finished(ok.id)
            #expect(done.state == .succeeded)
            #expect(done.saga?.phase == .completed)
            #expect(done.saga?.steps.map(\.name) == BuiltinTasks.sagaDemoSteps)
            #expect(done.saga?.steps.allSatisfy { $0.state == .done && $0.runs == 1 } == true)

            let failing = try await server.client.createTask(body: .json(.init(kind: .sagaDemo, failAtStep: 2))).accepted.body.json
            let failed = try await finished(failing.id)
            #expect(failed.state == .failed)
            #expect(failed.reason == "step 2 was told to fail; undone: register, allocate")
            #expect(failed.saga?.phase == .unwound)
            #expect(failed.saga?.steps.map(\.state) == [.undone, .undone, .pending])

            // A task that is not a saga has no log.
            let noop = try await server.client.createTask(body: .json(.init(kind: .noop))).accepted.body.json
            #expect(try await finished(noop.id).saga == nil)

            for body in [#"{"kind":"saga-demo","failAtStep":4}"#, #"{"kind":"saga-demo","failAtStep":0}"#,
                         #"{"kind":"saga-demo","milliseconds":60001}"#, #"{"kind":"sleep","failAtStep":1}"#] {
                let response = try await server.raw(.POST, "/v1/tasks", body: body)
                #expect(response.status == 422, "\(body)")
                #expect(try server.problem(response)["type"] as? String == "https://dataverket.dev/problems/invalid-argument")
            }
            #expect(try await server.raw(.POST, "/v1/tasks", body: #"{"kind":"saga-demo","failAtStep":"two"}"#).status == 422)
            #expect(try await server.raw(.POST, "/v1/tasks", body: #"{"kind":"saga-demo","failAtStep":1,"#).status == 400)
            #expect(try await server.raw(.POST, "/v1/tasks", body: #"{"kind":"saga-demo"}"#, contentType: "text/plain").status == 415)
            let huge = #"{"kind":"saga-demo","pad":""# + String(repeating: "x", count: 2 << 20) + #""}"#
            #expect(try await server.raw(.POST, "/v1/tasks", body: huge).status == 413)
            // Refused input created nothing.
            #expect(try await server.client.listTasks(query: .init(kind: "saga-demo")).ok.body.json.items.count == 2)
        }
    }

    @Test("a queued task is cancelled through the API", arguments: Backend.allCases)
    func cancelThroughAPI(_ backend: Backend) async throws {
        try await withServer(backend, mode: .router, worker: false) { server in
            let client = server.client
            _ = try await client.createTenant(body: .json(.init(name: "acme"))).created
            _ = try await client.createProject(path: .init(tenant: "acme"), body: .json(.init(name: "web"))).created
            let task = try await client.deleteProject(path: .init(tenant: "acme", project: "web")).accepted.body.json
            #expect(task.state == .queued)
            let cancelled = try await client.cancelTask(path: .init(task: task.id)).accepted.body.json
            #expect(cancelled.state == .cancelled)
            let audit = try await client.listAudit(query: .init(resource: task.id)).ok.body.json.items
            #expect(audit.map(\.action) == ["task.cancel"])
        }
    }

    @Test("audit filters by resource, actor, action and time", arguments: Backend.allCases)
    func auditFilters(_ backend: Backend) async throws {
        try await withServer(backend, mode: .router) { server in
            let client = server.client
            let before = Date().addingTimeInterval(-1)
            let tenant = try await client.createTenant(body: .json(.init(name: "acme"))).created.body.json
            _ = try await client.updateTenant(path: .init(tenant: "acme"), headers: .init(ifMatch: "\"1\""), body: .json(.init(description: "d"))).ok
            _ = try await client.createTenant(body: .json(.init(name: "other"))).created
            let byResource = try await client.listAudit(query: .init(resource: tenant.id)).ok.body.json.items
            #expect(byResource.map(\.action) == ["tenant.update", "tenant.create"])
            #expect(byResource.allSatisfy { $0.actor == "user:test-admin" })
            #expect(try await client.listAudit(query: .init(actor: "user:test-admin")).ok.body.json.items.count == 3)
            #expect(try await client.listAudit(query: .init(actor: "someone-else")).ok.body.json.items.isEmpty)
            #expect(try await client.listAudit(query: .init(since: before)).ok.body.json.items.count == 3)
            #expect(try await client.listAudit(query: .init(until: before)).ok.body.json.items.isEmpty)
            let page = try await client.listAudit(query: .init(limit: 2)).ok.body.json
            #expect(page.items.count == 2 && page.nextCursor != nil)
            let rest = try await client.listAudit(query: .init(limit: 2, cursor: page.nextCursor)).ok.body.json
            #expect(rest.items.count == 1 && rest.nextCursor == nil)
            let inverted = try await server.raw(.GET, "/v1/audit?since=2026-01-02T00:00:00Z&until=2026-01-01T00:00:00Z")
            #expect(inverted.status == 422)
            #expect(try await server.raw(.GET, "/v1/audit?since=yesterday").status == 400)
        }
    }

    @Test("health, readiness, metrics and correlation IDs", arguments: Backend.allCases)
    func operations(_ backend: Backend) async throws {
        try await withServer(backend) { server in
            #expect(try await server.client.getHealth().ok.body.json.status == "ok")
            #expect(try await server.client.getReadiness().ok.body.json.status == "ok")
            let created = try await server.raw(.POST, "/v1/tenants", body: #"{"name":"acme"}"#, headers: ["X-Correlation-ID": "abc-123"])
            #expect(created.headers["x-correlation-id"] == "abc-123")
            let generated = try await server.raw(.GET, "/v1/tenants")
            #expect((generated.headers["x-correlation-id"]?.count ?? 0) == 26)
            let audit = try await server.client.listAudit().ok.body.json.items
            #expect(audit.first?.correlationId == "abc-123")
            let metrics = try await server.raw(.GET, "/metrics")
            #expect(metrics.status == 200)
            #expect(metrics.body.contains(#"dv_http_requests_total{route="/v1/tenants",method="POST",status="201"} 1"#))
            #expect(metrics.body.contains("dv_http_request_duration_seconds_bucket"))
            #expect(metrics.body.contains(#"dv_tasks{state="queued"} 0"#))
        }
    }

    @Test("readiness fails with 503 when the store is unreachable")
    func readinessFailsWithoutStore() async throws {
        let backend = try PostgresBackend(url: "postgres://nobody@127.0.0.1:1/none", logger: quietLogger)
        let database = Database(backend: backend, logger: quietLogger)
        let bus = InProcessBus(logger: quietLogger)
        try await bus.provision()
        try await database.whileRunning {
            // The server starts (and says it is not ready) although the store is down.
            let identity = Identitet(database: database, issuer: testIssuer, masterKey: .random())
            try await DataverketServer.withRunning(sentral: ControlPlane(database: database), identity: identity,
                                                   configuration: ServerConfiguration(host: "127.0.0.1", port: 0),
                                                   logger: quietLogger, bus: bus, worker: false) { port in
                let server = TestServer(baseURL: "http://127.0.0.1:\(port)", database: database, sentral: ControlPlane(database: database),
                                        identity: identity, token: "none")
                let response = try await server.raw(.GET, "/readyz")
                #expect(response.status == 503)
                #expect(try server.problem(response)["type"] as? String == "https://dataverket.dev/problems/unavailable")
                #expect(try await server.raw(.GET, "/healthz").status == 200)
            }
        }.get()
    }
}

/// The parts of a task the raw-HTTP checks read.
struct TaskSummary: Decodable {
    struct Resource: Decodable { var kind: String; var id: String }
    var id: String
    var kind: String
    var correlationId: String
    var resource: Resource
}
