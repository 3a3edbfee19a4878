import DataverketClient
import DataverketCore
import DVCommands
import Foundation
import Identitet
import Testing
import DataverketTestSupport

/// The example site, and edits of it written to a temporary file.
enum SiteExample {
    static var path: String {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("examples/site-osl1.yaml").path
    }

    static var text: String { (try? String(contentsOfFile: path, encoding: .utf8)) ?? "" }

    /// Writes `text` with each replacement applied once (each must match) to a new temporary file.
    static func edited(_ replacements: [(String, String)], base: String = text) throws -> String {
        var edited = base
        for (old, new) in replacements {
            let range = try #require(edited.range(of: old), "the example contains \(old)")
            edited.replaceSubrange(range, with: new)
        }
        return try write(edited)
    }

    static func write(_ text: String) throws -> String {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("site-\(ULID.make()).yaml").path
        try text.write(toFile: file, atomically: true, encoding: .utf8)
        return file
    }

    /// The 1-based line of the first line containing `marker` at or after line `after`.
    static func line(of marker: String, in text: String = text, after: Int = 0) -> Int {
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
        for (index, line) in lines.enumerated() where index + 1 >= after && line.contains(marker) { return index + 1 }
        return -1
    }
}

@Suite("Inventory through the API and dv")
struct InventoryAPITests {
    @Test("dv apply the example site; re-apply and dry-run are no-ops; an edit shows its exact diff; get -o yaml round-trips",
          arguments: Backend.allCases)
    func applyAndRoundTrip(_ backend: Backend) async throws {
        try await withServer(backend) { server in
            let applied = await dv(server, "apply", "-f", SiteExample.path)
            #expect(applied.code == 0, "\(applied.err)")
            #expect(applied.out.contains("+ device osl1-r01-srv01"))
            #expect(applied.out.contains("Applied:"))
            let again = await dv(server, "apply", "--dry-run", "-f", SiteExample.path)
            #expect(again.out == "No changes: the inventory matches the site files.\n")

            let edited = try SiteExample.edited([("model: PowerEdge R660\n    serial: DL11X0017", "model: PowerEdge R760\n    serial: DL11X0017")])
            let dry = await dv(server, "apply", "--dry-run", "-f", edited)
            #expect(dry.out.contains("""
                ~ device osl1-r01-srv01
                    model: "PowerEdge R660" → "PowerEdge R760"
                """))
            #expect(dry.out.contains("Plan: 0 to create, 1 to update, 0 to delete."))
            let stillOld = await dv(server, "device", "show", "osl1-r01-srv01", "-o", "json")
            #expect(stillOld.out.contains("PowerEdge R660"), "a dry run writes nothing")

            // The export applies back as no change, to this server and to a fresh one.
            let exported = await dv(server, "get", "site", "osl1", "-o", "yaml")
            #expect(exported.code == 0)
            let exportFile = try SiteExample.write(exported.out)
            #expect(await dv(server, "apply", "--dry-run", "-f", exportFile).out.hasPrefix("No changes"))
            let devices = await dv(server, "get", "devices", "--datacenter", "osl1")
            #expect(devices.out.split(separator: "\n").count == 1 + 18, "a header and the 18 devices: \(devices.out)")
            #expect(await dv(server, "get", "racks").out.contains("osl1-r02"))
            #expect(await dv(server, "get", "rack", "nope").code == 1)
            #expect(await dv(server, "get", "spaceships").code == 64)

            // Every object was audited under the apply's actor.
            let audit = try await server.client.listAudit(query: .init(actor: "user:test-admin")).ok.body.json.items
            #expect(audit.contains { $0.action.hasPrefix("inventory.") })
        }
    }

    @Test("an invalid site file is rejected as a whole, every error listed with its file and line", arguments: Backend.allCases)
    func invalidFile(_ backend: Backend) async throws {
        try await withServer(backend) { server in
            let file = try SiteExample.edited([
                ("racks:\n", "racks:\n  - { name: osl1-r01, datacenter: osl1, room: hall-1, failureDomain: fd-a, units: 42 }\n"), // duplicate rack
                ("    rack: OSL1-R01\n    position: 4\n", "    rack: OSL1-R09\n    position: 4\n"),  // unknown rack
                ("    rack: OSL1-R01\n    position: 2\n", "    rack: OSL1-R01\n    position: 41\n"), // overlaps the border router
                (#"{ name: eno2, mac: "3c:ec:ef:31:01:02""#, #"{ name: eno2, mac: "3c:ec:ef:31:01:zz""#), // bad MAC
                ("  - a: osl1-r01-srv01:eno1\n    b: osl1-leaf1:swp1\n",
                 "  - a: osl1-r01-srv01:eno1\n    b: osl1-leaf1:swp1\n  - a: osl1-r01-srv02:eno1\n    b: osl1-leaf1:swp1\n"), // two links
            ])
            let result = await dv(server, "apply", "-f", file)
            #expect(result.code == 1)
            let err = result.err
            let edited = try String(contentsOfFile: file, encoding: .utf8)
            let srv01 = SiteExample.line(of: "name: osl1-r01-srv01", in: edited)
            for (marker, after, fragment) in [("  - name: OSL1-R01", 0, "duplicate rack"), ("rack: OSL1-R09", 0, "unknown rack 'osl1-r09'"),
                                              ("position: 41", srv01, "overlaps osl1-border1"), ("3c:ec:ef:31:01:zz", 0, "not a MAC address"),
                                              ("b: osl1-leaf1:swp1", SiteExample.line(of: "  - a: osl1-r01-srv02:eno1", in: edited),
                                               "already has a link")] {
                let line = SiteExample.line(of: marker, in: edited, after: after)
                #expect(err.contains("\(file):\(line): ") && err.contains(fragment), "\(fragment) at line \(line): \(err)")
            }
            let listed = try await server.client.listInventoryDevices(query: .init()).ok.body.json.items
            #expect(listed.isEmpty, "nothing of an invalid file is written")
        }
    }

    @Test("sensitive changes wait for approval; an operator approves or rejects; drift from observations", arguments: Backend.allCases)
    func approvalsAndDrift(_ backend: Backend) async throws {
        try await withServer(backend) { server in
            #expect(await dv(server, "apply", "-f", SiteExample.path).code == 0)
            let changed = try SiteExample.edited([
                ("serial: DL11X0017", "serial: DL11X9999"),                                 // a known device's serial
                (#"      - { name: swp8, mac: "3c:ec:ef:20:01:08", speed: 25G }"#,
                 #"      - { name: swp8, mac: "3c:ec:ef:20:01:08", speed: 25G }"# + "\n" + #"      - { name: swp9, speed: 25G }"#), // a new port
                ("  - a: osl1-r01-srv01:eno1\n    b: osl1-leaf1:swp1\n", "  - a: osl1-r01-srv01:eno1\n    b: osl1-leaf1:swp9\n"), // re-cabled
                ("model: PowerEdge R660\n    serial: DL12X0027", "model: PowerEdge R760\n    serial: DL12X0027"), // not sensitive
            ])
            let applied = await dv(server, "apply", "-f", changed, "--reason", "board swap")
            #expect(applied.code == 0, "\(applied.err)")
            #expect(applied.out.contains("waiting for approval"))
            let device = try await server.client.getInventoryDevice(path: .init(device: "osl1-r01-srv01")).ok.body.json
            #expect(try InventoryJSONTest.string(device, "device.serial") == "DL11X0017", "the serial waits")
            let other = try await server.client.getInventoryDevice(path: .init(device: "osl1-r01-srv02")).ok.body.json
            #expect(try InventoryJSONTest.string(other, "device.model") == "PowerEdge R760", "the rest applied")

            let pending = try await server.client.listInventoryApprovals(query: .init()).ok.body.json.items
            #expect(pending.count == 2)
            let ids = try pending.map { try InventoryJSONTest.string($0, "id") ?? "" }
            let summaries = try pending.map { try InventoryJSONTest.string($0, "summary") ?? "" }
            let serialID = try #require(zip(ids, summaries).first { $0.1.contains("serial") }?.0)
            let cableID = try #require(zip(ids, summaries).first { $0.1.contains("cabl") }?.0)

            // A viewer may look but not decide; an operator decides.
            let viewer = try await server.token(for: "user:vera", roles: [.viewer])
            let operatorToken = try await server.token(for: "user:otto", roles: [.operator])
            #expect(await run(DVCommand.self, ["approval", "list", "--server", server.baseURL, "--token", viewer]).out.contains(serialID))
            let denied = await run(DVCommand.self, ["approval", "approve", serialID, "--server", server.baseURL, "--token", viewer])
            #expect(denied.code == 1)
            #expect(denied.err.contains("403") || denied.err.lowercased().contains("forbidden"))
            let approved = await run(DVCommand.self, ["approval", "approve", serialID, "--note", "RMA 4411", "--server", server.baseURL,
                                                      "--token", operatorToken])
            #expect(approved.code == 0, "\(approved.err)")
            #expect(approved.out.contains("approved"))
            let swapped = try await server.client.getInventoryDevice(path: .init(device: "osl1-r01-srv01")).ok.body.json
            #expect(try InventoryJSONTest.string(swapped, "device.serial") == "DL11X9999")
            let twice = await run(DVCommand.self, ["approval", "approve", serialID, "--server", server.baseURL, "--token", operatorToken])
            #expect(twice.code == 1, "a decided request cannot be decided again")
            let rejected = await run(DVCommand.self, ["approval", "reject", cableID, "--note", "wrong port", "--server", server.baseURL,
                                                      "--token", operatorToken])
            #expect(rejected.code == 0)
            #expect(await dv(server, "cable", "trace", "osl1-r01-srv01:eno1").out.contains("osl1-leaf1:swp1 "))
            let decisions = try await server.client.listAudit(query: .init(actor: "user:otto")).ok.body.json.items.map(\.action)
            #expect(decisions.contains { $0.contains("approve") })
            #expect(decisions.contains { $0.contains("reject") })
            #expect(await run(DVCommand.self, ["approval", "approve", "apr_unknown", "--server", server.baseURL, "--token", operatorToken]).code == 1)

            // LLDP says srv02:eno1 is cabled to leaf2, not leaf1: drift names the mismatch.
            let observation = try SiteExample.write(#"""
                {"source": "lldp", "device": "osl1-r01-srv02", "observedAt": "2026-11-23T12:00:00Z",
                 "interfaces": [{"name": "eno1", "mac": "3c:ec:ef:31:02:01", "neighbor": {"device": "osl1-leaf2", "interface": "swp9"}}]}
                """#)
            let observed = await dv(server, "inventory", "observe", "-f", observation)
            #expect(observed.code == 0, "\(observed.err)")
            #expect(observed.out.contains("matched to device osl1-r01-srv02"))
            let drift = await dv(server, "inventory", "drift", "--device", "osl1-r01-srv02")
            #expect(drift.out.contains("mismatch"))
            #expect(drift.out.contains("osl1-leaf2:swp9"), "\(drift.out)")
            let badObservation = try SiteExample.write(#"{"source": "telepathy", "device": "x", "observedAt": "2026-11-23T12:00:00Z"}"#)
            #expect(await dv(server, "inventory", "observe", "-f", badObservation).code == 1)
        }
    }

    @Test("queries: filtered, paginated device lists; rack elevation; cable trace; capacity")
    func queries() async throws {
        try await withServer(.sqlite) { server in
            #expect(await dv(server, "apply", "-f", SiteExample.path).code == 0)
            let gpus = await dv(server, "device", "list", "--role", "gpu", "-o", "json")
            #expect(gpus.out.components(separatedBy: "\"role\" : \"gpu\"").count - 1 == 2, "\(gpus.out)")
            let page = try await server.client.listInventoryDevices(query: .init(kind: .server, limit: 3)).ok.body.json
            #expect(page.items.count == 3)
            let rest = try await server.client.listInventoryDevices(query: .init(kind: .server, limit: 100, cursor: page.nextCursor)).ok.body.json
            #expect(rest.items.count == 5, "8 servers in two pages")
            #expect(rest.nextCursor == nil)
            let rack = await dv(server, "rack", "show", "OSL1-R01")
            #expect(rack.out.contains("U41  │ osl1-border1"))
            #expect(rack.out.contains("units used"))
            let trace = await dv(server, "cable", "trace", "osl1-r01-srv01:eno1")
            #expect(trace.out.contains("──▶ osl1-leaf1:swp1"))
            let capacity = await dv(server, "capacity", "-o", "json")
            #expect(capacity.out.contains("\"datacenter\" : \"osl1\""))
            #expect(capacity.out.contains("\"free\""))
            #expect(await dv(server, "device", "list", "--role", "wizard").code == 64)
            #expect(await dv(server, "cable", "trace", "no-colon").code == 64)
            #expect(await dv(server, "rack", "show", "nope").code == 1)
        }
    }

    @Test("bad input: no token, wrong role, malformed, oversized, unknown fields")
    func badInput() async throws {
        try await withServer(.sqlite) { server in
            let body = #"{"files": [{"name": "x.yaml", "content": "datacenters: []"}]}"#
            #expect(try await server.raw(.POST, "/v1/inventory/apply", body: body, headers: ["Authorization": ""]).status == 401)
            let viewer = try await server.token(for: "user:vera", roles: [.viewer])
            #expect(try await server.raw(.POST, "/v1/inventory/apply", body: body, headers: ["Authorization": "Bearer \(viewer)"]).status == 403)
            #expect(try await server.raw(.GET, "/v1/inventory/devices", headers: ["Authorization": "Bearer \(viewer)"]).status == 200)
            let malformed = try await server.raw(.POST, "/v1/inventory/apply", body: #"{"files": ["#)
            #expect(malformed.status == 400)
            let noFiles = try await server.raw(.POST, "/v1/inventory/apply", body: #"{"files": []}"#)
            #expect(noFiles.status == 400 || noFiles.status == 422)
            let unknownField = try await server.raw(.POST, "/v1/inventory/apply", body: #"{"files": [], "prune": true}"#)
            #expect(unknownField.status == 400 || unknownField.status == 422)
            let huge = #"{"files": [{"name": "x.yaml", "content": ""# + String(repeating: "#", count: 33 << 20) + #""}]}"#
            #expect(try await server.raw(.POST, "/v1/inventory/apply", body: huge).status == 413)
            let notYAML = try await server.raw(.POST, "/v1/inventory/apply", body: #"{"files": [{"name": "x.yaml", "content": "{{{"}]}"#)
            #expect(notYAML.status == 422)
            #expect(try server.problem(notYAML)["errors"] != nil)
            // Two billion-laughs files at once (a 528-byte alias bomb used as a key) are refused, and the server
            // still answers: the YAML is bounded before it is composed.
            let bomb = try String(decoding: JSONSerialization.data(withJSONObject: [
                "files": [["name": "l.yaml", "content": HostileInput.billionLaughs()]]]), as: UTF8.self)
            async let first = server.raw(.POST, "/v1/inventory/apply", body: bomb)
            async let second = server.raw(.POST, "/v1/inventory/apply", body: bomb)
            for refused in try await [first, second] {
                #expect(refused.status == 422)
                #expect(refused.body.contains("aliases expand to more than"), "\(refused.body)")
            }
            #expect(try await server.raw(.GET, "/healthz").status == 200)
            #expect(try await server.raw(.GET, "/v1/inventory/devices?role=wizard").status == 400)
            #expect(try await server.raw(.GET, "/v1/inventory/devices?limit=5000").status == 422)
            #expect(try await server.raw(.GET, "/v1/inventory/export?kind=spaceship").status == 400)
            #expect(try await server.raw(.GET, "/v1/inventory/approvals/apr_nope").status == 404)
            #expect(try await server.raw(.GET, "/v1/inventory/devices/nope").status == 404)
            #expect(await dv(server, "apply").code == 64)
            #expect(await dv(server, "apply", "-f", "/nonexistent/site.yaml").code == 1)
        }
    }
}

/// Reads a string at a dotted path of a free-form inventory object.
enum InventoryJSONTest {
    static func string(_ object: Components.Schemas.InventoryObject, _ path: String) throws -> String? {
        var current: Any? = try JSONSerialization.jsonObject(with: try JSONEncoder().encode(object))
        for key in path.split(separator: ".") { current = (current as? [String: Any])?[String(key)] }
        return current as? String
    }
}
