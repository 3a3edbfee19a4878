import DataverketCore
import Foundation
import DataverketTestSupport
import Testing
@testable import Maskin

/// The Redfish driver against sushy-tools (fake driver, basic auth) from `scripts/lib/bmc.sh`. sushy-tools applies
/// a power change 1–11 s after it is asked, so power checks poll for up to 20 s.
@Suite("Redfish driver (sushy-tools)")
struct RedfishDriverTests {
    func driver(system: Int?, credentials: BMCCredentials = Emulators.redfishCredentials,
                address: String = Emulators.redfishAddress, log: LogCapture = LogCapture(),
                options: RedfishDriver.Options = RedfishDriver.Options()) throws -> RedfishDriver {
        var options = options
        options.systemID = system.map(Emulators.fakeSystem)
        let endpoint = try BMCEndpoint(protocol: .redfish, address: address, tls: .plaintextLoopbackOnly)
        return try RedfishDriver(endpoint: endpoint, credentials: credentials, httpClient: .shared,
                                 logger: log.logger(), options: options)
    }

    /// The emulator must answer: a failing test names the fix rather than a connection error.
    func requireEmulator(_ driver: RedfishDriver) async throws {
        do {
            _ = try await driver.powerState()
        } catch {
            Issue.record("sushy-tools does not answer at \(Emulators.redfishURL) (\(error)); \(Emulators.hint)")
            throw error
        }
    }

    @Test("power on, off and cycle change the reported power state")
    func power() async throws {
        let log = LogCapture()
        let bmc = try driver(system: 1, log: log)
        try await requireEmulator(bmc)
        try await bmc.powerOff()
        #expect(try await poll(until: PowerState.off, within: .seconds(20)) { try await bmc.powerState() } == .off)
        try await bmc.powerOn()
        #expect(try await poll(until: PowerState.on, within: .seconds(20)) { try await bmc.powerState() } == .on)
        // A cycle of a running machine: sushy-tools reports it off at once (ForceRestart), then on again.
        try await bmc.powerCycle()
        #expect(try await bmc.powerState() == .off)
        #expect(try await poll(until: PowerState.on, within: .seconds(20)) { try await bmc.powerState() } == .on)
        try await bmc.softPowerOff()
        #expect(try await poll(until: PowerState.off, within: .seconds(20)) { try await bmc.powerState() } == .off)
        // A cycle of a machine that is off powers it on.
        try await bmc.powerCycle()
        #expect(try await poll(until: PowerState.on, within: .seconds(20)) { try await bmc.powerState() } == .on)
        #expect(log.lines.contains { $0.contains("resetType=ForceRestart") })
        #expect(log.lines.contains { $0.contains("resetType=GracefulShutdown") })
        expectNoSecret(Emulators.redfishCredentials.password, in: nil, log: log)
    }

    @Test("a one-shot boot override is set and read back")
    func bootOverride() async throws {
        let bmc = try driver(system: 2)
        try await requireEmulator(bmc)
        try await bmc.setOneTimeBoot(.pxe)
        #expect(try await bmc.bootOverride().device == .pxe)
        try await bmc.setOneTimeBoot(.disk)
        let disk = try await bmc.bootOverride()
        #expect(disk.device == .disk)
        // sushy-tools stores every override as Continuous (a known emulator limitation); a real BMC says Once.
        #expect(disk.enabled == .continuous || disk.enabled == .once)
        try await bmc.setOneTimeBoot(.pxe)
        #expect(try await bmc.bootOverride().device == .pxe)
    }

    @Test("facts: UUID, MACs and disks of the fake system")
    func facts() async throws {
        let bmc = try driver(system: 3)
        try await requireEmulator(bmc)
        let facts = try await bmc.systemFacts()
        #expect(facts.uuid == Emulators.fakeSystem(3))
        #expect(facts.manufacturer == "Sushy Emulator")
        #expect(facts.macAddresses == ["52:54:00:a0:00:03"])
        #expect(facts.disks.map(\.name) == ["Drive 0", "Drive 1"])
        #expect(facts.disks.map(\.sizeBytes) == [480_103_981_056, 1_920_383_410_176])
        #expect(facts.disks.map(\.interface) == ["SATA", "SAS"])
    }

