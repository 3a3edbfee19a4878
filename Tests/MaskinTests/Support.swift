import DataverketCore
import Foundation
import Logging
import Testing
import DataverketTestSupport
@testable import Maskin

/// The emulators that `scripts/lib/bmc.sh` starts (`bmc_start`); loopback defaults match it. Integration tests
/// fail, not skip, when they are not there.
enum Emulators {
    static let environment = ProcessInfo.processInfo.environment

    static var redfishURL: String { environment["DV_TEST_REDFISH_URL"] ?? "http://127.0.0.1:18000" }
    static var redfishAddress: String {
        redfishURL.replacingOccurrences(of: "http://", with: "").trimmingCharacters(in: CharacterSet(charactersIn: "/"))
    }
    static var redfishCredentials: BMCCredentials {
        BMCCredentials(username: environment["DV_TEST_REDFISH_USER"] ?? "dvadmin",
                       password: environment["DV_TEST_REDFISH_PASSWORD"] ?? "Hemmelig-7Qx2")
    }

    static var ipmiAddress: String { environment["DV_TEST_IPMI_ADDRESS"] ?? "127.0.0.1:19623" }
    static var ipmiCredentials: BMCCredentials {
        BMCCredentials(username: environment["DV_TEST_IPMI_USER"] ?? "dvadmin",
                       password: environment["DV_TEST_IPMI_PASSWORD"] ?? "Hemmelig-7Qx2")
    }
    /// Where the chassis_control script of `bmc.sh` keeps power and boot device (optional).
    static var ipmiStateDirectory: String? { environment["DV_TEST_IPMI_STATE_DIR"] }

    /// The fake systems of `bmc.sh` (sushy-tools names them by UUID).
    static func fakeSystem(_ number: Int) -> String { "2b1f6a4e-0000-4000-8000-00000000000\(number)" }

    static let hint = "start the BMC emulators first: . scripts/lib/bmc.sh && bmc_ensure_installed && bmc_start"
}

/// Every way an error can be printed.
func renderings(of error: any Error) -> [String] {
    var texts = [String(describing: error), String(reflecting: error), "\(error)", error.localizedDescription]
    if let error = error as? DataverketError {
        texts.append(error.message)
        if let cause = error.cause { texts.append(String(describing: cause)) }
    }
    return texts
}

/// Asserts that `secret` appears in no rendering of `error` and in no captured log line.
func expectNoSecret(_ secret: String, in error: (any Error)?, log: LogCapture,
                    sourceLocation: SourceLocation = #_sourceLocation) {
    if let error {
        for text in renderings(of: error) {
            #expect(!text.contains(secret), "the secret leaked into an error: \(text)", sourceLocation: sourceLocation)
        }
    }
    for line in log.lines {
        #expect(!line.contains(secret), "the secret leaked into a log line: \(line)", sourceLocation: sourceLocation)
    }
}

/// Polls `read` until it returns `expected` or `limit` passes; returns the last value read.
func poll<T: Equatable & Sendable>(until expected: T, within limit: Duration, every interval: Duration = .milliseconds(500),
                                   _ read: () async throws -> T) async throws -> T {
    let clock = ContinuousClock()
    let deadline = clock.now + limit
    var value = try await read()
    while value != expected, clock.now < deadline {
        try await Task.sleep(for: interval)
        value = try await read()
    }
    return value
}

/// A loopback TCP port with a listener that completes connections (the kernel's backlog) and never answers.
final class SilentListener: Sendable {
    let port: Int
    private let fd: Int32

    init() throws {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw DataverketError(.internal, "socket() failed") }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = 0
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard bound == 0, listen(fd, 16) == 0 else {
            close(fd)
            throw DataverketError(.internal, "bind/listen failed")
        }
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        self.fd = fd
        self.port = Int(UInt16(bigEndian: address.sin_port))
    }

    deinit { close(fd) }
}

/// A loopback TCP port that nothing listens on (bound, then closed).
func closedPort() throws -> Int {
    let listener = try SilentListener()
    return listener.port
}
