import AsyncHTTPClient
import DataverketCore
import Foundation
import Nett
import NettIntent
import Testing
import DataverketTestSupport

extension PowerDNSSuites {
    /// DNS records follow address allocations into a real PowerDNS (scripts/lib/pdns.sh starts it on loopback), and are
    /// served: checked through its API and with `dig` against its DNS port.
    @Suite("DNS (PowerDNS)")
    struct DNSTests {
        static let environment = ProcessInfo.processInfo.environment
        static var url: String { environment["DV_TEST_PDNS_URL"] ?? "http://127.0.0.1:18081" }
        static var apiKey: String { environment["DV_TEST_PDNS_API_KEY"] ?? "" }
        static var dnsPort: String { environment["DV_TEST_PDNS_DNS_PORT"] ?? "15353" }

        /// `dig +short @127.0.0.1 -p PORT NAME TYPE`, bounded.
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

        @Test("reverse names: IPv4 /24 zones, IPv6 /64 nibble zones")
        func reverseNames() throws {
            let v4 = DNSSync.reverse(try IPAddress.parse("10.20.30.40"))
            #expect(v4.name == "40.30.20.10.in-addr.arpa." && v4.zone == "30.20.10.in-addr.arpa.")
            let v6 = DNSSync.reverse(try IPAddress.parse("2001:db8::1"))
            #expect(v6.name == "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa.")
            #expect(v6.zone == "0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa.")
        }

        @Test("allocations with DNS names become A and PTR records; releases remove them; hand-kept records stay; a wrong key is refused")
        func followsAllocations() async throws {
            let zone = "lab-\(ULID.make().lowercased().suffix(8)).example.org."
            let third = Int.random(in: 0...255)
            try await withIPAM(.sqlite) { ipam in
                _ = try await ipam.createPrefix(PrefixSpec(prefix: "10.77.\(third).0/24", role: .tenant), context: ops)
                let web = try await ipam.allocateAddress(in: "10.77.\(third).0/24", dnsName: "web." + zone, context: ops)
                let db = try await ipam.allocateAddress(in: "10.77.\(third).0/24", dnsName: "db." + zone, context: ops)
                _ = try await ipam.allocateAddress(in: "10.77.\(third).0/24", dnsName: "elsewhere.example.net", context: ops)
                _ = try await ipam.allocateAddress(in: "10.77.\(third).0/24", context: ops)
                let client = PowerDNSClient(baseURL: Self.url, apiKey: Self.apiKey, httpClient: .shared)
                let sync = DNSSync(ipam: ipam, client: client, forwardZones: [zone], logger: quietLogger)

                let first = try await sync.sync()
                let reverseZone = "\(third).77.10.in-addr.arpa."
                #expect(first.zonesCreated.contains(zone) && first.zonesCreated.contains(reverseZone), "\(first.zonesCreated)")
                #expect(first.outsideZones == ["elsewhere.example.net."])
                #expect(first.replaced.filter { $0.type == "A" }.map(\.name) == ["db." + zone, "web." + zone])
                #expect(first.replaced.filter { $0.type == "PTR" }.count == 3)
                #expect(try Self.dig("web." + zone, "A") == [web.address.description])
                #expect(try Self.dig(web.address.description.split(separator: ".").reversed().joined(separator: ".") + ".in-addr.arpa", "PTR")
                        == ["web." + zone])

                // Nothing changed: nothing is written.
                #expect(try await sync.sync().changes == 0)

                // A record kept by hand in the same zone is not Nett's: it survives every sync.
                var request = HTTPClientRequest(url: "\(Self.url)/api/v1/servers/localhost/zones/\(zone)")
                request.method = .PATCH
                request.headers.add(name: "X-API-Key", value: Self.apiKey)
                request.headers.add(name: "Content-Type", value: "application/json")
                request.body = .bytes(.init(string: """
                    {"rrsets": [{"name": "mail.\(zone)", "type": "A", "ttl": 60, "changetype": "REPLACE",
                                 "records": [{"content": "192.0.2.25", "disabled": false}]}]}
                    """))
                // PowerDNS's SQLite backend answers 500 "database is locked" while another suite writes: retry, bounded.
                var status: UInt = 0
                for attempt in 1...10 {
                    status = try await HTTPClient.shared.execute(request, timeout: .seconds(10)).status.code
                    if status < 500 { break }
                    try await Task.sleep(for: .milliseconds(100 * attempt))
                }
                #expect(status == 204)

                try await ipam.releaseAddress(db.address.description, context: ops)
                let second = try await sync.sync()
                #expect(second.deleted.map(\.name).sorted() == ["db." + zone, DNSSync.reverse(db.address).name].sorted(), "\(second.deleted)")
                #expect(second.replaced.isEmpty)
                #expect(try Self.dig("db." + zone, "A").isEmpty)
                #expect(try Self.dig("mail." + zone, "A") == ["192.0.2.25"])
                let managed = try await sync.records()
                #expect(managed.contains { $0.name == "web." + zone && $0.contents == [web.address.description] })
                #expect(!managed.contains { $0.name.hasPrefix("mail.") })

                // A wrong API key: a clear error, and the key itself never appears in it.
                let wrong = DNSSync(ipam: ipam, client: PowerDNSClient(baseURL: Self.url, apiKey: "not-the-key-4711", httpClient: .shared),
                                    forwardZones: [zone], logger: quietLogger)
                do {
                    _ = try await wrong.sync()
                    Issue.record("a wrong API key was accepted")
                } catch let error as DataverketError {
                    #expect(error.message.contains("PowerDNS refused") && error.message.contains("401"), "\(error.message)")
                    #expect(!error.message.contains("not-the-key-4711"))
                }
            }
        }
    }
}
