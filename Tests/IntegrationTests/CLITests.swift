import DataverketCore
import DVCommands
import ArgumentParser
import DataverketBus
import DataverketServer
import Identitet
import Sentral
import DataverketTasks
import Foundation
import Synchronization
import Testing
import Yams
import DataverketTestSupport

/// Captures what a `dv` invocation printed.
final class Captured: Sendable {
    let out = Mutex("")
    let err = Mutex("")
    var terminal: Terminal {
        Terminal(out: { text in self.out.withLock { $0 += text + "\n" } }, err: { text in self.err.withLock { $0 += text + "\n" } })
    }
}

/// Runs `dv ARGS` against `server`; returns exit code, stdout, stderr.
func dv(_ server: TestServer?, _ arguments: String...) async -> (code: Int32, out: String, err: String) {
    var args = arguments
    if let server { args += ["--server", server.baseURL, "--token", server.token] }
    return await run(DVCommand.self, args)
}

/// Runs a `dv`-family command line in-process, capturing its output.
func run(_ root: any ParsableCommand.Type, _ arguments: [String]) async -> (code: Int32, out: String, err: String) {
    let captured = Captured()
    let code = await Terminal.$current.withValue(captured.terminal) {
        await DVCLI.run(root, arguments: arguments)
    }
    return (code, captured.out.withLock { $0 }, captured.err.withLock { $0 })
}

@Suite("dv CLI")
struct CLITests {
    @Test("the README walkthrough: tenant, project, environment, list as JSON", arguments: Backend.allCases)
    func walkthrough(_ backend: Backend) async throws {
        try await withServer(backend) { server in
            #expect(await dv(server, "tenant", "create", "acme").code == 0)
            #expect(await dv(server, "project", "create", "web", "--tenant", "acme").code == 0)
            #expect(await dv(server, "env", "create", "prod", "--tenant", "acme", "--project", "web", "-l", "tier=1").code == 0)
            let list = await dv(server, "project", "list", "--tenant", "acme", "-o", "json")
            #expect(list.code == 0)
            let projects = try #require(try JSONSerialization.jsonObject(with: Data(list.out.utf8)) as? [[String: Any]])
            #expect(projects.map { $0["name"] as? String } == ["web"])
            #expect(projects.first?["tenant"] as? String == "acme")

            let table = await dv(server, "env", "list", "-t", "acme", "-p", "web")
            #expect(table.out.hasPrefix("NAME"))
            #expect(table.out.contains("prod") && table.out.contains("tier=1"))

            let yaml = await dv(server, "env", "get", "prod", "-t", "acme", "-p", "web", "-o", "yaml")
            let decoded = try #require(try Yams.load(yaml: yaml.out) as? [String: Any])
            #expect(decoded["name"] as? String == "prod")
            #expect((decoded["labels"] as? [String: String]) == ["tier": "1"])
            #expect(decoded["version"] as? Int == 1 && yaml.out.contains("version: 1\n"), "integers print as integers: \(yaml.out)")

            let updated = await dv(server, "tenant", "update", "acme", "--label", "tier=gold", "--description", "Acme Corp", "-o", "json")
            #expect(updated.code == 0)
            #expect(updated.out.contains("\"version\" : 2"))
        }
    }

    @Test("project delete --wait follows the task to success; task and audit commands show it", arguments: Backend.allCases)
    func deleteAndTasks(_ backend: Backend) async throws {
        try await withServer(backend) { server in
            _ = await dv(server, "tenant", "create", "acme")
            _ = await dv(server, "project", "create", "web", "-t", "acme")
            _ = await dv(server, "env", "create", "prod", "-t", "acme", "-p", "web")
            let deleted = await dv(server, "project", "delete", "web", "-t", "acme", "--wait", "-o", "json")
            #expect(deleted.code == 0)
            #expect(deleted.out.contains("\"state\" : \"succeeded\""))
            let tasks = await dv(server, "task", "list", "--state", "succeeded", "-o", "json")
            let items = try #require(try JSONSerialization.jsonObject(with: Data(tasks.out.utf8)) as? [[String: Any]])
            #expect(items.count == 1)
            let id = try #require(items.first?["id"] as? String)
            #expect(await dv(server, "task", "get", id).out.contains("project.delete"))
            #expect(await dv(server, "task", "wait", id).code == 0)
            let cancel = await dv(server, "task", "cancel", id)
            #expect(cancel.code == 1)
            #expect(cancel.err.contains("409 conflict"))
            let audit = await dv(server, "audit", "list", "--action", "environment.delete")
            #expect(audit.code == 0 && audit.out.contains("environment/prod"))
            #expect(await dv(server, "audit", "list", "--since", "1h").out.contains("tenant.create"))
        }
    }

