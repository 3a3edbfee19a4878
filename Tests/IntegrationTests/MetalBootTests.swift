import Crypto
import DataverketCore
import DataverketStore
import Foundation
import Inventar
import Maskin
import Sentral
import DataverketTasks
import SQLKit
import Testing
import X509
import Yams
import DataverketTestSupport

/// The boot service over HTTP: scripts by state, discovery, the single-use config, the callback, refusals, the image
/// cache with ranges, rate limits — and that malformed queries record nothing.
@Suite("Boot service (Maskin)")
struct MetalBootTests {
    /// Puts a machine straight into `state` with a task (what the deploy saga does), for the boot service alone.
    static func force(_ metal: MetalServer, _ name: String, _ state: MachineState, taskID: String = "tsk_test",
                      cluster: String? = "lab", role: String? = "worker") async throws {
        let json = String(decoding: try JSONEncoder().encode(state), as: UTF8.self)
        try await metal.machines.database.transaction { session in
            try await session.run("""
                UPDATE \(session.table("maskin", "machines")) SET state_name = \(bind: state.name.rawValue), state = \(bind: json),
                    task_id = \(bind: taskID), cluster = \(bind: cluster), role = \(bind: role)
                WHERE name = \(bind: name)
                """)
        }
    }

    static func counts(_ metal: MetalServer) async throws -> (events: Int, discovered: Int) {
        try await metal.machines.database.read { session in
            let events = try await session.first("SELECT COUNT(*) AS n FROM \(session.table("maskin", "boot_events"))")!
                .decode(column: "n", as: Int.self)
            let discovered = try await session.first("SELECT COUNT(*) AS n FROM \(session.table("maskin", "discovered"))")!
                .decode(column: "n", as: Int.self)
            return (events, discovered)
        }
    }

    static func enroll(_ metal: MetalServer, name: String, mac: String, uuid: String) async throws {
        _ = try await metal.machines.enroll(
            MachineEnrollment(name: name, mac: mac, uuid: uuid,
                              bmc: BMCConfig(protocol: .ipmi, address: "127.0.0.1:9", credentials: "env:UNUSED"), verify: false),
            context: testContext)
    }

    /// The `talos.config=` and `dv.callback=` URLs of an installer script.
    static func urls(in script: String) throws -> (config: String, callback: String) {
        let words = script.split(whereSeparator: { $0 == " " || $0 == "\n" })
        let config = try #require(words.first { $0.hasPrefix("talos.config=") }).dropFirst("talos.config=".count)
        let callback = try #require(words.first { $0.hasPrefix("dv.callback=") }).dropFirst("dv.callback=".count)
        return (String(config), String(callback))
    }

    @Test("unknown MAC: discovery script, recorded for discovery, no config; enrolling it clears the record", arguments: Backend.allCases)
    func discovery(_ backend: Backend) async throws {
        try await withMetalServer(backend) { metal in
            let uuid = "6f1c0c8e-1111-4222-8333-444455556666"
            let script = try await metal.boot(.GET, "/boot/ipxe?mac=52:54:00:de:ad:01&uuid=\(uuid)&serial=SN-42&arch=x86_64")
            #expect(script.status == 200)
            #expect(script.body.hasPrefix("#!ipxe\n") && script.body.contains("unknown machine 52:54:00:de:ad:01"))
            #expect(!script.body.contains("talos.config"))
            _ = try await metal.boot(.GET, "/boot/ipxe?mac=52-54-00-DE-AD-01")
            let found = try await metal.machines.discovered()
            #expect(found.map(\.mac) == ["52:54:00:de:ad:01"])
            #expect(found.first?.boots == 2 && found.first?.uuid == uuid && found.first?.serial == "SN-42")
            // … and reported to the inventory: an undeclared machine seen by the boot service.
            let drift = try await metal.server.sentral.inventory.drift()
            #expect(drift.contains { $0.kind == .unexpected && $0.name == "serial:SN-42" && $0.source == .boot }, "\(drift)")
            let listed = await metal.dvce("machine", "discovered")
            #expect(listed.code == 0 && listed.out.contains("52:54:00:de:ad:01") && listed.out.contains("SN-42"), "\(listed)")
            // No token exists for an unknown machine: any config request is refused.
            let config = try await metal.boot(.GET, "/boot/config?uuid=\(uuid)&token=\(String(repeating: "a", count: 43))")
            #expect(config.status == 403)
            try await Self.enroll(metal, name: "found-1", mac: "52:54:00:de:ad:01", uuid: uuid)
            #expect(try await metal.machines.discovered().isEmpty)
            let enrolled = try await metal.boot(.GET, "/boot/ipxe?mac=52:54:00:de:ad:01")
            #expect(enrolled.body.contains("found-1 is enrolled: booting from local disk") && enrolled.body.contains("\nexit\n"))
        }
    }

