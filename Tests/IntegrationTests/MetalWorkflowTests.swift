import DataverketCore
import DataverketStore
import Foundation
import Inventar
import Maskin
import Sentral
import DataverketTasks
import SQLKit
import Testing
import DataverketTestSupport

/// The machine workflows against sushy-tools (Redfish, fake systems 5–8): the whole lifecycle with the test playing
/// the machine's side of the boot protocol, a machine that never network-boots (undo, visible failure, quarantine),
/// unreachable BMCs, the deadline sweeper and power reconciliation.
@Suite("Machine workflows (Maskin, sushy-tools)")
struct MetalWorkflowTests {
    /// Fetches the script, the config and posts the callback, as the installer would.
    static func playMachine(_ metal: MetalServer, mac: String, uuid: String, event: String) async throws {
        let script = try await metal.boot(.GET, "/boot/ipxe?mac=\(mac)&uuid=\(uuid)&arch=x86_64")
        #expect(script.status == 200)
        let (config, callback) = try MetalBootTests.urls(in: script.body)
        #expect(callback.hasSuffix("event=\(event)"), "\(script.body)")
        let served = try await metal.boot(.GET, String(config.dropFirst(metal.bootURL.count)))
        #expect(served.status == 200, "\(served.body)")
        #expect(try await metal.boot(.POST, String(callback.dropFirst(metal.bootURL.count))).status == 204)
    }

    /// Waits until Maskin has powered the machine on for the current step (a boot event says so).
    static func waitForPower(_ metal: MetalServer, _ machine: MachineRecord) async throws {
        let clock = ContinuousClock()
        let deadline = clock.now + .seconds(60)
        let taskID = try await metal.machines.get(machine.id).taskID
        while clock.now < deadline {
            let events = try await metal.machines.bootEvents(machine.id)
            if events.contains(where: { $0.kind == .bmc && $0.taskID == taskID && ($0.detail ?? "").hasPrefix("power") }) { return }
            try await Task.sleep(for: .milliseconds(250))
        }
        Issue.record("Maskin did not power the machine on within 60 s")
    }