    @Test("errors: refused requests exit 1 with the server's reason; usage errors exit 64")
    func errors() async throws {
        try await withServer(.sqlite) { server in
            _ = await dv(server, "tenant", "create", "acme")
            let duplicate = await dv(server, "tenant", "create", "acme")
            #expect(duplicate.code == 1)
            #expect(duplicate.err.contains("already exists") && duplicate.err.contains("409"))
            let badName = await dv(server, "tenant", "create", "Acme_Corp")
            #expect(badName.code == 1 && badName.err.contains("DNS label") && badName.err.contains("422"))
            let missing = await dv(server, "project", "get", "nope", "-t", "acme")
            #expect(missing.code == 1 && missing.err.contains("not found"))
            let hasProjects = await dv(server, "project", "create", "web", "-t", "acme")
            #expect(hasProjects.code == 0)
            let conflict = await dv(server, "tenant", "delete", "acme")
            #expect(conflict.code == 1 && conflict.err.contains("delete them first"))

            #expect(await dv(server, "tenant", "create", "x", "--label", "novalue").code == 64)
            #expect(await dv(server, "tenant", "update", "acme").code == 64)
            #expect(await dv(server, "task", "list", "--state", "sleeping").code == 64)
            #expect(await dv(server, "tenant", "list", "--limit", "0").code == 64)
            #expect(await dv(server, "audit", "list", "--since", "last tuesday").code == 64)
            #expect(await dv(server, "project", "list").code == 64)
            #expect(await dv(server, "frobnicate").code == 64)
            let oversized = await dv(server, "tenant", "create", "big", "--description", String(repeating: "x", count: 5000))
            #expect(oversized.code == 1 && oversized.err.contains("description"))
        }
    }

    @Test("task list --state blocked shows the runbook; task get shows a saga's steps")
    func blockedRunbookAndSagaSteps() async throws {
        try await withServer(.sqlite) { server in
            let blocked = try await server.client.createTask(body: .json(.init(kind: .noop))).accepted.body.json
            let saga = try await server.client.createTask(body: .json(.init(kind: .sagaDemo))).accepted.body.json
            _ = await dv(server, "task", "wait", saga.id)
            // The worker ran the noop already; a blocked report for a fresh task is what a worker sends when its
            // dependency is down, so project one onto a task queued with no worker behind it.
            let waiting = try await server.sentral.database.transaction { session in
                try await server.sentral.tasks.enqueue(session, kind: "needs-nett", service: "maskin",
                                                       resource: ResourceRef(kind: "engine", id: ULID.make(), name: "m1"),
                                                       tenantID: nil, projectID: nil, context: testContext)
            }
            try await server.sentral.tasks.apply(TaskReport(taskID: waiting.id, state: .blocked, reason: "waiting for nett: it is down",
                                                            dependency: "nett", attempt: 1, worker: "test"))
            let list = await dv(server, "task", "list", "--state", "blocked")
            #expect(list.code == 0)
            #expect(list.out.contains("RUNBOOK"))
            #expect(list.out.contains(waiting.id) && list.out.contains("docs/runbooks/dependency-blocked.md"))
            #expect(list.out.contains("waiting for nett: it is down"))
            #expect(!list.out.contains(blocked.id))

            let get = await dv(server, "task", "get", saga.id)
            #expect(get.code == 0)
            #expect(get.out.contains("Saga completed"))
            for step in BuiltinTasks.sagaDemoSteps { #expect(get.out.contains(step)) }
            let json = await dv(server, "task", "get", saga.id, "-o", "json")
            let object = try #require(try JSONSerialization.jsonObject(with: Data(json.out.utf8)) as? [String: Any])
            #expect((object["saga"] as? [String: Any])?["phase"] as? String == "completed")
            #expect(await dv(server, "task", "get", "tsk_nope").code == 1)
        }
    }

    @Test("dvid: login with the bootstrap credential, whoami, dv on the saved session (refreshed when expired), logout")
    func dvidSession() async throws {
        let bus = InProcessBus(logger: quietLogger)
        try await bus.provision()
        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("dvid-\(ULID.make())").path
        try FileManager.default.createDirectory(atPath: scratch, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: scratch) }
        try await withDatabase(.sqlite) { database in
            let sentral = ControlPlane(database: database, bus: bus)
            let identity = Identitet(database: database, issuer: testIssuer, masterKey: .random())
            let credential = try #require(try await identity.prepareBootstrap())
            try SecretFile.write(credential + "\n", to: scratch + "/bootstrap-token")
            try await DataverketServer.withRunning(sentral: sentral, identity: identity,
                                                   configuration: ServerConfiguration(host: "127.0.0.1", port: 0),
                                                   logger: quietLogger, bus: bus) { port in
                let common = ["--server", "http://127.0.0.1:\(port)", "--config-dir", scratch]
                func dvid(_ arguments: String...) async -> (code: Int32, out: String, err: String) {
                    await run(DVIDCommand.self, arguments + common)
                }
                func dvLocal(_ arguments: String...) async -> (code: Int32, out: String, err: String) {
                    await run(DVCommand.self, arguments + common)
                }
                #expect(await dvLocal("tenant", "list").code == 1, "no session yet")
                let login = await dvid("login", "--bootstrap-token-file", scratch + "/bootstrap-token")
                #expect(login.code == 0, "\(login.err)")
                #expect(login.out.contains("as user:admin"))
                let mode = try FileManager.default.attributesOfItem(atPath: scratch + "/credentials.json")[.posixPermissions] as? NSNumber
                #expect(mode?.intValue == 0o600)
                let me = await dvid("whoami")
                #expect(me.code == 0 && me.out.contains("user:admin") && me.out.contains("platform-admin"))
                #expect(await dvLocal("tenant", "create", "acme").code == 0)

                // An expired access token is refreshed silently, and the new session saved.
                let path = scratch + "/credentials.json"
                let saved = try String(contentsOfFile: path, encoding: .utf8)
                let expired = saved.replacingOccurrences(of: #""expiresAt" : "[^"]*""#, with: #""expiresAt" : "2000-01-01T00:00:00Z""#,
                                                         options: .regularExpression)
                #expect(expired != saved)
                try SecretFile.write(expired, to: path)
                let refreshed = await dvLocal("tenant", "list")
                #expect(refreshed.out.contains("acme"), "\(refreshed.err)")
                #expect(try String(contentsOfFile: path, encoding: .utf8) != expired)

                let again = await dvid("login", "--bootstrap-token-file", scratch + "/bootstrap-token")
                #expect(again.code == 1 && again.err.contains("not a valid bootstrap credential"))
                let sso = await dvid("login")
                #expect(sso.code == 1 && sso.err.contains("single sign-on is not configured"), "without SSO, the device flow says so")
                #expect(await dvid("login", "--bogus").code == 64)
                #expect(await dvid("login", "--bootstrap-token-file", scratch + "/missing").code == 1)
                let logout = await dvid("logout")
                #expect(logout.code == 0 && logout.out.contains("logged out"))
                let after = await dvid("whoami")
                #expect(after.code == 1 && after.err.contains("401"))
                #expect(await dvid("logout").out.contains("not logged in"))
            }
        }
    }

