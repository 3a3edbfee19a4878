import AsyncHTTPClient
import DataverketCore
import Foundation
import Logging
import Nett
import NettIntent
import Testing
import DataverketTestSupport

extension PowerDNSSuites {
    /// `DV_PDNS_*` and `DV_DNS_*`: what the server reads to keep DNS records in PowerDNS.
    @Suite("DNS configuration (environment)")
    struct DNSConfigurationTests {
        static let key = "s3cret-pdns-key-0815"

        /// Parses `environment` with a key file at `/keys/pdns` holding `key` (nil: no such file).
        static func parse(_ environment: [String: String], file: String? = key) throws(DataverketError) -> DNSConfiguration? {
            try DNSConfiguration.fromEnvironment(environment, readFile: { path in path == "/keys/pdns" ? file.map { Data($0.utf8) } : nil })
        }

        static func message(_ environment: [String: String], file: String? = key) -> String {
            do {
                _ = try parse(environment, file: file)
                Issue.record("accepted \(environment)")
                return ""
            } catch {
                #expect(error.code == .invalidArgument)
                #expect(!error.message.contains(key) && !"\(error)".contains(key), "the key leaked: \(error)")
                return error.message
            }
        }

        static let base = ["DV_PDNS_URL": "http://127.0.0.1:8081", "DV_PDNS_API_KEY_FILE": "/keys/pdns", "DV_DNS_ZONES": "osl1.example.org"]

        @Test("unset DV_PDNS_URL: DNS is not managed")
        func unset() throws {
            #expect(try Self.parse([:]) == nil)
            #expect(try Self.parse(["DV_PDNS_URL": "", "DV_DNS_ZONES": "example.org"]) == nil)
        }

        @Test("a full configuration: key trimmed from its file, zones qualified and lower-cased, server ID, interval; the description hides the key")
        func full() throws {
            var environment = Self.base
            environment["DV_DNS_ZONES"] = " osl1.example.org, Example.NET. ,osl1.example.org,"
            environment["DV_PDNS_SERVER_ID"] = "ns1.osl1"
            environment["DV_DNS_SYNC_INTERVAL"] = "5m"
            let configuration = try #require(try Self.parse(environment, file: "  \(Self.key)\n"))
            #expect(configuration.url == "http://127.0.0.1:8081" && configuration.apiKey == Self.key)
            #expect(configuration.forwardZones == ["osl1.example.org.", "example.net."])
            #expect(configuration.serverID == "ns1.osl1" && configuration.syncInterval == .seconds(300))
            #expect(!"\(configuration)".contains(Self.key) && "\(configuration)".contains("osl1.example.org."))

            let defaults = try #require(try Self.parse(Self.base))
            #expect(defaults.serverID == "localhost" && defaults.syncInterval == .seconds(30))
            for (text, seconds) in [("45", 45), ("45s", 45), ("2h", 7200)] {
                environment["DV_DNS_SYNC_INTERVAL"] = text
                #expect(try Self.parse(environment)?.syncInterval == .seconds(seconds))
            }
        }

        @Test("a real key file is read")
        func realFile() throws {
            let path = FileManager.default.temporaryDirectory.appendingPathComponent("dv-pdns-key-\(ULID.make())").path
            defer { try? FileManager.default.removeItem(atPath: path) }
            try Data("\(Self.key)\n".utf8).write(to: URL(fileURLWithPath: path))
            var environment = Self.base
            environment["DV_PDNS_API_KEY_FILE"] = path
            #expect(try DNSConfiguration.fromEnvironment(environment)?.apiKey == Self.key)
            environment["DV_PDNS_API_KEY_FILE"] = path + ".missing"
            #expect(throws: DataverketError.self) { try DNSConfiguration.fromEnvironment(environment) }
        }

