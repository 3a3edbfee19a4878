import DataverketBus
import DataverketCore
import DVCommands
import Foundation
import Nett
import NettIntent
import Sentral
import DataverketTasks
import DataverketServer
import Testing
import DataverketTestSupport

/// `/v1/network/changesets` and `/v1/network/drift` without a lab: bad input of every kind is refused before any device
/// is touched, access is enforced, and a changeset whose devices cannot be reached fails visibly. The lab test
/// (NetworkLabTests) covers the path where devices answer.
@Suite("Network changesets API (Nett)")
struct NetworkChangesetAPITests {
    /// A server whose Nett knows devices that do not exist (sockets in a directory that is not there).
    static func withChangesetServer(_ backend: Backend, devices: Bool = true,
                                    _ body: @Sendable @escaping (TestServer) async throws -> Void) async throws {
        let bus = InProcessBus(logger: quietLogger)
        try await bus.provision()
        try await withDatabase(backend) { database in
            let sentral = ControlPlane(database: database, bus: bus)
            let nett = NettPlane(sentral: sentral, devices: devices ? unreachableDevices() : nil, logger: quietLogger)
            try await runServer(sentral, bus: bus, nett: nett) { server in try await body(server) }
        }
    }

    /// Two devices whose sockets are in a directory that does not exist: every read of them fails at once.
    static func unreachableDevices() -> NetworkDevices {
        let gone = "/nonexistent-\(ULID.make())"
        return NetworkDevices(catalog: DeviceCatalog(devices: [
            DeviceTarget(name: "osl1-leaf1", driver: "ovs", database: gone + "/db.sock"),
            DeviceTarget(name: "osl1-border1", driver: "frr", namespace: "dv-none", vtySocket: gone, runDirectory: gone),
        ]))
    }

    static func intentJSON(_ change: (inout NetworkIntent) -> Void = { _ in }) throws -> String {
        var intent = try NetworkIntent.load(yaml: String(contentsOfFile: NetworkLabTests.example, encoding: .utf8))
        change(&intent)
        return String(decoding: try JSONEncoder().encode(intent), as: UTF8.self)
    }

    @Test("bad input: malformed, oversized, failing verification, out of range, unknown device — refused, nothing stored",
          arguments: Backend.allCases)
    func badInput(_ backend: Backend) async throws {
        try await Self.withChangesetServer(backend) { server in
            let malformed = try await server.raw(.POST, "/v1/network/changesets", body: "{\"intent\": ")
            #expect(malformed.status == 400, "\(malformed)")
            let missing = try await server.raw(.POST, "/v1/network/changesets", body: "{}")
            #expect(missing.status == 422 && missing.body.contains("intent"), "\(missing)")
            let wrongShape = try await server.raw(.POST, "/v1/network/changesets", body: "{\"intent\": {\"datacenter\": 7}}")
            #expect(wrongShape.status == 422 && wrongShape.body.contains("datacenter"), "\(wrongShape)")
            let huge = try await server.raw(.POST, "/v1/network/changesets",
                                            body: "{\"intent\": {\"x\": \"" + String(repeating: "a", count: 40 << 20) + "\"}}")
            #expect(huge.status == 413, "\(huge.status)")

            let invalid = try Self.intentJSON { intent in
                intent.networks[2].prefix = "10.10.0.0/23"
                intent.networks[3].vlan = 4000
                intent.rules = (intent.rules ?? []) + [.init(from: "external", to: "oob", protocol: "tcp", port: 22)]
            }
            let refused = try await server.raw(.POST, "/v1/network/changesets", body: "{\"intent\": \(invalid)}")
            #expect(refused.status == 422, "\(refused)")
            let problem = try server.problem(refused)
            let violations = (problem["errors"] as? [[String: Any]] ?? []).map { "\($0["field"] ?? "") \($0["message"] ?? "")" }
            for needle in ["network oob, network mgmt overlapping-prefix", "vlan-out-of-range", "network external, network oob policy-violation"] {
                #expect(violations.contains { $0.contains(needle) }, "\(needle) not in \(violations)")
            }

            let valid = try Self.intentJSON()
            let range = try await server.raw(.POST, "/v1/network/changesets", body: "{\"intent\": \(valid), \"confirmWithin\": 1}")
            #expect(range.status == 422 && range.body.contains("confirmWithin"), "\(range)")
            let unknown = try await server.raw(.POST, "/v1/network/changesets", body: "{\"intent\": \(valid), \"devices\": [\"osl9-leaf7\"]}")
            #expect(unknown.status == 422 && unknown.body.contains("osl9-leaf7"), "\(unknown)")
            let extra = try await server.raw(.POST, "/v1/network/changesets", body: "{\"intent\": \(valid), \"force\": true}")
            #expect(extra.status == 422 && extra.body.contains("force"), "\(extra)")
            let listed = try await server.raw(.GET, "/v1/network/changesets")
            let items = (try JSONSerialization.jsonObject(with: Data(listed.body.utf8)) as? [String: Any])?["items"] as? [Any]
            #expect(listed.status == 200 && items?.isEmpty == true, "nothing was stored: \(listed)")
            #expect(try await server.raw(.GET, "/v1/network/changesets/chg_01M8000000000000000000000Z").status == 404)
        }
    }

