import DataverketBus
import DataverketCore
import DataverketProcess
import DataverketTasks
import Foundation
import Inventar
import Maskin
import Nett
import NettIntent
import Testing
import DataverketTestSupport

/// Maskin → Nett (issue 16 §5): a deploy naming tenant networks asks Nett — a `network-attach` task over the bus —
/// to move the leaf port the inventory cables the machine to, on a real Open vSwitch, with the machine's BMC on
/// sushy-tools (fake system 9) and the test playing the machine's side of the boot protocol.
@Suite("Maskin → Nett: switch-port attachments (sushy-tools, Open vSwitch)")
struct MetalNetworkTests {
    static let site = """
        datacenters:
          - name: osl1
            country: NO
            jurisdiction: NO
            regionRole: primary
            failureDomains: [fd-a]
            rooms: [hall-1]
        racks:
          - { name: osl1-r01, datacenter: osl1, room: hall-1, failureDomain: fd-a, units: 42 }
        devices:
          - name: m9
            kind: server
            rack: osl1-r01
            position: 1
            interfaces:
              - { name: bmc, kind: bmc }
              - { name: eth0, mac: "\(MetalEmulators.fakeMAC(9))" }
          - name: osl1-leaf1
            kind: switch
            rack: osl1-r01
            position: 40
            interfaces:
              - { name: Ethernet1 }
              - { name: Ethernet2 }
        links:
          - { a: m9:eth0, b: osl1-leaf1:Ethernet1 }

        """

    /// Provisioning on VLAN 20, a tenant network on 110 and a jumbo-frame one on 120; both leaf ports on provisioning.
    static let intent = NetworkIntent(
        datacenter: "osl1", jurisdiction: "NO", vlanRange: [2, 3999],
        networks: [
            .init(name: "prov", vlan: 20, prefix: "10.20.0.0/24", role: "provisioning"),
            .init(name: "acme-web", vlan: 110, prefix: "10.110.0.0/24", role: "tenant", tenant: "acme"),
            .init(name: "acme-jumbo", vlan: 120, prefix: "10.120.0.0/24", role: "tenant", tenant: "acme", mtu: 9000),
        ],
        portProfiles: [.init(name: "server-prov", mode: "access", network: "prov")],
        ports: [.init(device: "osl1-leaf1", interface: "Ethernet1", profile: "server-prov"),
                .init(device: "osl1-leaf1", interface: "Ethernet2", profile: "server-prov")])

    /// Runs Nett's worker and heartbeat until the returned task is cancelled.
    static func startNett(_ metal: MetalServer) throws -> Task<Void, Never> {
        let nett = try #require(metal.nett)
        let bus = try #require(metal.bus)
        let services = nett.workerServices(engine: metal.server.sentral.engine, bus: bus, logger: quietLogger, ackWait: .seconds(30))
        return Task {
            await withTaskGroup(of: Void.self) { group in
                for service in services { group.addTask { try? await service.run() } }
            }
        }
    }

    /// Stops Nett and waits (bounded) until the health registry no longer sees it healthy.
    static func stopNett(_ metal: MetalServer, _ running: Task<Void, Never>) async throws {
        running.cancel()
        await running.value
        let clock = ContinuousClock()
        let deadline = clock.now + .seconds(60)
        while await metal.server.sentral.health.status(of: "nett") == "healthy", clock.now < deadline {
            try await Task.sleep(for: .milliseconds(250))
        }
        #expect(await metal.server.sentral.health.status(of: "nett") != "healthy")
    }

    /// The VLAN tag of a port of the OVS whose database socket is `database`.
    static func tag(_ database: String, _ port: String) async throws -> String {
        let result = try await runSubprocess("/usr/bin/ovs-vsctl", ["--db=unix:\(database)", "--timeout=10", "get", "port", port, "tag"],
                                             environment: ["PATH": "/usr/sbin:/usr/bin:/sbin:/bin"], timeout: .seconds(20))
        return (result?.stdout ?? "").trimmingCharacters(in: .whitespacesAndNewlines)
    }

    static func waitTask(_ metal: MetalServer, _ id: String, until done: @Sendable (TaskRecord) -> Bool) async throws -> TaskRecord {
        let clock = ContinuousClock()
        let deadline = clock.now + .seconds(90)
        var task = try await metal.server.sentral.tasks.get(id)
        while !done(task), clock.now < deadline {
            try await Task.sleep(for: .milliseconds(250))
            task = try await metal.server.sentral.tasks.get(id)
        }
        return task
    }