        @Test("refused with a clear error that never holds the key: no key file, a missing, empty or multi-line one, no zones, bad values")
        func refused() {
            var environment = Self.base
            environment["DV_PDNS_API_KEY_FILE"] = nil
            #expect(Self.message(environment).contains("DV_PDNS_API_KEY_FILE is not"))
            #expect(Self.message(Self.base, file: nil).contains("cannot read DV_PDNS_API_KEY_FILE /keys/pdns"))
            #expect(Self.message(Self.base, file: " \n\n").contains("DV_PDNS_API_KEY_FILE /keys/pdns is empty"))
            #expect(Self.message(Self.base, file: "\(Self.key)\nsecond line").contains("must hold the API key alone"))
            #expect(Self.message(Self.base, file: "\(Self.key) \(Self.key)").contains("must hold the API key alone"))

            environment = Self.base
            environment["DV_DNS_ZONES"] = nil
            #expect(Self.message(environment).contains("DV_DNS_ZONES is not"))
            environment["DV_DNS_ZONES"] = " , "
            #expect(Self.message(environment).contains("DV_DNS_ZONES names no zone"))
            environment["DV_DNS_ZONES"] = "good.example.org,bad zone.example.org"
            #expect(Self.message(environment).contains("DV_DNS_ZONES: 'bad zone.example.org' is not a DNS name"))
            environment["DV_DNS_ZONES"] = String(repeating: "a.", count: 130) + "org"
            #expect(Self.message(environment).contains("DV_DNS_ZONES"))

            for url in ["127.0.0.1:8081", "ftp://127.0.0.1", "http://", "http://127.0.0.1:8081/?key=1"] {
                environment = Self.base
                environment["DV_PDNS_URL"] = url
                let message = Self.message(environment)
                #expect(message.contains("DV_PDNS_URL must be"), "\(url): \(message)")
            }
            environment["DV_PDNS_URL"] = "http://user:\(Self.key)@127.0.0.1:8081"
            #expect(Self.message(environment).contains("DV_PDNS_URL must not hold credentials"))
            environment = Self.base
            environment["DV_PDNS_SERVER_ID"] = "../zones"
            #expect(Self.message(environment).contains("DV_PDNS_SERVER_ID must be"))
            for interval in ["0", "-5", "soon", "2d", "25h"] {
                environment["DV_PDNS_SERVER_ID"] = nil
                environment["DV_DNS_SYNC_INTERVAL"] = interval
                #expect(Self.message(environment).contains("DV_DNS_SYNC_INTERVAL must be"), "\(interval)")
            }
        }
    }

    /// The service that keeps PowerDNS in step: syncs at start and when kicked, outlives an unreachable PowerDNS, and
    /// ends with its `run()`.
    @Suite("DNS sync service")
    struct DNSSyncServiceTests {
        /// Runs `service` until `body` returns, then cancels it; `run()` must end promptly.
        static func whileRunning(_ service: DNSSyncService, _ body: () async throws -> Void) async throws {
            let task = Task { try await service.run() }
            do {
                try await body()
            } catch {
                task.cancel()
                throw error
            }
            let started = ContinuousClock.now
            task.cancel()
            try await task.value
            #expect(ContinuousClock.now - started < .seconds(5))
        }

        /// Polls `condition` for up to `seconds`.
        static func eventually(_ seconds: Int = 30, _ condition: () async throws -> Bool) async throws -> Bool {
            let deadline = ContinuousClock.now + .seconds(seconds)
            while ContinuousClock.now < deadline {
                if try await condition() { return true }
                try await Task.sleep(for: .milliseconds(100))
            }
            return false
        }

        @Test("syncs at start and soon after a kick (not waiting for the interval); stops when its run() is cancelled")
        func kicked() async throws {
            let zone = "svc-\(ULID.make().lowercased().suffix(8)).example.org."
            let third = Int.random(in: 0...255)
            try await withIPAM(.sqlite) { ipam in
                _ = try await ipam.createPrefix(PrefixSpec(prefix: "10.76.\(third).0/24", role: .tenant), context: ops)
                let first = try await ipam.allocateAddress(in: "10.76.\(third).0/24", dnsName: "first." + zone, context: ops)
                let configuration = DNSConfiguration(url: DNSTests.url, apiKey: DNSTests.apiKey, forwardZones: [zone], syncInterval: .seconds(3600))
                let service = DNSSyncService(configuration: configuration, ipam: ipam, httpClient: .shared, logger: quietLogger)
                try await Self.whileRunning(service) {
                    let atStart = try await Self.eventually {
                        try await service.sync.records(zones: [zone]).contains { $0.name == "first." + zone && $0.contents == [first.address.description] }
                    }
                    #expect(atStart, "the first sync did not run at start")
                    let second = try await ipam.allocateAddress(in: "10.76.\(third).0/24", dnsName: "second." + zone, context: ops)
                    service.kick()
                    let kicked = try await Self.eventually {
                        try await service.sync.records(zones: [zone]).contains { $0.name == "second." + zone && $0.contents == [second.address.description] }
                    }
                    #expect(kicked, "a kick did not sync")
                    try await ipam.releaseAddress(first.address.description, context: ops)
                    service.kick()
                    let released = try await Self.eventually {
                        try await !service.sync.records(zones: [zone]).contains { $0.name == "first." + zone }
                    }
                    #expect(released)
                }
                service.kick()  // after the end: nothing happens
            }
        }