    @Test("a BMC with several systems needs the system named")
    func severalSystems() async throws {
        let bmc = try driver(system: nil)
        let error = await #expect(throws: DataverketError.self) { try await bmc.powerState() }
        #expect(error?.code == .invalidArgument)
        #expect(error?.message.contains("manages 9 systems") == true, "\(error?.message ?? "")")
        let unknown = try driver(system: 0)
        let missing = await #expect(throws: DataverketError.self) { try await unknown.powerState() }
        #expect(missing?.code == .notFound)
    }

    @Test("a wrong password is a clear one-line 401 error without the password")
    func wrongPassword() async throws {
        let log = LogCapture()
        let wrong = BMCCredentials(username: "dvadmin", password: "Wr0ng-S3cret-pw")
        let bmc = try driver(system: 1, credentials: wrong, log: log)
        let error = await #expect(throws: DataverketError.self) { try await bmc.powerState() }
        #expect(error?.bmcFailure?.kind == .unauthorized)
        #expect(error?.bmcFailure?.isTransient == false)
        #expect(error?.message == "the BMC at \(Emulators.redfishAddress) refused the credentials of user 'dvadmin' (HTTP 401)")
        #expect(error.map { renderings(of: $0).allSatisfy { !$0.contains("\n") } } == true)
        #expect(!log.lines.isEmpty, "the driver logged nothing, so the log check below proves nothing")
        expectNoSecret("Wr0ng-S3cret-pw", in: error, log: log)
        // Nor its base64 form (what basic auth sends).
        expectNoSecret(Data("dvadmin:Wr0ng-S3cret-pw".utf8).base64EncodedString(), in: error, log: log)
    }

    @Test("an unreachable port: bounded retries, then a clear error in bounded time")
    func unreachable() async throws {
        let log = LogCapture()
        let port = try closedPort()
        let bmc = try driver(system: 1, address: "127.0.0.1:\(port)", log: log,
                             options: .init(requestTimeout: .seconds(2), attempts: 3, retryBackoff: .milliseconds(100)))
        let clock = ContinuousClock()
        let started = clock.now
        let error = await #expect(throws: DataverketError.self) { try await bmc.powerState() }
        let elapsed = clock.now - started
        #expect(elapsed < .seconds(12), "took \(elapsed)")
        #expect(error?.code == .unavailable)
        #expect(error?.bmcFailure?.isTransient == true)
        #expect(error?.bmcFailure?.attempts == 3)
        #expect(error?.message == "the BMC at 127.0.0.1:\(port) refused the connection (3 attempts)")
        #expect(log.lines.filter { $0.contains("retrying") }.count == 2)
        expectNoSecret(Emulators.redfishCredentials.password, in: error, log: log)
    }

    @Test("a BMC that accepts and never answers: a timeout error")
    func hangingBMC() async throws {
        let listener = try SilentListener()
        let log = LogCapture()
        let bmc = try driver(system: 1, address: "127.0.0.1:\(listener.port)", log: log,
                             options: .init(requestTimeout: .seconds(1), attempts: 2, retryBackoff: .milliseconds(100)))
        let clock = ContinuousClock()
        let started = clock.now
        let error = await #expect(throws: DataverketError.self) { try await bmc.powerState() }
        let elapsed = clock.now - started
        #expect(elapsed >= .seconds(2) && elapsed < .seconds(8), "took \(elapsed)")
        #expect(error?.bmcFailure?.kind == .timedOut)
        #expect(error?.message == "the BMC at 127.0.0.1:\(listener.port) did not answer within 1 s (2 attempts)")
        expectNoSecret(Emulators.redfishCredentials.password, in: error, log: log)
    }
}
