import DataverketBus
import DataverketCore
import DataverketServer
import DVCommands
import Foundation
import Nett
import NettIntent
import Sentral
import DataverketTasks
import Testing
import DataverketTestSupport

/// Nett's DNS records through the server: the sync service `serve` runs beside the API keeps a real PowerDNS
/// (scripts/lib/pdns.sh, `DV_TEST_PDNS_*`) in step with addresses allocated over `/v1/network`, and
/// `GET /v1/network/dns` (and `dvnet dns list`) shows the record sets as PowerDNS serves them.
@Suite("Network DNS API (Nett, PowerDNS)")
struct NetworkDNSAPITests {
    typealias Response = (status: Int, headers: [String: String], body: String)

    static let environment = ProcessInfo.processInfo.environment
    static var pdnsURL: String { environment["DV_TEST_PDNS_URL"] ?? "http://127.0.0.1:18081" }
    static var apiKey: String { environment["DV_TEST_PDNS_API_KEY"] ?? "" }
    static var dnsPort: String { environment["DV_TEST_PDNS_DNS_PORT"] ?? "15353" }

    /// A live server with Nett's schema and, unless `dns` is nil, its DNS sync service (interval one hour: what
    /// syncs in these tests is the start and the kicks of address changes).
    static func withDNSServer(_ backend: Backend, dns: DNSConfiguration?,
                              _ body: @Sendable @escaping (TestServer, DNSSyncService?) async throws -> Void) async throws {
        let bus = InProcessBus(logger: quietLogger)
        try await bus.provision()
        try await withDatabase(backend) { database in
            let ipam = IPAM(database: database, logger: quietLogger)
            let service = dns.map { DNSSyncService(configuration: $0, ipam: ipam, httpClient: .shared, logger: quietLogger) }
            try await runServer(ControlPlane(database: database, bus: bus), bus: bus, dns: service) { server in
                try await body(server, service)
            }
        }
    }

    static func configuration(zone: String, url: String = pdnsURL, key: String = apiKey) -> DNSConfiguration {
        DNSConfiguration(url: url, apiKey: key, forwardZones: [zone], syncInterval: .seconds(3600))
    }

    static func items(_ response: Response) throws -> [[String: Any]] {
        let object = try #require(try JSONSerialization.jsonObject(with: Data(response.body.utf8)) as? [String: Any], "\(response.body)")
        return try #require(object["items"] as? [[String: Any]], "\(response.body)")
    }

    /// The record sets `GET /v1/network/dns?zone=` answers, polled until `condition` holds (at most 30 s).
    static func eventually(_ server: TestServer, zone: String, _ condition: ([[String: Any]]) -> Bool) async throws -> [[String: Any]] {
        let deadline = ContinuousClock.now + .seconds(30)
        var last: [[String: Any]] = []
        while ContinuousClock.now < deadline {
            let response = try await server.raw(.GET, "/v1/network/dns?zone=\(zone)")
            #expect(response.status == 200, "\(response.body)")
            last = try items(response)
            if condition(last) { return last }
            try await Task.sleep(for: .milliseconds(100))
        }
        return last
    }

    static func has(_ sets: [[String: Any]], _ name: String, _ type: String, _ contents: [String]) -> Bool {
        sets.contains { $0["name"] as? String == name && $0["type"] as? String == type && $0["contents"] as? [String] == contents }
    }

    /// `dig +short` against PowerDNS's DNS port.
    static func dig(_ name: String, _ type: String) throws -> [String] {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/dig")
        process.arguments = ["+short", "+time=2", "+tries=1", "@127.0.0.1", "-p", dnsPort, name, type]
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = FileHandle.nullDevice
        try process.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return String(decoding: data, as: UTF8.self).split(separator: "\n").map(String.init).sorted()
    }