        @Test("an unreachable PowerDNS: every failed sync is a warning without the key; the service keeps going and still stops at once")
        func unreachable() async throws {
            let capture = LogCapture()
            let logger = capture.logger()
            let key = "never-in-a-log-4711"
            try await withIPAM(.sqlite) { ipam in
                _ = try await ipam.createPrefix(PrefixSpec(prefix: "10.76.0.0/24", role: .tenant), context: ops)
                _ = try await ipam.allocateAddress(in: "10.76.0.0/24", dnsName: "web.unreachable.example.org", context: ops)
                let client = PowerDNSClient(baseURL: "http://127.0.0.1:1", apiKey: key, httpClient: .shared, timeout: .seconds(1))
                let service = DNSSyncService(sync: DNSSync(ipam: ipam, client: client, forwardZones: ["unreachable.example.org"], logger: logger),
                                             interval: .milliseconds(100), logger: logger)
                try await Self.whileRunning(service) {
                    let retried = try await Self.eventually(30) { capture.lines.filter { $0.contains("DNS sync failed") }.count >= 3 }
                    #expect(retried, "\(capture.lines)")
                }
            }
            let failures = capture.lines.filter { $0.contains("DNS sync failed") }
            #expect(failures.allSatisfy { $0.contains("PowerDNS at http://127.0.0.1:1 did not answer") }, "\(failures.prefix(2))")
            #expect(!capture.lines.contains { $0.contains(key) })
            #expect(capture.lines.last?.contains("DNS sync stopped") == true, "\(capture.lines.suffix(3))")
        }
    }

    /// Reverse zones whose last address was released still get their PTRs deleted.
    @Suite("DNS sync: emptied reverse zones")
    struct DNSReverseZoneTests {
        @Test("the only address of a /24 released: its PTR goes at the next sync; the zone of another IPAM's prefix is left alone")
        func lastAddressReleased() async throws {
            let zone = "rev-\(ULID.make().lowercased().suffix(8)).example.org."
            let third = Int.random(in: 0...255)
            try await withIPAM(.sqlite) { ipam in
                _ = try await ipam.createPrefix(PrefixSpec(prefix: "10.75.\(third).0/24", role: .tenant), context: ops)
                let only = try await ipam.allocateAddress(in: "10.75.\(third).0/24", dnsName: "only." + zone, context: ops)
                let sync = DNSSync(ipam: ipam, client: PowerDNSClient(baseURL: DNSTests.url, apiKey: DNSTests.apiKey, httpClient: .shared),
                                   forwardZones: [zone], logger: quietLogger)
                let reverse = DNSSync.reverse(only.address)
                #expect(try await sync.sync().replaced.map(\.name).sorted() == [reverse.name, "only." + zone].sorted())
                #expect(try await sync.records().contains { $0.name == reverse.name })

                try await ipam.releaseAddress(only.address.description, context: ops)
                let result = try await sync.sync()
                #expect(result.deleted.map(\.name).sorted() == [reverse.name, "only." + zone].sorted(), "\(result.deleted)")
                #expect(try await sync.records(zones: [reverse.zone]).isEmpty)
                #expect(try DNSTests.dig(reverse.name, "PTR").isEmpty)
                #expect(try await sync.sync().changes == 0)
            }
        }
    }
}
