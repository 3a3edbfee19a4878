import DataverketCore
import Foundation
import DataverketTestSupport
import Testing
@testable import Maskin

/// The IPMI driver against OpenIPMI's ipmi_sim from `scripts/lib/bmc.sh`. One simulated BMC: serialized.
@Suite("IPMI driver (ipmi_sim)", .serialized)
struct IPMIDriverTests {
    func driver(credentials: BMCCredentials = Emulators.ipmiCredentials, address: String = Emulators.ipmiAddress,
                log: LogCapture = LogCapture(), options: IPMIDriver.Options = IPMIDriver.Options()) throws -> IPMIDriver {
        try IPMIDriver(endpoint: try BMCEndpoint(protocol: .ipmi, address: address), credentials: credentials,
                       logger: log.logger(), options: options)
    }

    func requireEmulator(_ driver: IPMIDriver) async throws {
        do {
            _ = try await driver.powerState()
        } catch {
            Issue.record("ipmi_sim does not answer at \(Emulators.ipmiAddress) (\(error)); \(Emulators.hint)")
            throw error
        }
    }

    /// The chassis_control script's record of what ipmi_sim asked it (`<time> set power 1`), when the test knows where.
    func chassisLog() -> [String] {
        guard let directory = Emulators.ipmiStateDirectory,
              let text = try? String(contentsOfFile: directory + "/log", encoding: .utf8) else { return [] }
        return text.split(separator: "\n").map { $0.split(separator: " ").dropFirst().joined(separator: " ") }
    }

    @Test("power status, on, off, soft-off and cycle")
    func power() async throws {
        let log = LogCapture()
        let bmc = try driver(log: log)
        try await requireEmulator(bmc)
        let before = chassisLog().count
        try await bmc.powerOff()
        #expect(try await bmc.powerState() == .off)
        try await bmc.powerOn()
        #expect(try await bmc.powerState() == .on)
        try await bmc.softPowerOff()  // the script's pretend OS shuts down at once
        #expect(try await poll(until: PowerState.off, within: .seconds(5)) { try await bmc.powerState() } == .off)
        try await bmc.powerCycle()  // from off: a power-on
        #expect(try await poll(until: PowerState.on, within: .seconds(5)) { try await bmc.powerState() } == .on)
        try await bmc.powerCycle()  // from on: off, then on again about a second later
        #expect(try await poll(until: PowerState.on, within: .seconds(10)) { try await bmc.powerState() } == .on)
        if Emulators.ipmiStateDirectory != nil {
            #expect(Array(chassisLog().dropFirst(before)) == [
                "set power 0", "set power 1", "set shutdown 1", "set power 1", "set power 0", "set power 1",
            ])
        }
        #expect(log.lines.contains { $0.contains("ipmi=chassis power soft") })
        expectNoSecret(Emulators.ipmiCredentials.password, in: nil, log: log)
    }

    @Test("one-shot boot from PXE reaches the BMC and reads back")
    func bootDevice() async throws {
        let bmc = try driver()
        try await requireEmulator(bmc)
        try await bmc.setOneTimeBoot(.disk)
        try await bmc.setOneTimeBoot(.pxe)
        #expect(try await bmc.bootOverride().device == .pxe)
        if Emulators.ipmiStateDirectory != nil {
            #expect(chassisLog().last == "set boot pxe")
        }
        let http = await #expect(throws: DataverketError.self) { try await bmc.setOneTimeBoot(.http) }
        #expect(http?.bmcFailure?.kind == .unsupported)
    }

    @Test("facts from FRU, GUID and LAN")
    func facts() async throws {
        let bmc = try driver()
        try await requireEmulator(bmc)
        let facts = try await bmc.systemFacts()
        #expect(facts.serial == "DVLAB-IPMI-0001")
        #expect(facts.manufacturer == "Dataverket Lab")
        #expect(facts.model == "ipmi-sim")
        #expect(facts.uuid.flatMap(UUID.init(uuidString:)) != nil, "\(facts.uuid ?? "no uuid")")
    }

    @Test("a wrong password is a clear error without the password, in errors, logs and the command line")
    func wrongPassword() async throws {
        let log = LogCapture()
        let bmc = try driver(credentials: BMCCredentials(username: "dvadmin", password: "Wr0ng-Ipmi-pw"), log: log)
        let error = await #expect(throws: DataverketError.self) { try await bmc.powerState() }
        #expect(error?.bmcFailure?.kind == .unauthorized)
        #expect(error?.message == "the BMC at \(Emulators.ipmiAddress) refused the credentials of user 'dvadmin' (IPMI RAKP)")
        #expect(!log.lines.isEmpty)
        expectNoSecret("Wr0ng-Ipmi-pw", in: error, log: log)
        let commandLine = bmc.commandLine(["chassis", "power", "status"])
        #expect(commandLine.contains("-E"))
        #expect(!commandLine.joined(separator: " ").contains("Wr0ng-Ipmi-pw"))
        #expect(!commandLine.contains("-P"))
    }

    @Test("an unknown user is refused the same way")
    func unknownUser() async throws {
        let bmc = try driver(credentials: BMCCredentials(username: "nobody", password: "x"))
        let error = await #expect(throws: DataverketError.self) { try await bmc.powerState() }
        #expect(error?.bmcFailure?.kind == .unauthorized)
    }

    @Test("a BMC that does not answer: a bounded, clear error")
    func unreachable() async throws {
        let log = LogCapture()
        let bmc = try driver(address: "127.0.0.1:\(try closedPort())", log: log,
                             options: .init(sessionTimeoutSeconds: 1, sessionRetries: 1, commandTimeout: .seconds(20)))
        let clock = ContinuousClock()
        let started = clock.now
        let error = await #expect(throws: DataverketError.self) { try await bmc.powerState() }
        #expect(clock.now - started < .seconds(20))
        #expect(error?.bmcFailure?.kind == .unreachable)
        #expect(error?.message.contains("did not answer over IPMI within") == true, "\(error?.message ?? "")")
        expectNoSecret(Emulators.ipmiCredentials.password, in: error, log: log)
    }

    @Test("ipmitool is killed at the command timeout")
    func commandTimeout() async throws {
        // A BMC that never answers, with ipmitool's own retries longer than the driver's hard limit.
        let bmc = try driver(address: "127.0.0.1:\(try closedPort())",
                             options: .init(sessionTimeoutSeconds: 5, sessionRetries: 5, commandTimeout: .seconds(1)))
        let clock = ContinuousClock()
        let started = clock.now
        let error = await #expect(throws: DataverketError.self) { try await bmc.powerState() }
        #expect(clock.now - started < .seconds(4))
        #expect(error?.bmcFailure?.kind == .timedOut)
        #expect(error?.message.contains("within 1 s (ipmitool was stopped)") == true, "\(error?.message ?? "")")
    }
}
