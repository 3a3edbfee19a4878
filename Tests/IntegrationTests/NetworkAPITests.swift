import DataverketCore
import DVCommands
import Foundation
import Nett
import NettIntent
import Sentral
import DataverketTasks
import Testing
import DataverketTestSupport

/// `/v1/network` and `dvnet`: the IPAM slice (prefix → child prefix → addresses with DNS names → release) and intent
/// plans, with bad input on every endpoint.
@Suite("Network API (Nett)")
struct NetworkAPITests {
    static func json(_ text: String) throws -> [String: Any] {
        try #require(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any])
    }

    static func dvnet(_ server: TestServer, _ arguments: String...) async -> (code: Int32, out: String, err: String) {
        await run(DVNetCommand.self, Array(arguments) + ["--server", server.baseURL, "--token", server.token])
    }

    static var example: String { repositoryPath("examples/network-osl1.yaml") }

    @Test("prefix → allocated child → addresses with DNS names → release → reallocation; idempotent retries", arguments: Backend.allCases)
    func slice(_ backend: Backend) async throws {
        try await withServer(backend) { server in
            let container = try await server.raw(.POST, "/v1/network/prefixes", body: #"{"prefix": "10.40.0.0/16", "status": "container", "role": "tenant"}"#)
            #expect(container.status == 201, "\(container.body)")
            let child = try await server.raw(.POST, "/v1/network/prefixes/allocate", body: #"{"parent": "10.40.0.0/16", "length": 24}"#)
            let childPrefix = try Self.json(child.body)["prefix"] as? String
            #expect(child.status == 201 && childPrefix == "10.40.0.0/24", "\(child.body)")

            var addresses: [String] = []
            for name in ["web1", "web2", "db1"] {
                let made = try await server.raw(.POST, "/v1/network/addresses/allocate",
                                                body: #"{"prefix": "10.40.0.0/24", "dnsName": "\#(name).osl1.example.org"}"#)
                #expect(made.status == 201, "\(made.body)")
                addresses.append(try Self.json(made.body)["address"] as? String ?? "")
            }
            #expect(addresses == ["10.40.0.1", "10.40.0.2", "10.40.0.3"])
            let key = ["Idempotency-Key": "rack-7-web3"]
            let first = try await server.raw(.POST, "/v1/network/addresses/allocate", body: #"{"prefix": "10.40.0.0/24"}"#, headers: key)
            let again = try await server.raw(.POST, "/v1/network/addresses/allocate", body: #"{"prefix": "10.40.0.0/24"}"#, headers: key)
            #expect(try Self.json(first.body)["address"] as? String == "10.40.0.4")
            #expect(try Self.json(again.body)["address"] as? String == "10.40.0.4")

            #expect(try await server.raw(.DELETE, "/v1/network/addresses/10.40.0.2").status == 204)
            let listed = try await server.raw(.GET, "/v1/network/addresses?prefix=10.40.0.0/24")
            let items = try #require(try Self.json(listed.body)["items"] as? [[String: Any]])
            #expect(items.compactMap { $0["address"] as? String } == ["10.40.0.1", "10.40.0.3", "10.40.0.4"])

            // The CLI drives the same slice.
            let allocated = await Self.dvnet(server, "ip", "allocate", "10.40.0.0/24", "--dns-name", "web2b.osl1.example.org")
            #expect(allocated.code == 0 && allocated.out.contains("10.40.0.2") && allocated.out.contains("web2b.osl1.example.org"), "\(allocated)")
            let prefix = await Self.dvnet(server, "prefix", "allocate", "10.40.0.0/16", "--length", "24")
            #expect(prefix.code == 0 && prefix.out.contains("10.40.1.0/24"), "\(prefix)")
            let list = await Self.dvnet(server, "prefix", "list")
            #expect(list.code == 0 && list.out.hasPrefix("PREFIX") && list.out.contains("10.40.0.0/16"), "\(list)")
            let released = await Self.dvnet(server, "ip", "release", "10.40.0.3")
            #expect(released.code == 0 && released.out.contains("released 10.40.0.3"))
            let audit = try await server.sentral.audit.list(AuditFilter(), limit: 100, cursor: nil).items.map(\.action)
            #expect(audit.contains { $0.hasPrefix("nett.address") }, "\(audit)")
        }
    }

    @Test("plans: the example verifies; a policy violation is 422 naming the networks; the CLI shows the object changes and the matrix, and renders")
    func plans() async throws {
        try await withServer(.sqlite) { server in
            let planned = await Self.dvnet(server, "plan", "-f", Self.example)
            #expect(planned.code == 0 && planned.out.contains("intent verified") && planned.out.contains("external"), "\(planned)")

            var intent = try NetworkIntent.load(yaml: try String(contentsOfFile: Self.example, encoding: .utf8))
            intent.networks[intent.networks.firstIndex { $0.name == "acme-web" }!].vrf = nil
            intent.rules!.append(.init(from: "acme-web", to: "oob", protocol: "tcp", port: 623))
            let body = String(decoding: try JSONEncoder().encode(["intent": intent]), as: UTF8.self)
            let refused = try await server.raw(.POST, "/v1/network/plan", body: body)
            #expect(refused.status == 422, "\(refused.body)")
            let errors = try #require(try server.problem(refused)["errors"] as? [[String: Any]])
            #expect(errors.contains { ($0["field"] as? String) == "network acme-web, network oob" }, "\(errors)")

            let file = FileManager.default.temporaryDirectory.appendingPathComponent("dv-intent-\(ULID.make()).json").path
            try Data(String(decoding: try JSONEncoder().encode(intent), as: UTF8.self).utf8).write(to: URL(fileURLWithPath: file))
            defer { try? FileManager.default.removeItem(atPath: file) }
            let bad = await Self.dvnet(server, "plan", "-f", file)
            #expect(bad.code != 0 && bad.err.contains("tenant → oob"), "\(bad)")

            // Against --current: the changed objects and what the matrix opens.
            var changed = try NetworkIntent.load(yaml: try String(contentsOfFile: Self.example, encoding: .utf8))
            changed.networks[changed.networks.firstIndex { $0.name == "acme-web" }!].vlan = 111
            changed.ports!.removeAll { $0.device == "osl1-leaf2" && $0.interface == "Ethernet40" }
            changed.rules!.append(.init(from: "mgmt", to: "public-lb", protocol: "tcp", port: 80))
            let changedFile = FileManager.default.temporaryDirectory.appendingPathComponent("dv-intent-\(ULID.make()).json").path
            try JSONEncoder().encode(changed).write(to: URL(fileURLWithPath: changedFile))
            defer { try? FileManager.default.removeItem(atPath: changedFile) }
            let diffed = await Self.dvnet(server, "plan", "-f", changedFile, "--current", Self.example)
            #expect(diffed.code == 0, "\(diffed)")
            for line in ["changes against --current:", "~ network acme-web: vlan 110 → 111", "- port osl1-leaf2:Ethernet40",
                         "+ rule allow mgmt → public-lb tcp/80\n",
                         "+ opens: mgmt → public-lb: tcp/80"] {
                #expect(diffed.out.contains(line), "\(line) missing in \(diffed.out)")
            }
            #expect(planned.out.contains("changes against nothing applied yet:") && planned.out.contains("+ network acme-web {"), "\(planned.out)")
            let same = await Self.dvnet(server, "plan", "-f", Self.example, "--current", Self.example)
            #expect(same.code == 0 && same.out.contains("no changes against --current"), "\(same)")

            let rendered = await run(DVNetCommand.self, ["render", "-f", Self.example, "--device", "osl1-leaf1", "--platform", "eos"])
            #expect(rendered.code == 0 && rendered.out.contains("switchport access vlan 110"), "\(rendered)")
            let badPlatform = await run(DVNetCommand.self, ["render", "-f", Self.example, "--device", "osl1-leaf1", "--platform", "junos"])
            #expect(badPlatform.code != 0 && badPlatform.err.contains("--platform must be"))
        }
    }

    @Test("bad input: malformed, oversized, overlapping, exhausted, unauthenticated, a viewer writing")
    func badInput() async throws {
        try await withServer(.sqlite) { server in
            #expect(try await server.raw(.POST, "/v1/network/prefixes", body: "{nope").status == 400)
            #expect(try await server.raw(.POST, "/v1/network/prefixes", body: #"{"prefix": "\#(String(repeating: "1", count: 2 << 20))"}"#).status == 413)
            #expect(try await server.raw(.POST, "/v1/network/prefixes", body: #"{"prefix": "10.1.2.3/24"}"#).status == 422)
            #expect(try await server.raw(.POST, "/v1/network/prefixes", body: #"{"prefix": "10.50.0.0/24"}"#).status == 201)
            let overlap = try await server.raw(.POST, "/v1/network/prefixes", body: #"{"prefix": "10.50.0.128/25"}"#)
            #expect(overlap.status == 422)
            let detail = try server.problem(overlap)["detail"] as? String ?? ""
            #expect(detail.contains("10.50.0.0/24") && detail.contains("10.50.0.128/25"), "\(detail)")
            #expect(try await server.raw(.POST, "/v1/network/prefixes", body: #"{"prefix": "10.60.0.0/30"}"#).status == 201)
            for _ in 0..<2 {
                #expect(try await server.raw(.POST, "/v1/network/addresses/allocate", body: #"{"prefix": "10.60.0.0/30"}"#).status == 201)
            }
            let exhausted = try await server.raw(.POST, "/v1/network/addresses/allocate", body: #"{"prefix": "10.60.0.0/30"}"#)
            #expect(exhausted.status == 409, "\(exhausted.body)")
            #expect(try await server.raw(.POST, "/v1/network/addresses/allocate", body: #"{"prefix": "10.99.0.0/24"}"#).status == 404)
            #expect(try await server.raw(.POST, "/v1/network/plan", body: #"{"intent": {"datacenter": "x"}}"#).status == 422)
            #expect(try await server.raw(.POST, "/v1/network/plan", body: "{\"intent\": ").status == 400)
            let hugePlan = try await server.raw(.POST, "/v1/network/plan", body: "{\"intent\": {\"x\": \"" + String(repeating: "a", count: 40 << 20) + "\"}}")
            #expect(hugePlan.status == 413, "\(hugePlan.status)")
            #expect(try await server.raw(.POST, "/v1/network/plan", body: "{}", headers: ["Authorization": "Bearer nope"]).status == 401)
            #expect(try await server.raw(.GET, "/v1/network/prefixes", headers: ["Authorization": "Bearer nope"]).status == 401)
            let viewer = try await server.token(for: "user:viewer", roles: [.viewer])
            let auth = ["Authorization": "Bearer \(viewer)"]
            #expect(try await server.raw(.GET, "/v1/network/prefixes", headers: auth).status == 200)
            let example = String(decoding: try JSONEncoder().encode(["intent": try NetworkIntent.load(yaml: String(contentsOfFile: Self.example, encoding: .utf8))]),
                                 as: UTF8.self)
            #expect(try await server.raw(.POST, "/v1/network/plan", body: example, headers: auth).status == 200, "a viewer may plan: it changes nothing")
            #expect(try await server.raw(.POST, "/v1/network/prefixes", body: #"{"prefix": "10.70.0.0/24"}"#, headers: auth).status == 403)
            #expect(try await server.raw(.DELETE, "/v1/network/addresses/10.60.0.1", headers: auth).status == 403)
            let cli = await run(DVNetCommand.self, ["prefix", "allocate", "10.50.0.0/24", "--length", "200", "--server", server.baseURL,
                                                    "--token", server.token])
            #expect(cli.code != 0 && cli.err.contains("--length must be 1–128"), "\(cli)")
        }
    }
}