    @Test("an address allocated with a DNS name over the API becomes A and PTR record sets (listed, served, dvnet); released, they go",
          arguments: Backend.allCases)
    func followsAllocations(_ backend: Backend) async throws {
        let zone = "api-\(ULID.make().lowercased().suffix(8)).example.org."
        let third = backend == .sqlite ? 1 : 2  // a reverse zone of its own per run: no other suite's sync touches it
        let reverseZone = "\(third).79.10.in-addr.arpa."
        try await Self.withDNSServer(backend, dns: Self.configuration(zone: zone)) { server, _ in
            #expect(try await server.raw(.POST, "/v1/network/prefixes", body: #"{"prefix": "10.79.\#(third).0/24"}"#).status == 201)
            let made = try await server.raw(.POST, "/v1/network/addresses/allocate", body: """
                {"prefix": "10.79.\(third).0/24", "dnsName": "web.\(zone.dropLast())", "assignedTo": "vm:web"}
                """)
            #expect(made.status == 201, "\(made.body)")
            let address = "10.79.\(third).1"

            // The allocation kicks the service: the records follow without waiting for the interval.
            let forward = try await Self.eventually(server, zone: zone) { Self.has($0, "web." + zone, "A", [address]) }
            #expect(Self.has(forward, "web." + zone, "A", [address]), "\(forward)")
            #expect(forward.first { $0["name"] as? String == "web." + zone }?["zone"] as? String == zone)
            #expect(forward.first { $0["name"] as? String == "web." + zone }?["ttl"] as? Int == 300)
            let reverse = try Self.items(try await server.raw(.GET, "/v1/network/dns?zone=\(reverseZone)"))
            #expect(Self.has(reverse, "1." + reverseZone, "PTR", ["web." + zone]), "\(reverse)")
            // Without a zone: the forward zones and the reverse zones the addresses need; zone names need no final dot.
            let all = try Self.items(try await server.raw(.GET, "/v1/network/dns"))
            #expect(Self.has(all, "web." + zone, "A", [address]) && Self.has(all, "1." + reverseZone, "PTR", ["web." + zone]), "\(all)")
            let undotted = try Self.items(try await server.raw(.GET, "/v1/network/dns?zone=\(zone.dropLast().uppercased())"))
            #expect(Self.has(undotted, "web." + zone, "A", [address]))
            // PowerDNS serves them.
            #expect(try Self.dig("web." + zone, "A") == [address])
            #expect(try Self.dig("1." + reverseZone, "PTR") == ["web." + zone])

            // dvnet dns list: NAME TYPE TTL CONTENT, or JSON.
            let table = await run(DVNetCommand.self, ["dns", "list", "--zone", zone, "--server", server.baseURL, "--token", server.token])
            #expect(table.code == 0, "\(table.err)")
            let lines = table.out.split(separator: "\n").map { $0.split(separator: " ", omittingEmptySubsequences: true).map(String.init) }
            #expect(lines.first == ["NAME", "TYPE", "TTL", "CONTENT"], "\(table.out)")
            #expect(lines.contains(["web." + zone, "A", "300", address]), "\(table.out)")
            let json = await run(DVNetCommand.self, ["dns", "list", "-o", "json", "--server", server.baseURL, "--token", server.token])
            let listed = try #require(try JSONSerialization.jsonObject(with: Data(json.out.utf8)) as? [[String: Any]], "\(json.out) \(json.err)")
            #expect(Self.has(listed, "1." + reverseZone, "PTR", ["web." + zone]), "\(json.out)")

            // Released: both record sets go (the release kicks too).
            #expect(try await server.raw(.DELETE, "/v1/network/addresses/\(address)").status == 204)
            let gone = try await Self.eventually(server, zone: zone) { !$0.contains { $0["name"] as? String == "web." + zone } }
            #expect(!gone.contains { $0["name"] as? String == "web." + zone }, "\(gone)")
            let reverseGone = try Self.items(try await server.raw(.GET, "/v1/network/dns?zone=\(reverseZone)"))
            #expect(!reverseGone.contains { $0["name"] as? String == "1." + reverseZone }, "\(reverseGone)")
        }
    }

    @Test("problems: DNS not configured (an empty list saying what to set), PowerDNS unreachable or refusing the key (503, the key never shown), a malformed zone (400), 401; a viewer may read")
    func problems() async throws {
        // Not configured: not a server fault — an empty list saying what to set; a malformed zone is a 400 all the same.
        try await Self.withDNSServer(.sqlite, dns: nil) { server, _ in
            let unconfigured = try await server.raw(.GET, "/v1/network/dns")
            #expect(unconfigured.status == 200)
            let page = try #require(try JSONSerialization.jsonObject(with: Data(unconfigured.body.utf8)) as? [String: Any])
            #expect((page["items"] as? [Any])?.isEmpty == true)
            #expect((page["notConfigured"] as? String ?? "").contains("DNS is not configured") && (page["notConfigured"] as? String ?? "").contains("DV_PDNS_URL"),
                    "\(unconfigured.body)")
            #expect(try await server.raw(.GET, "/v1/network/dns?zone=\(String(repeating: "a", count: 300))").status == 400)
            let cli = await run(DVNetCommand.self, ["dns", "list", "--server", server.baseURL, "--token", server.token])
            #expect(cli.code == 0 && cli.err.contains("DNS is not configured"), "\(cli)")
        }