    @Test("malformed or oversized query parameters are 400 and record nothing")
    func malformed() async throws {
        try await withMetalServer(.sqlite) { metal in
            try await Self.enroll(metal, name: "node-1", mac: "52:54:00:00:00:01", uuid: "6f1c0c8e-1111-4222-8333-444455556601")
            let before = try await Self.counts(metal)
            let long = String(repeating: "A", count: 200)
            for query in [
                "", "?mac=zz:zz", "?mac=52:54:00:00:00:01&uuid=not-a-uuid", "?mac=52:54:00:00:00:01&serial=\(long)",
                "?mac=52:54:00:00:00:01&colour=red", "?mac=52:54:00:00:00:01&mac=52:54:00:00:00:02",
                "?mac=52:54:00:00:00:01&arch=vax", "?mac=52:54:00:00:00:01&serial=a%22b", "?mac=\(long)",
            ] {
                let response = try await metal.boot(.GET, "/boot/ipxe" + query)
                #expect(response.status == 400, "\(query): \(response.status) \(response.body)")
            }
            #expect(try await metal.boot(.GET, "/boot/ipxe?mac=52:54:00:00:00:01&x=" + String(repeating: "y", count: 3000)).status == 414)
            #expect(try await metal.boot(.GET, "/boot/config?token=short").status == 400)
            #expect(try await metal.boot(.GET, "/boot/config").status == 400)
            #expect(try await metal.boot(.POST, "/boot/callback?token=\(String(repeating: "a", count: 43))&event=party").status == 400)
            let after = try await Self.counts(metal)
            #expect(after.events == before.events && after.discovered == before.discovered)
        }
    }