    @Test("access: anonymous 401, viewers read but may not apply, operators apply but may not approve; unreachable devices fail the task visibly",
          arguments: Backend.allCases)
    func accessAndFailure(_ backend: Backend) async throws {
        try await Self.withChangesetServer(backend) { server in
            let valid = try Self.intentJSON()
            let anonymous = try await server.raw(.POST, "/v1/network/changesets", body: "{\"intent\": \(valid)}", headers: ["Authorization": ""])
            #expect(anonymous.status == 401, "\(anonymous)")
            let viewer = try await server.token(for: "user:net-viewer", roles: [.viewer])
            let viewed = try await server.raw(.GET, "/v1/network/changesets", headers: ["Authorization": "Bearer \(viewer)"])
            #expect(viewed.status == 200)
            let viewerApply = try await server.raw(.POST, "/v1/network/changesets", body: "{\"intent\": \(valid)}",
                                                   headers: ["Authorization": "Bearer \(viewer)"])
            #expect(viewerApply.status == 403, "\(viewerApply)")
            let viewerDrift = try await server.raw(.POST, "/v1/network/drift/osl1-leaf1/remediate", headers: ["Authorization": "Bearer \(viewer)"])
            #expect(viewerDrift.status == 403, "\(viewerDrift)")

            // Devices: listed from the devices file; reading one that cannot be reached names each failing getter;
            // an unknown one is 404; anonymous is 401; a viewer may read.
            let devices = try await server.raw(.GET, "/v1/network/devices", headers: ["Authorization": "Bearer \(viewer)"])
            #expect(devices.status == 200 && devices.body.contains("osl1-leaf1") && devices.body.contains("osl1-border1"), "\(devices)")
            let unreachable = try await server.raw(.GET, "/v1/network/devices/osl1-leaf1")
            #expect(unreachable.status == 200 && unreachable.body.contains("\"errors\"") && unreachable.body.contains("interfaces:"), "\(unreachable)")
            #expect(try await server.raw(.GET, "/v1/network/devices/osl1-spine9").status == 404)
            let overlong = try await server.raw(.GET, "/v1/network/devices/" + String(repeating: "x", count: 64))
            #expect((400...422).contains(overlong.status), "a device name longer than 63 characters: \(overlong.status)")
            #expect(try await server.raw(.GET, "/v1/network/devices/osl1-leaf1", headers: ["Authorization": ""]).status == 401)
            let cliUnknown = await run(DVNetCommand.self, ["device", "show", "osl1-spine9", "--server", server.baseURL, "--token", server.token])
            #expect(cliUnknown.code != 0 && cliUnknown.err.contains("404"), "\(cliUnknown)")

            // No intent applied yet: nothing drifts, nothing to remediate or accept.
            let drift = try await server.raw(.GET, "/v1/network/drift")
            #expect(drift.status == 200, "\(drift)")
            #expect(try await server.raw(.POST, "/v1/network/drift/osl1-leaf1/remediate").status == 409)
            #expect(try await server.raw(.POST, "/v1/network/drift/osl1-leaf1/accept").status == 409)

            // The devices do not answer: the changeset is queued (its plan says why), its task fails, nothing is left half-done.
            let operatorToken = try await server.token(for: "user:net-operator", roles: [.operator])
            let created = await run(DVNetCommand.self, ["apply", "-f", NetworkLabTests.example, "--wait", "--timeout", "60", "--idempotency-key", "k1",
                                                        "--server", server.baseURL, "--token", operatorToken])
            #expect(created.code != 0, "\(created)")
            #expect(created.out.contains("(apply): failed") && created.out.contains("osl1-leaf1 (ovs): failed"), "\(created)")
            let again = await run(DVNetCommand.self, ["apply", "-f", NetworkLabTests.example, "--idempotency-key", "k1", "-o", "json",
                                                      "--server", server.baseURL, "--token", operatorToken])
            let page = try await server.sentral.tasks.list(TaskFilter(kind: Changesets.applyKind), limit: 10, cursor: nil)
            #expect(again.code == 0 && page.items.count == 1, "the same idempotency key returns the same changeset: \(again)")
            let id = try #require((try JSONSerialization.jsonObject(with: Data(again.out.utf8)) as? [String: Any])?["id"] as? String)
            let approve = try await server.raw(.POST, "/v1/network/changesets/\(id)/approve", headers: ["Authorization": "Bearer \(operatorToken)"])
            #expect(approve.status == 403, "\(approve)")
            let notPending = try await server.raw(.POST, "/v1/network/changesets/\(id)/approve")
            #expect(notPending.status == 409 && notPending.body.contains("pending approval"), "\(notPending)")
            let audit = Set(try await server.sentral.audit.list(AuditFilter(), limit: 100, cursor: nil).items.map(\.action))
            #expect(audit.contains("nett.changeset.create"), "\(audit)")
        }
    }

    @Test("without a devices file: a changeset is 404 not-configured naming the setting, the device list is empty saying why; dvnet says so", arguments: [Backend.sqlite])
    func unconfigured(_ backend: Backend) async throws {
        try await Self.withChangesetServer(backend, devices: false) { server in
            let response = try await server.raw(.POST, "/v1/network/changesets", body: "{\"intent\": \(try Self.intentJSON())}")
            #expect(response.status == 404 && response.body.contains("DV_NETT_DEVICES") && response.body.contains("problems\\/not-configured"), "\(response.body)")
            let drift = await run(DVNetCommand.self, ["drift", "--server", server.baseURL, "--token", server.token])
            #expect(drift.code == 0 && drift.out.contains("no drift"), "\(drift)")
            let devices = try await server.raw(.GET, "/v1/network/devices")
            #expect(devices.status == 200 && devices.body.contains("\"notConfigured\"") && devices.body.contains("DV_NETT_DEVICES"), "\(devices)")
            #expect(try await server.raw(.GET, "/v1/network/devices/leaf1").status == 404)
            let device = await run(DVNetCommand.self, ["device", "list", "--server", server.baseURL, "--token", server.token])
            #expect(device.code == 0 && device.err.contains("DV_NETT_DEVICES"), "\(device)")
        }
    }
}