        // PowerDNS unreachable, and PowerDNS refusing a wrong key: 503 naming PowerDNS; the key is in no answer.
        let secret = "wrong-key-never-shown-0815"
        let closed = try freePort()
        try await Self.withDNSServer(.sqlite, dns: Self.configuration(zone: "down.example.org", url: "http://127.0.0.1:\(closed)", key: secret)) { server, _ in
            let down = try await server.raw(.GET, "/v1/network/dns?zone=down.example.org")
            #expect(down.status == 503, "\(down.body)")
            #expect((try server.problem(down)["detail"] as? String ?? "").contains("PowerDNS at http://127.0.0.1:\(closed) did not answer"), "\(down.body)")
            #expect(!down.body.contains(secret))
        }
        let zone = "deny-\(ULID.make().lowercased().suffix(8)).example.org"
        try await Self.withDNSServer(.sqlite, dns: Self.configuration(zone: zone, key: secret)) { server, _ in
            let refused = try await server.raw(.GET, "/v1/network/dns")
            #expect(refused.status == 503, "\(refused.body)")
            #expect((try server.problem(refused)["detail"] as? String ?? "").contains("PowerDNS refused"), "\(refused.body)")
            #expect(!refused.body.contains(secret))
        }

        // Configured: malformed zones are 400 with the problem; no token is 401; a viewer reads.
        try await Self.withDNSServer(.sqlite, dns: Self.configuration(zone: "ok-\(ULID.make().lowercased().suffix(8)).example.org")) { server, _ in
            for zone in [String(repeating: "a", count: 254), String(repeating: "a", count: 64) + ".example.org", "bad%20zone.example.org", "a..b"] {
                let malformed = try await server.raw(.GET, "/v1/network/dns?zone=\(zone)")
                #expect(malformed.status == 400, "\(zone): \(malformed.status) \(malformed.body)")
                #expect((try server.problem(malformed)["detail"] as? String ?? "").contains("zone"), "\(malformed.body)")
            }
            #expect(try await server.raw(.GET, "/v1/network/dns", headers: ["Authorization": "Bearer nope"]).status == 401)
            let viewer = try await server.token(for: "user:dns-viewer", roles: [.viewer])
            let read = try await server.raw(.GET, "/v1/network/dns", headers: ["Authorization": "Bearer \(viewer)"])
            #expect(read.status == 200, "\(read.body)")
        }
    }

    @Test("dataverket serve refuses a DNS configuration without a usable key file, naming the variable and never the key")
    func serveRefusesBadConfiguration() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("dvdns-\(ULID.make())").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let empty = directory + "/empty-key"
        try Data("\n".utf8).write(to: URL(fileURLWithPath: empty))
        let secret = "pdns-key-never-printed-4711"
        let keyFile = directory + "/key"
        try Data("\(secret)\n".utf8).write(to: URL(fileURLWithPath: keyFile))
        let base: [String: String?] = ["DV_DATABASE_URL": nil, "DV_NATS_URL": nil, "DV_PDNS_URL": "http://127.0.0.1:8081",
                                       "DV_DNS_ZONES": "osl1.example.org", "DV_PDNS_API_KEY_FILE": nil]
        let arguments = ["serve", "--listen", "127.0.0.1:0", "--data-dir", directory + "/data"]
        var environment = base
        environment["DV_PDNS_API_KEY_FILE"] = empty
        let emptyKey = try await ServerProcessTests.run(arguments, environment: environment)
        #expect(emptyKey.code != 0 && emptyKey.err.contains("DV_PDNS_API_KEY_FILE \(empty) is empty"), "\(emptyKey)")
        environment["DV_PDNS_API_KEY_FILE"] = directory + "/missing"
        let missing = try await ServerProcessTests.run(arguments, environment: environment)
        #expect(missing.code != 0 && missing.err.contains("cannot read DV_PDNS_API_KEY_FILE \(directory)/missing"), "\(missing)")
        environment["DV_PDNS_API_KEY_FILE"] = keyFile
        environment["DV_DNS_ZONES"] = "not a zone"
        let badZone = try await ServerProcessTests.run(arguments, environment: environment)
        #expect(badZone.code != 0 && badZone.err.contains("DV_DNS_ZONES") && !badZone.err.contains(secret), "\(badZone)")
        #expect(!FileManager.default.fileExists(atPath: directory + "/data"), "serve started before refusing")
    }
}
