import DataverketCore
import Foundation
import Inventar
import Maskin
import Nett
import NettIntent
import Sentral
import DataverketTasks
import DataverketTestSupport
import Testing

/// The bare-metal lab (`scripts/lab`, docs/lab.md): qemu VMs (TCG) that really network-boot from Maskin's boot service
/// on a provisioning network in a network namespace, with dnsmasq configured by `DnsmasqConfig` (what
/// `dataverket maskin dnsmasq-config` prints), each VM behind its own BMC emulator (odd: sushy-tools Redfish, even:
/// ipmi_sim IPMI), booting the Talos stand-in. Needs root; `scripts/test` runs it in its own pass.
@Suite("Bare-metal lab (qemu VMs netbooting from Maskin)", .serialized)
struct BareMetalLabTests {
    typealias Lab = LabDescription

    static var script: String { ProcessInfo.processInfo.environment["DV_TEST_LAB_SCRIPT"] ?? "scripts/lab" }

    /// Runs `scripts/lab ARGS`, bounded; returns the exit code and what it printed.
    @discardableResult
    static func lab(_ arguments: [String], timeout: Duration = .seconds(300)) async throws -> (code: Int32, output: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/bash")
        process.arguments = [script] + arguments
        let output = FileManager.default.temporaryDirectory.appendingPathComponent("dv-lab-\(ULID.make()).log")
        _ = FileManager.default.createFile(atPath: output.path, contents: nil)
        let handle = try FileHandle(forWritingTo: output)
        defer {
            try? handle.close()
            try? FileManager.default.removeItem(at: output)
        }
        process.standardOutput = handle
        process.standardError = handle
        try process.run()
        let clock = ContinuousClock()
        let deadline = clock.now + timeout
        while process.isRunning, clock.now < deadline { try await Task.sleep(for: .milliseconds(100)) }
        if process.isRunning {
            process.terminate()
            try await Task.sleep(for: .seconds(2))
        }
        let text = (try? String(contentsOf: output, encoding: .utf8)) ?? ""
        return (process.isRunning ? -1 : process.terminationStatus, text)
    }

    @Test("three VMs deploy concurrently through Redfish and IPMI; a VM that never netboots fails visibly; a BMC gone for 60 s is survived")
    func deploy() async throws {
        try await Self.withLab(["--vms", "4", "--broken", "4"]) { lab, state in try await run(lab, state: state) }
    }

    /// `dvce machine enroll` for a lab VM, as an operator would: credentials by reference, console by file.
    static func enrollment(_ vm: Lab.VM) throws -> [String] {
        let reference = try credentialsReference(user: vm.bmc.username, password: vm.bmc.password)
        var arguments = ["machine", "enroll", vm.name, "--mac", vm.mac, "--uuid", vm.uuid, "--serial", vm.serial,
                         "--bmc-credentials", reference, "--console", "file:" + vm.consoleLog]
        if vm.bmc.kind == "redfish" {
            arguments += ["--bmc", vm.bmc.address.replacingOccurrences(of: "http://", with: "redfish://"),
                          "--bmc-system", vm.bmc.systemId ?? "", "--bmc-tls", "plaintext"]
        } else {
            arguments += ["--bmc", "ipmi://\(vm.bmc.address):\(vm.bmc.port ?? 623)"]
        }
        return arguments
    }

    /// `scripts/lab up ARGS` in a fresh state directory, `body`, then `down` (also when `body` throws).
    static func withLab(_ arguments: [String], _ body: (Lab, String) async throws -> Void) async throws {
        let state = FileManager.default.temporaryDirectory.appendingPathComponent("dv-lab-\(ULID.make())").path
        let up = try await lab(["up", "--state", state] + arguments, timeout: .seconds(600))
        try #require(up.code == 0, "scripts/lab up failed:\n\(up.output)")
        do {
            try await body(try LabDescription.load(state: state), state)
        } catch {
            try await lab(["down", "--state", state])
            throw error
        }
        let down = try await lab(["down", "--state", state])
        #expect(down.code == 0, "\(down.output)")
    }