    @Test("dvid sa, token and role: an API key made on the CLI works as DV_TOKEN would; usage errors exit 64")
    func dvidAdministration() async throws {
        try await withServer(.sqlite) { server in
            func dvid(_ arguments: String...) async -> (code: Int32, out: String, err: String) {
                await run(DVIDCommand.self, arguments + ["--server", server.baseURL, "--token", server.token])
            }
            #expect(await dvid("sa", "create", "deployer", "--description", "CD").code == 0)
            #expect(await dvid("sa", "list").out.contains("sa:deployer"))
            let key = await dvid("token", "create", "--sa", "deployer", "--ttl", "2h")
            #expect(key.code == 0 && key.out.hasPrefix("dvk_") && key.err.contains("shown once"))
            let apiKey = key.out.trimmingCharacters(in: .whitespacesAndNewlines)
            #expect(await dvid("role", "bind", "sa:deployer", "viewer").code == 0)
            #expect(await dvid("role", "list", "--subject", "sa:deployer").out.contains("viewer"))
            let asDeployer = await run(DVCommand.self, ["tenant", "list", "--server", server.baseURL, "--token", apiKey])
            #expect(asDeployer.code == 0)
            let refused = await run(DVCommand.self, ["tenant", "create", "x", "--server", server.baseURL, "--token", apiKey])
            #expect(refused.code == 1 && refused.err.contains("403"))
            let id = try #require(try await server.client.listRoleBindings(query: .init(subject: "sa:deployer")).ok.body.json.items.first?.id)
            #expect(await dvid("role", "unbind", id).code == 0)
            #expect(await dvid("role", "unbind", id).code == 1)
            // A scope that does not exist grants nothing: refused (issue 16 §10), by name or id.
            let ghost = await dvid("role", "bind", "sa:deployer", "tenant-admin", "--tenant", "ta")
            #expect(ghost.code == 1 && ghost.err.contains("404") && ghost.err.contains("ta"), "\(ghost.err)")
            _ = await run(DVCommand.self, ["tenant", "create", "real", "--server", server.baseURL, "--token", server.token])
            #expect(await dvid("role", "bind", "sa:deployer", "tenant-admin", "--tenant", "real").code == 0)

            #expect(await dvid("role", "bind", "user:x", "superuser").code == 64)
            #expect(await dvid("role", "bind", "user:x", "viewer", "--tenant", "a", "--project", "b").code == 64)
            #expect(await dvid("token", "create", "--sa", "deployer", "--ttl", "5x").code == 64)
            #expect(await dvid("token", "create", "--sa", "deployer", "--ttl", "10s").code == 64)
            #expect(await dvid("sa", "create", "Bad Name").code == 1)
            #expect(await dvid("token", "create", "--sa", "ghost").code == 1)
        }
    }