    @Test("deploying: installer script with a single-use config (valid Talos v1alpha1), the callback once, refusals recorded",
          arguments: Backend.allCases)
    func deployProtocol(_ backend: Backend) async throws {
        try await withMetalServer(backend) { metal in
            let uuid = "6f1c0c8e-1111-4222-8333-444455556602"
            try await Self.enroll(metal, name: "node-2", mac: "52:54:00:00:00:02", uuid: uuid)
            try await Self.force(metal, "node-2", .deploying, cluster: "lab", role: "controlplane")
            let script = try await metal.boot(.GET, "/boot/ipxe?mac=52:54:00:00:00:02&uuid=\(uuid)&serial=S2&arch=x86_64")
            #expect(script.status == 200)
            #expect(script.body.contains("kernel \(metal.bootURL)/boot/assets/vmlinuz "))
            #expect(script.body.contains("initrd \(metal.bootURL)/boot/assets/initramfs\nboot\n"))
            #expect(script.body.contains("talos.platform=metal"))
            let (configURL, callbackURL) = try Self.urls(in: script.body)
            #expect(configURL.hasPrefix("\(metal.bootURL)/boot/config?uuid=\(uuid)&token="))
            let path = { (url: String) in String(url.dropFirst(metal.bootURL.count)) }

            // The callback before the config is refused.
            #expect(try await metal.boot(.POST, path(callbackURL)).status == 403)
            let config = try await metal.boot(.GET, path(configURL))
            #expect(config.status == 200)
            #expect(config.headers["cache-control"] == "no-store")
            let yaml = try #require(try Yams.load(yaml: config.body) as? [String: Any])
            #expect(yaml["version"] as? String == "v1alpha1")
            let machine = try #require(yaml["machine"] as? [String: Any])
            #expect(machine["type"] as? String == "controlplane")
            #expect(((machine["install"] as? [String: Any])?["disk"] as? String)?.hasPrefix("/dev/") == true)
            #expect((machine["nodeLabels"] as? [String: String])?["dataverket.io/machine"] == "node-2")
            let interfaces = try #require((machine["network"] as? [String: Any])?["interfaces"] as? [[String: Any]])
            #expect((interfaces.first?["deviceSelector"] as? [String: String])?["hardwareAddr"] == "52:54:00:00:00:02")
            let token = try #require(machine["token"] as? String)
            #expect(token.range(of: #"^[a-z0-9]{6}\.[a-z0-9]{16}$"#, options: .regularExpression) != nil)
            let cluster = try #require(yaml["cluster"] as? [String: Any])
            #expect(cluster["clusterName"] as? String == "lab")
            #expect((cluster["controlPlane"] as? [String: String])?["endpoint"] == "https://lab.cluster.internal:6443")
            // The CAs are real X.509 CA certificates with their keys.
            for key in ["ca", "aggregatorCA"] {
                let pair = try #require(cluster[key] as? [String: String])
                let crt = try #require(Data(base64Encoded: pair["crt"] ?? ""))
                let certificate = try Certificate(pemEncoded: String(decoding: crt, as: UTF8.self))
                #expect(try certificate.extensions.basicConstraints == .isCertificateAuthority(maxPathLength: nil))
                let keyPEM = try #require(Data(base64Encoded: pair["key"] ?? ""))
                #expect(String(decoding: keyPEM, as: UTF8.self).contains("PRIVATE KEY"))
            }
            #expect(cluster["secretboxEncryptionSecret"] != nil)

            // Replayed: refused, and the refusal is a boot event.
            let replay = try await metal.boot(.GET, path(configURL))
            #expect(replay.status == 403 && replay.body.contains("replayed"))
            // Another machine's UUID with this token: refused.
            #expect(try await metal.boot(.GET, path(configURL).replacingOccurrences(of: uuid, with: "6f1c0c8e-1111-4222-8333-444455556699")).status == 403)
            #expect(try await metal.boot(.POST, path(callbackURL)).status == 204)
            #expect(try await metal.boot(.POST, path(callbackURL)).status == 403)

            // A new script fetch issues a new token; the old one stops working.
            let second = try await metal.boot(.GET, "/boot/ipxe?mac=52:54:00:00:00:02&uuid=\(uuid)")
            let (secondConfig, _) = try Self.urls(in: second.body)
            #expect(secondConfig != configURL)
            #expect(try await metal.boot(.GET, path(secondConfig)).status == 200)

            let events = try await metal.machines.bootEvents(try await metal.machines.get("node-2").id).map(\.kind)
            #expect(events == [.script, .configRefused, .config, .configRefused, .configRefused, .callback, .configRefused, .script, .config])

            // Secrets are per cluster, sealed at rest: the stored row does not contain the key in the clear.
            let sealed = try await metal.machines.database.read { session in
                try await session.first("SELECT sealed_secrets FROM \(session.table("maskin", "clusters")) WHERE name = 'lab'")!
                    .decode(column: "sealed_secrets", as: String.self)
            }
            #expect(!sealed.contains("PRIVATE KEY") && !sealed.contains(token))

            // Once deployed, the machine boots from disk.
            try await Self.force(metal, "node-2", .deployed)
            #expect(try await metal.boot(.GET, "/boot/ipxe?mac=52:54:00:00:00:02").body.contains("\nexit\n"))
            try await Self.force(metal, "node-2", .rescue)
            #expect(try await metal.boot(.GET, "/boot/ipxe?mac=52:54:00:00:00:02").body.contains("dv.purpose=rescue"))
        }
    }