    func run(_ lab: Lab, state: String) async throws {
        // dnsmasq with Maskin's own configuration (the lab substitutes its bridge and its lease/log files).
        let prefix = lab.hostAddress.split(separator: ".").dropLast().joined(separator: ".")
        let bootURL = "http://\(lab.hostAddress):\(lab.bootPort)"
        let config = DnsmasqConfig(interface: "br0", rangeStart: "\(prefix).10", rangeEnd: "\(prefix).250", leaseTime: "1h",
                                   bootURL: bootURL, leaseFile: lab.dnsmasqLeases, tftpRoot: nil)
        let file = state + "/maskin-dnsmasq.conf"
        try Data(try config.render().utf8).write(to: URL(fileURLWithPath: file))
        let restarted = try await Self.lab(["dnsmasq", "--state", state, "--conf", file])
        try #require(restarted.code == 0, "dnsmasq with Maskin's configuration did not start:\n\(restarted.output)")

        let settings = MaskinSettings(scriptWait: .seconds(100), configWait: .seconds(120), installWait: .seconds(180),
                                      pollInterval: .milliseconds(500), sweepInterval: .seconds(2), powerInterval: .seconds(5),
                                      bmcTimeout: .seconds(5))
        try await withMetalServer(.sqlite, bootHost: lab.hostAddress, bootPort: lab.bootPort, settings: settings,
                                  assets: lab.assetsDir, dhcpLeases: lab.dnsmasqLeases) { metal in
            // Enroll every VM with dvce, as an operator would: credentials by reference, console by file.
            for vm in lab.vms {
                let enrolled = await metal.dvce(try Self.enrollment(vm))
                try #require(enrolled.code == 0, "\(vm.name): \(enrolled.err)")
            }
            for vm in lab.vms {
                let machine = try await metal.wait(for: vm.name, within: .seconds(90)) { $0.state != .verifying }
                try #require(machine.state == .manageable, "\(vm.name): \(machine.state)")
                _ = try await metal.machines.act(vm.name, action: .inspect, context: testContext)
            }
            for (index, vm) in lab.vms.enumerated() {
                let machine = try await metal.wait(for: vm.name, within: .seconds(90)) { $0.state != .inspecting }
                try #require(machine.state == .available, "\(vm.name): \(machine.state)")
                let allocated = await metal.dvce(["machine", "allocate", vm.name, "--cluster", "lab",
                                                  "--role", index == 0 ? "controlplane" : "worker"])
                try #require(allocated.code == 0, "\(allocated.err)")
            }

            // Deploy all four at once: three really netboot and install; the fourth has no boot ROM.
            let started = ContinuousClock.now
            await withTaskGroup(of: Void.self) { group in
                for vm in lab.vms {
                    group.addTask {
                        let deployed = await metal.dvce(["machine", "deploy", vm.name])
                        #expect(deployed.code == 0, "\(vm.name): \(deployed.err)")
                    }
                }
            }
            for vm in lab.vms where !vm.broken {
                let machine = try await metal.wait(for: vm.name, within: .seconds(300), every: .seconds(1)) { $0.state != .deploying }
                #expect(machine.state == .deployed, "\(vm.name): \(machine.state)")
                let detail = try await metal.machines.detail(vm.name, dhcpLeases: lab.dnsmasqLeases)
                let kinds = detail.bootEvents.map(\.kind)
                for kind in [BootEvent.Kind.script, .config, .callback] {
                    let event = detail.bootEvents.first { $0.kind == kind }
                    #expect(event?.address?.hasPrefix(prefix + ".") == true, "\(vm.name) \(kind): \(String(describing: event))")
                }
                #expect(kinds.contains(.dhcp), "\(vm.name): no DHCP lease in \(kinds)")
                #expect(detail.consoleTail.contains { $0.contains("install-complete") }, "\(vm.name) console: \(detail.consoleTail)")
            }
            let seconds = (ContinuousClock.now - started).components.seconds
            print("lab: three VMs deployed \(seconds) s after `dvce machine deploy`")

            // The broken VM never fetches its script: the deploy fails after its wait, undoes, and says why.
            let broken = try #require(lab.vms.first { $0.broken })
            let failed = try await metal.wait(for: broken.name, within: .seconds(240), every: .seconds(1)) { $0.state != .deploying }
            guard case .failed(.deploy, let reason) = failed.state else {
                Issue.record("\(broken.name): expected failed(deploy), got \(failed.state)")
                return
            }
            #expect(reason.contains("did not fetch its boot script"), "\(reason)")
            let shown = await metal.dvce(["machine", "show", broken.name])
            for text in ["failed(deploy)", "one-shot boot: pxe", "undo: power off", "console (last"] {
                #expect(shown.out.contains(text), "missing \(text) in\n\(shown.out)")
            }

            // A BMC that stops answering for 60 s: recorded, never terminal; power reconciled within 30 s of its return.
            let ipmiVM = try #require(lab.vms.first { $0.bmc.kind == "ipmi" && !$0.broken })
            let stopped = try await Self.lab(["bmc", "stop", ipmiVM.name, "--state", state])
            try #require(stopped.code == 0, "\(stopped.output)")
            let outage = ContinuousClock.now
            var machine = try await metal.wait(for: ipmiVM.name, within: .seconds(30), every: .seconds(1)) { $0.bmcError != nil }
            #expect(machine.bmcError != nil && machine.state == .deployed, "\(machine.state) \(machine.bmcError ?? "-")")
            try await Task.sleep(until: outage + .seconds(60))
            machine = try await metal.machines.get(ipmiVM.name)
            #expect(machine.state == .deployed && machine.bmcError != nil)
            let restarted = try await Self.lab(["bmc", "start", ipmiVM.name, "--state", state])
            try #require(restarted.code == 0, "\(restarted.output)")
            let back = Date()
            machine = try await metal.wait(for: ipmiVM.name, within: .seconds(30), every: .seconds(1)) {
                $0.bmcError == nil && ($0.powerObservedAt ?? .distantPast) > back
            }
            #expect(machine.bmcError == nil && machine.state == .deployed, "\(machine.bmcError ?? "-")")
            #expect(machine.power == .off, "the stand-in powered itself off after installing: \(String(describing: machine.power))")

            // A BMC that hangs (accepts connections, never answers): the reconciler's try times out, nothing else moves.
            let redfishVM = try #require(lab.vms.first { $0.bmc.kind == "redfish" && !$0.broken })
            let frozen = try await Self.lab(["bmc", "freeze", redfishVM.name, "--state", state])
            try #require(frozen.code == 0, "\(frozen.output)")
            machine = try await metal.wait(for: redfishVM.name, within: .seconds(30), every: .seconds(1)) { $0.bmcError != nil }
            #expect(machine.bmcError?.contains("did not answer") == true && machine.state == .deployed, "\(machine.bmcError ?? "-")")
            let thawed = try await Self.lab(["bmc", "thaw", redfishVM.name, "--state", state])
            try #require(thawed.code == 0, "\(thawed.output)")
            machine = try await metal.wait(for: redfishVM.name, within: .seconds(30), every: .seconds(1)) { $0.bmcError == nil }
            #expect(machine.bmcError == nil && machine.state == .deployed)
        }
    }