    /// The deploy saga's step outputs.
    static func outputs(_ metal: MetalServer, _ taskID: String) async throws -> [String: String] {
        try await SagaLog(database: metal.server.database, taskID: taskID).load()?.outputs ?? [:]
    }

    static func deploy(_ metal: MetalServer, networks: [String]) async throws -> MachineRecord {
        _ = try await metal.machines.act("m9", action: .deploy, options: MachineActionOptions(networks: networks), context: testContext)
        return try await metal.machines.get("m9")
    }

    @Test("a deploy naming networks: blocked while Nett is down, verified before power-on, the leaf port moved before the first boot from disk; release puts it back; a failed verification fails the deploy; a realized attachment makes no changeset")
    func attachments() async throws {
        let settings = MaskinSettings(pollInterval: .milliseconds(250), sweepInterval: .seconds(1))
        try await withOpenVSwitch { ovs in
            let catalog = DeviceCatalog(devices: [DeviceTarget(name: "osl1-leaf1", driver: "ovs", database: ovs + "/db.sock", bridge: "br0")])
            try await withMetalServer(.sqlite, settings: settings, nettDevices: catalog) { metal in
                let nett = try #require(metal.nett)
                _ = try await metal.server.sentral.inventory.apply(sources: [SiteSource(name: "site.yaml", text: Self.site)], context: testContext)
                #expect(try await metal.server.sentral.inventory.switchPorts(of: "m9")
                        == [SwitchPortCable(nic: "eth0", mac: MetalEmulators.fakeMAC(9), device: "osl1-leaf1", interface: "Ethernet1")])

                // The fabric's intent, applied by Nett: both ports on provisioning (VLAN 20).
                var running = try Self.startNett(metal)
                let base = try await nett.propose(Self.intent, context: testContext)
                let baseTask = try await Self.waitTask(metal, try #require(base.taskID)) { $0.state.isTerminal }
                #expect(baseTask.state == .succeeded, "\(baseTask.reason ?? "")")
                #expect(try await Self.tag(ovs + "/db.sock", "Ethernet1") == "20")
                try await Self.stopNett(metal, running)

                let reference = try credentialsReference(user: MetalEmulators.redfishUser, password: MetalEmulators.redfishPassword)
                _ = try await metal.machines.enroll(
                    MachineEnrollment(name: "m9", mac: MetalEmulators.fakeMAC(9), uuid: MetalEmulators.fakeSystem(9), device: "m9",
                                      bmc: BMCConfig(protocol: .redfish, address: MetalEmulators.redfishAddress, systemID: MetalEmulators.fakeSystem(9),
                                                     credentials: reference, tls: .plaintext)),
                    context: testContext)
                #expect(try await metal.wait(for: "m9", within: .seconds(60)) { $0.state != .verifying }.state == .manageable)
                _ = try await metal.machines.act("m9", action: .inspect, context: testContext)
                #expect(try await metal.wait(for: "m9", within: .seconds(60)) { $0.state != .inspecting }.state == .available)
                _ = try await metal.machines.act("m9", action: .allocate, options: MachineActionOptions(cluster: "lab"), context: testContext)

                // 1. Nett is down: the deploy is blocked on it, with the reason and the runbook; nothing is powered.
                var machine = try await Self.deploy(metal, networks: ["acme-web"])
                let deployID = try #require(machine.taskID)
                var task = try await Self.waitTask(metal, deployID) { $0.state == .blocked || $0.state.isTerminal }
                #expect(task.state == .blocked && task.blockedOn == "nett", "\(task.state) \(task.reason ?? "")")
                #expect((task.reason ?? "").contains("waiting for Nett to verify acme-web on osl1-leaf1:Ethernet1")
                        && (task.reason ?? "").contains("docs/runbooks/dependency-blocked.md"), "\(task.reason ?? "")")
                #expect(try await metal.machines.bootEvents(machine.id).filter { $0.taskID == deployID }.isEmpty, "nothing touched the BMC")
                #expect(try await Self.tag(ovs + "/db.sock", "Ethernet1") == "20")

                // 2. Nett returns: the deploy resumes, installs on provisioning, then the port moves to VLAN 110 while the
                // machine is off, and only then does it boot from disk.
                running = try Self.startNett(metal)
                try await MetalWorkflowTests.waitForPower(metal, machine)
                #expect(try await Self.tag(ovs + "/db.sock", "Ethernet1") == "20", "the install runs on the provisioning network")
                try await MetalWorkflowTests.playMachine(metal, mac: machine.mac, uuid: try #require(machine.uuid), event: "install-complete")
                machine = try await metal.wait(for: "m9", within: .seconds(90)) { $0.state != .deploying }
                task = try await Self.waitTask(metal, deployID) { $0.state.isTerminal }
                #expect(machine.state == .deployed && task.state == .succeeded, "\(machine.state) \(task.reason ?? "")")
                #expect(machine.networks == ["acme-web"])
                #expect(try await Self.tag(ovs + "/db.sock", "Ethernet1") == "110")
                #expect(try await Self.tag(ovs + "/db.sock", "Ethernet2") == "20", "only the machine's port moved")
                var outputs = try await Self.outputs(metal, deployID)
                #expect((outputs["network"] ?? "").contains("verified, not applied: osl1-leaf1:Ethernet1: server-prov → attach-acme-web-1500"), "\(outputs)")
                #expect((outputs["attach"] ?? "").contains("applied: osl1-leaf1:Ethernet1: server-prov → attach-acme-web-1500"), "\(outputs)")
                let changesets = try await nett.changesets.list(limit: 50, cursor: nil).items
                let attach = try #require(changesets.first { $0.kind == "attach" })
                #expect(attach.status == "applied" && (attach.description ?? "").contains("machine m9"), "\(attach)")
                #expect(attach.report?.steps.first { $0.device == "osl1-leaf1" }?.state == "confirmed", "a confirmed commit")
                let events = try await metal.machines.bootEvents(machine.id).filter { $0.taskID == deployID }.compactMap(\.detail)
                let off = try #require(events.firstIndex { $0.hasPrefix("power off: attaching acme-web") }, "\(events)")
                let on = try #require(events.firstIndex { $0 == "boot from disk, power on" }, "\(events)")
                #expect(off < on)

                // 3. Release: back on provisioning, then the wipe netboots there.
                _ = try await metal.machines.act("m9", action: .release, context: testContext)
                machine = try await metal.wait(for: "m9", within: .seconds(90)) { $0.state == .wiping }
                #expect(try await Self.tag(ovs + "/db.sock", "Ethernet1") == "20")
                #expect(machine.networks == nil)
                try await MetalWorkflowTests.waitForPower(metal, machine)
                try await MetalWorkflowTests.playMachine(metal, mac: machine.mac, uuid: try #require(machine.uuid), event: "wipe-complete")
                #expect(try await metal.wait(for: "m9", within: .seconds(90)) { $0.state != .wiping }.state == .available)

                // 4. An attachment that fails verification (a 9000-byte network on a 1500-byte port) fails the deploy with
                // Nett's reason before anything is powered on.
                _ = try await metal.machines.act("m9", action: .allocate, options: MachineActionOptions(cluster: "lab"), context: testContext)
                machine = try await Self.deploy(metal, networks: ["acme-jumbo"])
                let failedID = try #require(machine.taskID)
                task = try await Self.waitTask(metal, failedID) { $0.state.isTerminal }
                #expect(task.state == .failed && (task.reason ?? "").contains("mtu-too-small"), "\(task.reason ?? "")")
                machine = try await metal.machines.get("m9")
                guard case .failed(.deploy, let reason) = machine.state else {
                    Issue.record("expected failed(deploy), got \(machine.state)")
                    return
                }
                #expect(reason.contains("fails verification") && reason.contains("acme-jumbo"), "\(reason)")
                #expect(try await metal.machines.bootEvents(machine.id).filter { $0.taskID == failedID && ($0.detail ?? "").hasPrefix("power") }.isEmpty,
                        "nothing was powered on")
                #expect(try await Self.tag(ovs + "/db.sock", "Ethernet1") == "20")

                // 5. Already realized: a deploy whose network the port carries already relies on it, no changeset.
                let before = try await nett.changesets.list(limit: 50, cursor: nil).items.count
                machine = try await Self.deploy(metal, networks: ["prov"])
                let realizedID = try #require(machine.taskID)
                try await MetalWorkflowTests.waitForPower(metal, machine)
                try await MetalWorkflowTests.playMachine(metal, mac: machine.mac, uuid: try #require(machine.uuid), event: "install-complete")
                task = try await Self.waitTask(metal, realizedID) { $0.state.isTerminal }
                #expect(task.state == .succeeded, "\(task.reason ?? "")")
                outputs = try await Self.outputs(metal, realizedID)
                #expect((outputs["network"] ?? "").contains("relied on existing network state"), "\(outputs)")
                #expect((outputs["attach"] ?? "").contains("relied on existing network state"), "\(outputs)")
                #expect(try await nett.changesets.list(limit: 50, cursor: nil).items.count == before, "no changeset")
                try await Self.stopNett(metal, running)
            }
        }
    }
}