    @Test("an expired token is refused")
    func expiredToken() async throws {
        try await withMetalServer(.sqlite, tokenLifetime: .seconds(1)) { metal in
            let uuid = "6f1c0c8e-1111-4222-8333-444455556603"
            try await Self.enroll(metal, name: "node-3", mac: "52:54:00:00:00:03", uuid: uuid)
            try await Self.force(metal, "node-3", .deploying)
            let script = try await metal.boot(.GET, "/boot/ipxe?mac=52:54:00:00:00:03&uuid=\(uuid)")
            let (configURL, _) = try Self.urls(in: script.body)
            try await Task.sleep(for: .milliseconds(2100))
            let refused = try await metal.boot(.GET, String(configURL.dropFirst(metal.bootURL.count)))
            #expect(refused.status == 403 && refused.body.contains("expired"))
        }
    }

    @Test("image cache: checksummed assets with Range; unlisted, traversal and unsatisfiable ranges refused; rate limited")
    func assetsAndLimits() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("dv-assets-\(ULID.make())").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let kernel = Data((0..<100_000).map { UInt8($0 % 251) })
        try kernel.write(to: URL(fileURLWithPath: directory + "/vmlinuz"))
        try Data("secret".utf8).write(to: URL(fileURLWithPath: directory + "/unlisted"))
        let sum = SHA256.hash(data: kernel).map { String(format: "%02x", $0) }.joined()
        try Data("\(sum)  vmlinuz\n".utf8).write(to: URL(fileURLWithPath: directory + "/SHA256SUMS"))
        try await withMetalServer(.sqlite, assets: directory) { metal in
            let whole = try await metal.boot(.GET, "/boot/assets/vmlinuz")
            #expect(whole.status == 200 && whole.headers["content-length"] == "100000" && whole.headers["x-checksum-sha256"] == sum)
            let head = try await metal.boot(.HEAD, "/boot/assets/vmlinuz")
            #expect(head.status == 200 && head.body.isEmpty && head.headers["accept-ranges"] == "bytes")
            let part = try await metal.boot(.GET, "/boot/assets/vmlinuz", headers: ["Range": "bytes=1000-1999"])
            #expect(part.status == 206 && part.headers["content-range"] == "bytes 1000-1999/100000")
            #expect(Array(part.body.utf8.prefix(1)) == [UInt8(1000 % 251)] || part.headers["content-length"] == "1000")
            let tail = try await metal.boot(.GET, "/boot/assets/vmlinuz", headers: ["Range": "bytes=-10"])
            #expect(tail.status == 206 && tail.headers["content-range"] == "bytes 99990-99999/100000")
            #expect(try await metal.boot(.GET, "/boot/assets/vmlinuz", headers: ["Range": "bytes=200000-"]).status == 416)
            #expect(try await metal.boot(.GET, "/boot/assets/unlisted").status == 404)
            #expect(try await metal.boot(.GET, "/boot/assets/..%2Fetc%2Fpasswd").status != 200)
            #expect(try await metal.boot(.GET, "/boot/assets/.hidden").status == 400)

            // 200 requests at once from one address: the limiter (burst 60, 20/s) turns most away.
            let statuses = try await withThrowingTaskGroup(of: Int.self) { group in
                for _ in 0..<200 { group.addTask { try await metal.boot(.GET, "/boot/ipxe?mac=52:54:00:00:00:77").status } }
                return try await group.reduce(into: [Int]()) { $0.append($1) }
            }
            #expect(statuses.contains(429) && statuses.contains(200))
        }
    }
}