    @Test("a deploy naming a tenant network: the VM's port on the Open vSwitch leaf moves from the provisioning VLAN to the tenant VLAN after the install, before the boot from disk; the VM then gets a DHCP lease on the tenant network")
    func tenantNetwork() async throws {
        // Two VMs: the IPMI one (vm2) is deployed — ipmi_sim applies power changes at once, where sushy-tools' fake
        // driver lands them 1–11 s later in any order, which under load turned "off, then on with PXE" into off.
        try await Self.withLab(["--vms", "2", "--leaf", "ovs"]) { lab, state in try await tenantNetwork(lab, state: state) }
    }

    func tenantNetwork(_ lab: Lab, state: String) async throws {
        let leaf = try #require(lab.leaf, "lab.json has no leaf")
        let vm = try #require(lab.vms.first { $0.bmc.kind == "ipmi" })
        let port = try #require(vm.leafPort)
        let others = lab.vms.compactMap(\.leafPort).filter { $0 != port }
        let prefix = lab.hostAddress.split(separator: ".").dropLast().joined(separator: ".")
        let config = DnsmasqConfig(interface: "br0", rangeStart: "\(prefix).10", rangeEnd: "\(prefix).250", leaseTime: "1h",
                                   bootURL: "http://\(lab.hostAddress):\(lab.bootPort)", leaseFile: lab.dnsmasqLeases, tftpRoot: nil)
        let file = state + "/maskin-dnsmasq.conf"
        try Data(try config.render().utf8).write(to: URL(fileURLWithPath: file))
        let restarted = try await Self.lab(["dnsmasq", "--state", state, "--conf", file])
        try #require(restarted.code == 0, "dnsmasq with Maskin's configuration did not start:\n\(restarted.output)")

        let switchPorts = ([port] + others + [leaf.provisioningPort, leaf.tenantPort]).map { "      - { name: \($0) }" }.joined(separator: "\n")
        let site = """
            datacenters:
              - { name: osl1, country: NO, jurisdiction: NO, regionRole: primary, failureDomains: [fd-a], rooms: [hall-1] }
            racks:
              - { name: osl1-r01, datacenter: osl1, room: hall-1, failureDomain: fd-a, units: 42 }
            devices:
              - name: \(vm.name)
                kind: server
                rack: osl1-r01
                position: 1
                interfaces:
                  - { name: eth0, mac: "\(vm.mac)" }
              - name: \(leaf.device)
                kind: switch
                rack: osl1-r01
                position: 40
                interfaces:
            \(switchPorts)
            links:
              - { a: "\(vm.name):eth0", b: "\(leaf.device):\(port)" }

            """
        let intent = NetworkIntent(
            datacenter: "osl1", jurisdiction: "NO",
            networks: [.init(name: "lab-prov", vlan: leaf.provisioningVlan, prefix: lab.subnet, role: "provisioning"),
                       .init(name: "acme-lab", vlan: leaf.tenantVlan, prefix: leaf.tenantSubnet, role: "tenant", tenant: "acme")],
            portProfiles: [.init(name: "prov-access", mode: "access", network: "lab-prov"),
                           .init(name: "tenant-access", mode: "access", network: "acme-lab")],
            // Every port of the bridge (Nett's OVS driver removes the ports an intent does not name).
            ports: ([port] + others).map { .init(device: leaf.device, interface: $0, profile: "prov-access") } + [
                    .init(device: leaf.device, interface: leaf.provisioningPort, profile: "prov-access"),
                    .init(device: leaf.device, interface: leaf.tenantPort, profile: "tenant-access")])
        let catalog = DeviceCatalog(devices: [DeviceTarget(name: leaf.device, driver: "ovs", database: leaf.database, bridge: leaf.bridge,
                                                           control: leaf.control)])
        let settings = MaskinSettings(scriptWait: .seconds(100), configWait: .seconds(120), installWait: .seconds(180),
                                      pollInterval: .milliseconds(500), sweepInterval: .seconds(2), powerInterval: .seconds(5),
                                      bmcTimeout: .seconds(5))
        try await withMetalServer(.sqlite, bootHost: lab.hostAddress, bootPort: lab.bootPort, settings: settings,
                                  assets: lab.assetsDir, dhcpLeases: lab.dnsmasqLeases, nettDevices: catalog) { metal in
            let nett = try #require(metal.nett)
            _ = try await metal.server.sentral.inventory.apply(sources: [SiteSource(name: "lab-site.yaml", text: site)], context: testContext)
            let running = try MetalNetworkTests.startNett(metal)
            defer { running.cancel() }
            let applied = try await nett.propose(intent, description: "the lab leaf", context: testContext)
            let appliedTask = try await MetalNetworkTests.waitTask(metal, try #require(applied.taskID)) { $0.state.isTerminal }
            try #require(appliedTask.state == .succeeded, "the lab's intent: \(appliedTask.reason ?? "")")
            #expect(try await MetalNetworkTests.tag(leaf.database, port) == "\(leaf.provisioningVlan)")

            let enrolled = await metal.dvce(try Self.enrollment(vm) + ["--device", vm.name])
            try #require(enrolled.code == 0, "\(enrolled.err)")
            try #require(try await metal.wait(for: vm.name, within: .seconds(90)) { $0.state != .verifying }.state == .manageable)
            _ = try await metal.machines.act(vm.name, action: .inspect, context: testContext)
            try #require(try await metal.wait(for: vm.name, within: .seconds(90)) { $0.state != .inspecting }.state == .available)
            let allocated = await metal.dvce(["machine", "allocate", vm.name, "--cluster", "lab", "--role", "worker"])
            try #require(allocated.code == 0, "\(allocated.err)")

            let deployed = await metal.dvce(["machine", "deploy", vm.name, "--network", "acme-lab"])
            try #require(deployed.code == 0, "\(deployed.err)")
            let machine = try await metal.wait(for: vm.name, within: .seconds(300), every: .seconds(1)) { $0.state != .deploying }
            let detail = try await metal.machines.detail(vm.name, dhcpLeases: lab.dnsmasqLeases)
            try #require(machine.state == .deployed, "\(machine.state); boot events: \(detail.bootEvents.map { "\($0.kind) \($0.detail ?? "")" })")
            // Installed on the provisioning network (script, config and callback from its addresses) ...
            for kind in [BootEvent.Kind.script, .config, .callback] {
                #expect(detail.bootEvents.first { $0.kind == kind }?.address?.hasPrefix(prefix + ".") == true, "\(kind)")
            }
            // ... then, powered off, the port moved to the tenant VLAN, and only then the boot from disk.
            #expect(try await MetalNetworkTests.tag(leaf.database, port) == "\(leaf.tenantVlan)")
            let details = detail.bootEvents.compactMap(\.detail)
            let off = details.firstIndex { $0.hasPrefix("power off: attaching acme-lab") }
            let on = details.firstIndex { $0 == "boot from disk, power on" }
            #expect(off != nil && on != nil && off! < on!, "\(details)")
            let shown = await metal.dvce(["machine", "show", vm.name])
            #expect(shown.out.contains("networks:  acme-lab"), "\(shown.out)")

            // The lab VMs have no disk (the boot from disk finds nothing); their NIC ROM shows what the machine's OS would
            // see: netbooted through the BMC now, the VM's DHCP request is answered on the tenant network, not provisioning.
            let tenantMark = (try? String(contentsOfFile: leaf.tenantDnsmasqLog, encoding: .utf8))?.count ?? 0
            let provisioningMark = (try? String(contentsOfFile: lab.dnsmasqLog, encoding: .utf8))?.count ?? 0
            _ = try await Self.lab(["power", "off", vm.name, "--state", state])
            let on2 = try await Self.lab(["power", "on", vm.name, "--state", state, "--boot", "pxe"])
            try #require(on2.code == 0, "\(on2.output)")
            let clock = ContinuousClock()
            let deadline = clock.now + .seconds(180)
            var lease: String?
            while lease == nil, clock.now < deadline {
                let log = String(((try? String(contentsOfFile: leaf.tenantDnsmasqLog, encoding: .utf8)) ?? "").dropFirst(tenantMark))
                lease = log.split(separator: "\n").first { $0.contains("DHCPACK(ltenh)") && $0.contains(vm.mac) }.map(String.init)
                if lease == nil { try await Task.sleep(for: .seconds(1)) }
            }
            let console = ((try? String(contentsOfFile: vm.consoleLog, encoding: .utf8)) ?? "").suffix(1500)
            #expect(lease?.contains("10.213.0.") == true, "no DHCP lease on the tenant network for \(vm.mac) within 180 s; console:\n\(console)")
            let provisioning = String(((try? String(contentsOfFile: lab.dnsmasqLog, encoding: .utf8)) ?? "").dropFirst(provisioningMark))
            #expect(!provisioning.contains("DHCPDISCOVER(br0) \(vm.mac)"), "the provisioning DHCP server saw the VM after the move:\n\(provisioning)")
            _ = try await Self.lab(["power", "off", vm.name, "--state", state])
        }
    }
}
