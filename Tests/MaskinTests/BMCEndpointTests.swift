import DataverketCore
import Foundation
import Logging
import DataverketTestSupport
import Testing
@testable import Maskin

@Suite("BMC endpoints and credentials")
struct BMCEndpointTests {
    @Test("addresses parse into host and port, with protocol defaults")
    func parse() throws {
        let cases: [(BMCProtocol, String, RedfishTLS, String, Int)] = [
            (.redfish, "127.0.0.1:8000", .plaintextLoopbackOnly, "127.0.0.1", 8000),
            (.redfish, "bmc1.osl1.example", .systemRoots, "bmc1.osl1.example", 443),
            (.redfish, "localhost", .plaintextLoopbackOnly, "localhost", 80),
            (.ipmi, "10.0.0.5", .systemRoots, "10.0.0.5", 623),
            (.ipmi, "[fd00::5]:1623", .systemRoots, "fd00::5", 1623),
            (.ipmi, "fd00::5", .systemRoots, "fd00::5", 623),
        ]
        for (proto, address, tls, host, port) in cases {
            let endpoint = try BMCEndpoint(protocol: proto, address: address, tls: tls)
            #expect(endpoint.host == host, "\(address)")
            #expect(endpoint.port == port, "\(address)")
        }
        #expect(try BMCEndpoint(protocol: .ipmi, address: "[fd00::5]:1623").address == "[fd00::5]:1623")
        #expect(try BMCEndpoint(protocol: .redfish, address: "bmc:8443").redfishBaseURL == "https://bmc:8443")
        #expect(try BMCEndpoint(protocol: .redfish, address: "127.0.0.1:18000", tls: .plaintextLoopbackOnly)
            .redfishBaseURL == "http://127.0.0.1:18000")
    }

    @Test("bad addresses are refused with a field violation", arguments: [
        "", ":80", "host:0", "host:70000", "host:http", "[fd00::1", "[fd00::1]x", "user@host", "host/path", "a b",
    ])
    func badAddresses(address: String) {
        let error = #expect(throws: DataverketError.self) { try BMCEndpoint(protocol: .ipmi, address: address) }
        #expect(error?.code == .invalidArgument)
        #expect(error?.violations.first?.field == "address")
    }

    @Test("plain HTTP only to loopback")
    func plaintextOnlyLoopback() throws {
        for address in ["127.0.0.1:1", "127.8.9.10", "localhost:80", "[::1]:8000"] {
            #expect(try BMCEndpoint(protocol: .redfish, address: address, tls: .plaintextLoopbackOnly).isLoopback)
        }
        for address in ["10.0.0.1:80", "bmc.example", "127.0.0.1.example.com", "[fd00::1]:80"] {
            let error = #expect(throws: DataverketError.self, "\(address)") {
                try BMCEndpoint(protocol: .redfish, address: address, tls: .plaintextLoopbackOnly)
            }
            #expect(error?.message.contains("loopback only") == true)
        }
    }

    @Test("drivers refuse endpoints of the other protocol and bad pinned CAs")
    func driverChecks() throws {
        let log = LogCapture()
        let ipmi = try BMCEndpoint(protocol: .ipmi, address: "127.0.0.1:623")
        let redfish = try BMCEndpoint(protocol: .redfish, address: "127.0.0.1:8000", tls: .plaintextLoopbackOnly)
        let credentials = BMCCredentials(username: "u", password: "p")
        #expect(throws: DataverketError.self) {
            try RedfishDriver(endpoint: ipmi, credentials: credentials, httpClient: .shared, logger: log.logger())
        }
        #expect(throws: DataverketError.self) {
            try IPMIDriver(endpoint: redfish, credentials: credentials, logger: log.logger())
        }
        let badPEM = try BMCEndpoint(protocol: .redfish, address: "bmc:443", tls: .pinnedCA(pem: "not a certificate"))
        let error = #expect(throws: DataverketError.self) {
            try RedfishDriver(endpoint: badPEM, credentials: credentials, httpClient: .shared, logger: log.logger())
        }
        #expect(error?.violations.first?.field == "tls.pinnedCA")
        // An IPMI 2.0 password has at most 20 bytes.
        #expect(throws: DataverketError.self) {
            try IPMIDriver(endpoint: ipmi, credentials: BMCCredentials(username: "u", password: String(repeating: "p", count: 21)),
                           logger: log.logger())
        }
    }

    @Test("insecure TLS must be asked for and is logged")
    func insecureIsLogged() throws {
        let log = LogCapture()
        let endpoint = try BMCEndpoint(protocol: .redfish, address: "bmc:443", tls: .insecure)
        _ = try RedfishDriver(endpoint: endpoint, credentials: BMCCredentials(username: "u", password: "p"),
                              httpClient: .shared, logger: log.logger())
        #expect(log.lines.contains { $0.hasPrefix("warning") && $0.contains("TLS verification is off") })
    }

    @Test("credentials never print their password")
    func credentialsRedacted() {
        let credentials = BMCCredentials(username: "admin", password: "Sup3r-S3cret")
        let texts = [String(describing: credentials), String(reflecting: credentials), "\(credentials)",
                     "\([credentials])", "\(Optional(credentials) as Any)"]
        for text in texts {
            #expect(!text.contains("Sup3r-S3cret"), "\(text)")
            #expect(text.contains("admin"))
        }
        var dumped = ""
        dump(credentials, to: &dumped)
        #expect(!dumped.contains("Sup3r-S3cret"), "\(dumped)")
        #expect(dumped.contains("<redacted>"))
    }

    @Test("MAC addresses are normalized; all-zero ones dropped")
    func macs() {
        #expect(RedfishDriver.normalizedMAC("52:54:00:AB:cd:01") == "52:54:00:ab:cd:01")
        #expect(RedfishDriver.normalizedMAC("5254.00ab.cd01") == "52:54:00:ab:cd:01")
        #expect(RedfishDriver.normalizedMAC("00:00:00:00:00:00") == nil)
        #expect(RedfishDriver.normalizedMAC("52:54:00") == nil)
        #expect(RedfishDriver.normalizedMAC(nil) == nil)
    }
}