    @Test("enroll → verify → inspect → allocate → deploy → deployed → release → wipe → available, over Redfish")
    func lifecycle() async throws {
        try await withMetalServer(.sqlite) { metal in
            let (enrolled, verifyTask) = try await enrollRedfish(metal, name: "rf-5", system: 5)
            #expect(enrolled.state == .verifying && verifyTask?.kind == "machine-verify")
            var machine = try await metal.wait(for: "rf-5", within: .seconds(60)) { $0.state != .verifying }
            #expect(machine.state == .manageable, "\(machine.state)")
            #expect(machine.power != nil)

            _ = try await metal.machines.act("rf-5", action: .inspect, context: testContext)
            machine = try await metal.wait(for: "rf-5", within: .seconds(60)) { $0.state != .inspecting }
            #expect(machine.state == .available, "\(machine.state)")
            #expect((machine.facts?.disks.count ?? 0) >= 2)
            // Inspection reports the BMC's facts to the inventory (an undeclared machine here: unexpected, seen by bmc).
            let drift = try await metal.server.sentral.inventory.drift()
            #expect(drift.contains { $0.kind == .unexpected && $0.source == .bmc },
                    "\(drift)")
            #expect(machine.installDisk == "480 GB SATA HDD disk \"Drive 0\" (the smallest of at least 10 GB)", "\(machine.installDisk ?? "-")")

            let allocated = await metal.dvce("machine", "allocate", "rf-5", "--cluster", "lab", "--role", "worker")
            #expect(allocated.code == 0 && allocated.out.contains("is allocated"), "\(allocated)")
            let deploy = await metal.dvce("machine", "deploy", "rf-5")
            #expect(deploy.code == 0 && deploy.out.contains("is deploying"), "\(deploy)")
            machine = try await metal.machines.get("rf-5")
            try await Self.waitForPower(metal, machine)
            try await Self.playMachine(metal, mac: machine.mac, uuid: try #require(machine.uuid), event: "install-complete")
            machine = try await metal.wait(for: "rf-5", within: .seconds(60)) { $0.state != .deploying }
            #expect(machine.state == .deployed, "\(machine.state)")
            let task = try await metal.waitTask(try #require(machine.taskID), within: .seconds(30))
            #expect(task.state == .succeeded, "\(task.reason ?? "")")

            let shown = await metal.dvce("machine", "show", "rf-5")
            #expect(shown.code == 0, "\(shown.err)")
            for text in ["state:     deployed", "one-shot boot: pxe", "install script", "machine config served", "install-complete",
                         "boot from disk", "allowed:   release, rescue, maintain"] {
                #expect(shown.out.contains(text), "missing \(text) in\n\(shown.out)")
            }
            #expect(!shown.out.contains(MetalEmulators.redfishPassword))

            // Release: power off → wiping (PXE into the wipe environment) → available.
            _ = try await metal.machines.act("rf-5", action: .release, context: testContext)
            machine = try await metal.wait(for: "rf-5", within: .seconds(60)) { $0.state == .wiping }
            #expect(machine.state == .wiping, "\(machine.state)")
            try await Self.waitForPower(metal, machine)
            try await Self.playMachine(metal, mac: machine.mac, uuid: try #require(machine.uuid), event: "wipe-complete")
            machine = try await metal.wait(for: "rf-5", within: .seconds(60)) { $0.state != .wiping }
            #expect(machine.state == .available, "\(machine.state)")
            #expect(machine.cluster == nil && machine.role == nil)
        }
    }

    @Test("a machine that never fetches its script: deploy times out, undoes, shows why; the second failure quarantines it")
    func neverBoots() async throws {
        let console = FileManager.default.temporaryDirectory.appendingPathComponent("dv-console-\(ULID.make()).log").path
        try Data("SeaBIOS (version 1.16.2-debian-1.16.2-1)\r\niPXE (https://ipxe.org) 00:03.0 CA00 PCI2.10 PnP PMM\r\nNo more network devices\r\n".utf8)
            .write(to: URL(fileURLWithPath: console))
        defer { try? FileManager.default.removeItem(atPath: console) }
        let settings = MaskinSettings(scriptWait: .seconds(4), pollInterval: .milliseconds(250), sweepInterval: .seconds(1))
        try await withMetalServer(.sqlite, settings: settings) { metal in
            _ = try await enrollRedfish(metal, name: "rf-6", system: 6, console: "file:" + console)
            #expect(try await metal.wait(for: "rf-6", within: .seconds(60)) { $0.state != .verifying }.state == .manageable)
            _ = try await metal.machines.act("rf-6", action: .inspect, context: testContext)
            #expect(try await metal.wait(for: "rf-6", within: .seconds(60)) { $0.state != .inspecting }.state == .available)
            _ = try await metal.machines.act("rf-6", action: .allocate, options: MachineActionOptions(cluster: "lab"), context: testContext)

            _ = try await metal.machines.act("rf-6", action: .deploy, context: testContext)
            var machine = try await metal.wait(for: "rf-6", within: .seconds(90)) { $0.state == .deploying ? false : true }
            guard case .failed(.deploy, let reason) = machine.state else {
                Issue.record("expected failed(deploy), got \(machine.state)")
                return
            }
            #expect(reason.contains("did not fetch its boot script within 4 s"), "\(reason)")
            let task = try await metal.waitTask(try #require(machine.taskID), within: .seconds(30))
            #expect(task.state == .failed && (task.reason ?? "").contains("undone: wait-script, power-cycle, pxe, network"), "\(task.reason ?? "")")

            let shown = await metal.dvce("machine", "show", "rf-6")
            for text in ["failed(deploy): ", "one-shot boot: pxe", "undo: power off", "console (last 3 lines):", "| No more network devices",
                         "allowed:   deploy, release, retire, maintain"] {
                #expect(shown.out.contains(text), "missing \(text) in\n\(shown.out)")
            }

            // The second failed deploy in a row quarantines the machine instead of handing it out again.
            _ = try await metal.machines.act("rf-6", action: .deploy, context: testContext)
            machine = try await metal.wait(for: "rf-6", within: .seconds(90)) { $0.state.name == .maintenance || $0.state.name == .available }
            guard case .maintenance(let why) = machine.state else {
                Issue.record("expected maintenance (quarantine), got \(machine.state)")
                return
            }
            #expect(why.hasPrefix("quarantined: deploy failed 2 times in a row"), "\(why)")
            await #expect(throws: DataverketError.self) {
                try await metal.machines.act("rf-6", action: .allocate, options: MachineActionOptions(cluster: "lab"), context: testContext)
            }
        }
    }

    @Test("an unreachable BMC: verify fails after bounded retries with a clear reason; a power task fails and changes nothing")
    func unreachableBMC() async throws {
        try await withMetalServer(.sqlite) { metal in
            let port = try freePort()
            let reference = try credentialsReference(user: "dvadmin", password: "Hemmelig-Unreachable")
            _ = try await metal.machines.enroll(
                MachineEnrollment(name: "gone-1", mac: "52:54:00:0f:00:01",
                                  bmc: BMCConfig(protocol: .redfish, address: "127.0.0.1:\(port)", credentials: reference, tls: .plaintext)),
                context: testContext)
            let machine = try await metal.wait(for: "gone-1", within: .seconds(90)) { $0.state == .verifying ? false : true }
            guard case .failed(.verify, let reason) = machine.state else {
                Issue.record("expected failed(verify), got \(machine.state)")
                return
            }
            #expect(reason.contains("127.0.0.1:\(port)"), "\(reason)")
            #expect(!reason.contains("Hemmelig-Unreachable"))
            let task = try await metal.waitTask(try #require(machine.taskID), within: .seconds(30))
            #expect(task.state == .failed && task.attempts == 3, "\(task.state) after \(task.attempts): \(task.reason ?? "")")

            // A machine whose BMC goes away: the power task fails, the machine keeps its state.
            _ = try await enrollRedfish(metal, name: "rf-7", system: 7)
            #expect(try await metal.wait(for: "rf-7", within: .seconds(60)) { $0.state != .verifying }.state == .manageable)
            try await metal.machines.database.transaction { session in
                try await session.run("""
                    UPDATE \(session.table("maskin", "machines")) SET bmc = REPLACE(bmc, \(bind: MetalEmulators.redfishAddress), \(bind: "127.0.0.1:\(port)"))
                    WHERE name = 'rf-7'
                    """)
            }
            let (_, power) = try await metal.machines.power("rf-7", action: .on, context: testContext)
            let finished = try await metal.waitTask(power.id, within: .seconds(60))
            #expect(finished.state == .failed && (finished.reason ?? "").contains("127.0.0.1:\(port)"), "\(finished.reason ?? "")")
            #expect(try await metal.machines.get("rf-7").state == .manageable)
        }
    }

    @Test("the sweeper times out a machine past its deadline; the reconciler records power and BMC failures")
    func sweeper() async throws {
        let settings = MaskinSettings(sweepInterval: .milliseconds(500), powerInterval: .seconds(1), bmcTimeout: .seconds(2))
        let lifecycle = MachineLifecycle(deadlines: MachineDeadlines(deploy: .seconds(1)))
        try await withMetalServer(.sqlite, settings: settings, lifecycle: lifecycle) { metal in
            _ = try await enrollRedfish(metal, name: "rf-8", system: 8)
            var machine = try await metal.wait(for: "rf-8", within: .seconds(60)) { $0.state != .verifying }
            #expect(machine.state == .manageable)

            // Maintenance during a deploy stops the deploy's task, which undoes what it did.
            _ = try await metal.machines.act("rf-8", action: .inspect, context: testContext)
            #expect(try await metal.wait(for: "rf-8", within: .seconds(60)) { $0.state != .inspecting }.state == .available)
            _ = try await metal.machines.act("rf-8", action: .allocate, options: MachineActionOptions(cluster: "lab"), context: testContext)
            let (deploying, deployTask) = try await metal.machines.act("rf-8", action: .deploy, context: testContext)
            try await Self.waitForPower(metal, deploying)
            let maintained = try await metal.machines.act("rf-8", action: .maintain(reason: "fan alarm"), context: testContext).0
            #expect(maintained.state == .maintenance(reason: "fan alarm"))
            let stopped = try await metal.waitTask(try #require(deployTask?.id), within: .seconds(60))
            #expect(stopped.state == .cancelled && (stopped.reason ?? "").contains("undone:"), "\(stopped.state) \(stopped.reason ?? "")")
            #expect(try await metal.machines.bootEvents(deploying.id).contains { $0.detail == "undo: power off" })
            #expect(try await metal.machines.get("rf-8").state == .maintenance(reason: "fan alarm"))
            _ = try await metal.machines.act("rf-8", action: .unmaintain, context: testContext)
            // Straight into deploying with a deadline already passed (no task runs for it).
            try await metal.machines.database.transaction { session in
                try await session.run("""
                    UPDATE \(session.table("maskin", "machines")) SET state_name = 'deploying', state = '{"name":"deploying"}',
                        deadline_at = \(bind: StoreTime.now() - 1000), last_transition = \(bind: StoreTime.now() - 2_000_000)
                    WHERE name = 'rf-8'
                    """)
            }
            machine = try await metal.wait(for: "rf-8", within: .seconds(20)) { $0.state == .deploying ? false : true }
            #expect(machine.state == .failed(step: .deploy, reason: "timed out after 1 s"), "\(machine.state)")
            #expect(machine.deadline == nil)

            // Power is read every second; a BMC that stops answering is recorded, the state is left alone.
            machine = try await metal.wait(for: "rf-8", within: .seconds(20)) { ($0.powerObservedAt ?? .distantPast) > Date().addingTimeInterval(-3) }
            #expect(machine.power != nil && machine.bmcError == nil)
            let port = try freePort()
            try await metal.machines.database.transaction { session in
                try await session.run("""
                    UPDATE \(session.table("maskin", "machines")) SET bmc = REPLACE(bmc, \(bind: MetalEmulators.redfishAddress), \(bind: "127.0.0.1:\(port)"))
                    WHERE name = 'rf-8'
                    """)
            }
            machine = try await metal.wait(for: "rf-8", within: .seconds(20)) { $0.bmcError != nil }
            #expect(machine.bmcError?.contains("127.0.0.1:\(port)") == true && machine.bmcFailingSince != nil)
            #expect(machine.state == .failed(step: .deploy, reason: "timed out after 1 s"))
            let shown = await metal.dvce("machine", "show", "rf-8")
            #expect(shown.out.contains("BMC NOT ANSWERING since"), "\(shown.out)")
        }
    }
}
