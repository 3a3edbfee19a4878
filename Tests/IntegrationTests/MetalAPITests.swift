import DataverketCore
import DataverketStore
import Foundation
import Maskin
import Sentral
import DataverketTasks
import SQLKit
import Testing
import DataverketTestSupport

/// `/v1/machines` and `dvce machine`: enrollment, lifecycle actions and their refusals, audit and events, bad input.
@Suite("Machines API (Maskin)")
struct MetalAPITests {
    static func enrollBody(name: String = "node-1", mac: String = "52:54:00:12:34:56", credentials: String = "file:/etc/dv/bmc-node-1",
                           verify: Bool = false) -> String {
        """
        {"name": "\(name)", "mac": "\(mac)", "verify": \(verify),
         "bmc": {"protocol": "redfish", "address": "127.0.0.1:18000", "credentials": "\(credentials)", "tls": "plaintext"}}
        """
    }

    @Test("enroll, refuse an action the state does not allow (409 listing the allowed ones), audit and events", arguments: Backend.allCases)
    func enrollAndRefuse(_ backend: Backend) async throws {
        try await withMetalServer(backend) { metal in
            let server = metal.server
            let created = try await server.raw(.POST, "/v1/machines", body: Self.enrollBody())
            #expect(created.status == 201, "\(created.body)")
            let machine = try #require(try JSONSerialization.jsonObject(with: Data(created.body.utf8)) as? [String: Any])["machine"] as? [String: Any]
            #expect((machine?["state"] as? [String: Any])?["name"] as? String == "enrolled")
            #expect((machine?["bmc"] as? [String: Any])?["credentials"] as? String == "file:/etc/dv/bmc-node-1")

            let refused = try await server.raw(.POST, "/v1/machines/node-1/actions", body: #"{"action": "deploy"}"#)
            #expect(refused.status == 409)
            let problem = try server.problem(refused)
            let detail = try #require(problem["detail"] as? String)
            #expect(detail.contains("cannot deploy") && detail.contains("allowed actions: verify, retire, maintain"), "\(detail)")

            let noCluster = try await server.raw(.POST, "/v1/machines/node-1/actions", body: #"{"action": "allocate"}"#)
            #expect(noCluster.status == 422)

            let maintained = try await server.raw(.POST, "/v1/machines/node-1/actions", body: #"{"action": "maintain", "reason": "PSU swap"}"#)
            #expect(maintained.status == 200, "\(maintained.body)")
            #expect(maintained.body.contains("PSU swap"))
            let noReason = try await server.raw(.POST, "/v1/machines/node-1/actions", body: #"{"action": "maintain"}"#)
            #expect(noReason.status == 409 || noReason.status == 422)

            // Every transition is audited and announced on dv.maskin.evt.machine.<state>, in its transaction.
            let subjects = try await server.database.read { session in
                try await session.all("SELECT subject FROM \(session.table("tasks", "outbox")) ORDER BY seq").map {
                    try $0.decode(column: "subject", as: String.self)
                }
            }
            #expect(subjects.contains("dv.maskin.evt.machine.enrolled"))
            #expect(subjects.contains("dv.maskin.evt.machine.maintenance"))
            let actions = try await server.sentral.audit.list(AuditFilter(), limit: 100, cursor: nil).items.map(\.action)
            #expect(actions.contains("maskin.machine.enroll") && actions.contains("maskin.machine.maintain"))
            #expect(!actions.contains("maskin.machine.deploy"))

            // The CLI shows it, with the reason and the allowed actions.
            let shown = await metal.dvce("machine", "show", "node-1")
            #expect(shown.code == 0, "\(shown.err)")
            #expect(shown.out.contains("maintenance: PSU swap") && shown.out.contains("allowed:   retire, unmaintain"), "\(shown.out)")
            let listed = await metal.dvce("machine", "list", "--state", "maintenance")
            #expect(listed.code == 0 && listed.out.contains("node-1"), "\(listed)")
            let refusedCLI = await metal.dvce("machine", "deploy", "node-1")
            #expect(refusedCLI.code != 0 && refusedCLI.err.contains("allowed actions: retire, unmaintain"), "\(refusedCLI)")
        }
    }

    @Test("bad input: malformed, oversized, a secret instead of a reference, bad MAC, duplicates, unknown fields — nothing recorded")
    func badInput() async throws {
        try await withMetalServer(.sqlite) { metal in
            let server = metal.server
            #expect(try await server.raw(.POST, "/v1/machines", body: "{not json").status == 400)
            let huge = String(repeating: "x", count: 2 << 20)
            #expect(try await server.raw(.POST, "/v1/machines", body: #"{"name": "\#(huge)"}"#).status == 413)
            let secret = try await server.raw(.POST, "/v1/machines", body: Self.enrollBody(credentials: "hunter2"))
            #expect(secret.status == 422)
            #expect(try server.problem(secret)["detail"] as? String == "bmc.credentials: must be a secret reference (file:/path or env:NAME), never the secret itself")
            #expect(!secret.body.contains("hunter2"))
            #expect(try await server.raw(.POST, "/v1/machines", body: Self.enrollBody(mac: "52:54:00:zz:34:56")).status == 422)
            #expect(try await server.raw(.POST, "/v1/machines", body: Self.enrollBody(name: "Bad Name")).status == 422)
            let unknownField = try await server.raw(.POST, "/v1/machines",
                                                    body: #"{"name": "n", "mac": "52:54:00:12:34:56", "bmc": {}, "colour": "red"}"#)
            #expect(unknownField.status == 400 || unknownField.status == 422)
            #expect(try await metal.machines.list().items.isEmpty)

            #expect(try await server.raw(.POST, "/v1/machines", body: Self.enrollBody()).status == 201)
            let sameName = try await server.raw(.POST, "/v1/machines", body: Self.enrollBody(mac: "52:54:00:00:00:99"))
            #expect(sameName.status == 409)
            let sameMAC = try await server.raw(.POST, "/v1/machines", body: Self.enrollBody(name: "node-2", mac: "52-54-00-12-34-56"))
            #expect(sameMAC.status == 409)
            #expect(try server.problem(sameMAC)["detail"] as? String == "machine 'node-1' already has this MAC 52:54:00:12:34:56")
            #expect(try await metal.machines.list().items.count == 1)
            #expect(try await server.raw(.POST, "/v1/machines/nope/actions", body: #"{"action": "inspect"}"#).status == 404)
            #expect([400, 422].contains(try await server.raw(.POST, "/v1/machines/node-1/actions", body: #"{"action": "explode"}"#).status))
            #expect(try await server.raw(.POST, "/v1/machines/node-1/power", body: #"{"action": "on"}"#).status == 202)

            // The CLI refuses bad arguments before it calls anything.
            let badBMC = await metal.dvce("machine", "enroll", "node-3", "--mac", "52:54:00:00:00:03", "--bmc", "http://x",
                                          "--bmc-credentials", "file:/x")
            #expect(badBMC.code != 0 && badBMC.err.contains("--bmc must be redfish://"), "\(badBMC)")
            let badPower = await metal.dvce("machine", "power", "explode", "node-1")
            #expect(badPower.code != 0 && badPower.err.contains("power action must be"), "\(badPower)")
        }
    }

    @Test("unauthenticated callers get 401; readers may list but not enroll, act or power")
    func access() async throws {
        try await withMetalServer(.sqlite) { metal in
            let server = metal.server
            #expect(try await server.raw(.GET, "/v1/machines", headers: ["Authorization": "Bearer nope"]).status == 401)
            #expect(try await server.raw(.POST, "/v1/machines", body: Self.enrollBody(), headers: ["Authorization": "Bearer nope"]).status == 401)
            let reader = try await server.token(for: "user:reader", roles: [.viewer])
            let auth = ["Authorization": "Bearer \(reader)"]
            #expect(try await server.raw(.GET, "/v1/machines", headers: auth).status == 200)
            #expect(try await server.raw(.POST, "/v1/machines", body: Self.enrollBody(), headers: auth).status == 403)
            #expect(try await server.raw(.POST, "/v1/machines", body: Self.enrollBody()).status == 201)
            #expect(try await server.raw(.POST, "/v1/machines/node-1/actions", body: #"{"action": "retire"}"#, headers: auth).status == 403)
            #expect(try await server.raw(.POST, "/v1/machines/node-1/power", body: #"{"action": "off"}"#, headers: auth).status == 403)
            #expect(try await metal.machines.get("node-1").state == .enrolled)
        }
    }
}