    @Test("refused, timed out, unreachable and malformed server URLs are each told apart")
    func unreachable() async throws {
        let refused = await dv(nil, "tenant", "list", "--server", "http://127.0.0.1:1")
        #expect(refused.code == 1)
        #expect(refused.err.contains("nothing is listening at http://127.0.0.1:1 (connection refused)"), "\(refused.err)")
        // A listener that accepts connections (the kernel completes the handshake) but never answers.
        let silent = try SilentListener()
        defer { silent.close() }
        let timedOut = await dv(nil, "tenant", "list", "--server", "http://127.0.0.1:\(silent.port)", "--request-timeout", "2")
        #expect(timedOut.code == 1)
        #expect(timedOut.err.contains("did not answer in time"), "\(timedOut.err)")
        #expect(!timedOut.err.contains("cannot reach"), "\(timedOut.err)")
        let nowhere = await dv(nil, "tenant", "list", "--server", "http://no-such-host.invalid:8080")
        #expect(nowhere.code == 1)
        #expect(nowhere.err.contains("cannot reach the Dataverket server at http://no-such-host.invalid:8080"), "\(nowhere.err)")
        let malformed = await dv(nil, "tenant", "list", "--server", "ftp://x")
        #expect(malformed.code == 64)
        #expect(await dv(nil, "tenant", "list", "--request-timeout", "0").code == 64)
    }

    @Test("an error answer of 80,000 problems is bounded by the server and printed as the server's answer")
    func hugeErrorAnswer() async throws {
        try await withServer(.sqlite) { server in
            var site = "devices:\n"
            for index in 0..<80_000 { site += "  - {name: d\(index), colour: red}\n" }
            let path = FileManager.default.temporaryDirectory.appendingPathComponent("dv-huge-\(ULID.make()).yaml").path
            try site.write(toFile: path, atomically: true, encoding: .utf8)
            defer { try? FileManager.default.removeItem(atPath: path) }
            // Generous deadlines: validating 80,000 devices takes seconds on an idle machine and many more on a busy one
            // (this is about the answer's shape, not its speed).
            let raw = try await server.raw(.POST, "/v1/inventory/apply", body: String(decoding: try JSONSerialization.data(withJSONObject: [
                "files": [["name": "huge.yaml", "content": site]]]), as: UTF8.self), timeout: .seconds(300))
            #expect(raw.status == 422)
            #expect(raw.body.utf8.count < 256 << 10, "an error answer of \(raw.body.utf8.count) bytes")
            let problem = try server.problem(raw)
            #expect((problem["errors"] as? [Any])?.count == 100)
            #expect((problem["errorsTotal"] as? Int ?? 0) > 80_000, "\(problem["errorsTotal"] ?? "none")")
            let applied = await dv(server, "apply", "-f", path, "--request-timeout", "300")
            #expect(applied.code == 1)
            #expect(applied.err.contains("422") && applied.err.contains("more ("), "\(applied.err.suffix(300))")
            #expect(!applied.err.contains("cannot reach"))
        }
    }

    @Test("list pages through everything, or stops at --limit")
    func listPaging() async throws {
        try await withServer(.sqlite) { server in
            for index in 0..<12 { _ = try await server.client.createTenant(body: .json(.init(name: "t\(index)"))).created }
            let all = await dv(server, "tenant", "list", "-o", "json")
            #expect((try JSONSerialization.jsonObject(with: Data(all.out.utf8)) as? [Any])?.count == 12)
            let some = await dv(server, "tenant", "list", "--limit", "5", "-o", "json")
            #expect((try JSONSerialization.jsonObject(with: Data(some.out.utf8)) as? [Any])?.count == 5)
        }
    }
}
