import ArgumentParser
import AsyncHTTPClient
import Crypto
import DataverketBus
import DataverketCore
import DataverketServer
import DataverketStore
import Foundation
import HTTPTypes
import Hummingbird
import Identitet
import Logging
import Maskin
import NIOCore
import Sentral
import DataverketTasks
import DataverketTestSupport
import ServiceLifecycle

/// `dv-bench maskin`: issue 8's three figures, each against a baseline measured in the same run:
///
/// 1. **deploy**: per lab VM (`scripts/lab`, qemu TCG netbooting the Talos stand-in), seconds from
///    `Machines.act(.deploy)` to `deployed`, next to the same VM's bare netboot — boot device PXE + power on through
///    its BMC by hand (`scripts/lab power on`) against the lab's static boot service (`fake-boot-service.py`) until
///    its callback. Both phases on the same lab, `--rounds` times (3) in alternating order; the medians are compared.
/// 2. **boot service**: `GET /boot/ipxe` at 100 concurrent clients against a real `BootServer` on loopback — machines
///    in `deploying` (every fetch issues a token: a write) and unknown MACs (discovery) — against a trivial
///    Hummingbird handler returning a static script, on SQLite and PostgreSQL.
/// 3. **power sweep**: one `MachineSweeper.reconcilePower()` over 1,000 machines enrolled against a private
///    sushy-emulator with 1,000 fake systems (basic auth), at BMC concurrency 8 and 32, against bare `GET`s of the
///    same systems at the same concurrency.
struct MaskinBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "maskin", abstract: "Maskin: lab deploys, boot service, power sweep.")

    @Option(help: "Parts: deploy, boot, sweep (comma-separated).") var parts = "deploy,boot,sweep"
    @Option(help: "Lab VMs to netboot (odd: Redfish, even: IPMI).") var vms = 3
    @Option(help: "The lab's state directory (scripts/bench passes one and downs it on exit).")
    var labState = ProcessInfo.processInfo.environment["DV_BENCH_LAB_STATE"] ?? ""
    @Option(help: "scripts/lab.") var labScript = "scripts/lab"
    @Option(help: "Boot-service requests per measured workload.") var requests = 20_000
    @Option(help: "Concurrent boot-service clients.") var concurrency = 100
    @Option(help: "Machines in deploying (and unknown MACs) the boot-service requests cycle over.") var bootMachines = 1_000
    @Option(help: "Backends: sqlite, postgres, or both (comma-separated).") var backends = "sqlite,postgres"
    @Option(help: "PostgreSQL admin URL (a fresh database is created for the run).")
    var postgresURL = ProcessInfo.processInfo.environment["DV_BENCH_POSTGRES_URL"] ?? "postgres://dataverket@127.0.0.1:55432/postgres"
    @Option(help: "A sushy-emulator with the fake systems (scripts/bench starts one).")
    var sushyURL = ProcessInfo.processInfo.environment["DV_BENCH_SUSHY_URL"] ?? ""
    @Option(help: "Fake systems in that emulator (UUIDs dbe00000-0000-4000-8000-<n as 12 hex digits>, n = 1…).")
    var sushySystems = Int(ProcessInfo.processInfo.environment["DV_BENCH_SUSHY_SYSTEMS"] ?? "") ?? 1_000
    @Option(help: "BMC concurrencies of the sweep (the first is the ratio's baseline).") var sweepConcurrency = "8,32"
    @Flag(help: "Boot the lab VMs at the same time in each phase (default: one after another).") var together = false
    @Option(help: "Rounds of bare and Maskin netboots per VM (odd rounds bare first, even rounds Maskin first); the table shows medians.")
    var rounds = 3

    static let bmcUser = "dvadmin"
    static let bmcPassword = "Hemmelig-7Qx2"

    func run() async throws {
        let logger = Logger(label: "bench", factory: { _ in SwiftLogNoOpLogHandler() })
        let chosen = Set(parts.split(separator: ",").map(String.init))
        print("# dv-bench maskin — \(ProcessInfo.processInfo.activeProcessorCount) cores; parts: \(parts)")
        if chosen.contains("deploy") { try await deployPart(logger: logger) }
        if chosen.contains("boot") { try await bootPart(logger: logger) }
        if chosen.contains("sweep") { try await sweepPart(logger: logger) }
    }

    // MARK: - 1. Deploy vs bare netboot on the lab

    typealias Lab = LabDescription

    /// One netboot of one VM (wall-clock times): when it was asked for, when qemu started, when the boot service saw
    /// the script, config and callback, and when the workflow was done (Maskin: `deployed`; bare: the callback).
    struct Netboot: Sendable {
        var start: Date
        var qemu: Date?
        var script: Date?
        var config: Date?
        var callback: Date?
        var done: Date?
        var failure: String?
        var retried: String?
    }

    func deployPart(logger: Logger) async throws {
        let state = labState.isEmpty
            ? FileManager.default.temporaryDirectory.appendingPathComponent("dvbench-lab-\(ULID.make())").path : labState
        let script = labScript
        print("\n## 1. deploy — \(vms) lab VMs (qemu TCG, \(together ? "booting at the same time" : "one at a time")) netbooting the "
              + "Talos stand-in; lab state \(state)")
        // A lab left up in this state directory by an interrupted run goes first (down is safe when there is none).
        _ = try await Shell.run("/bin/bash", [script, "down", "--state", state], timeout: .seconds(120))
        var up = try await Shell.run("/bin/bash", [script, "up", "--state", state, "--vms", "\(vms)"], timeout: .seconds(600))
        if up.code != 0 {
            // `up` gives dnsmasq 5 s to start; on two loaded cores that is sometimes too little: one more try.
            print("(scripts/lab up failed once; retrying: \(up.output.split(separator: "\n").filter { $0.hasPrefix("lab:") }.joined(separator: "; ")))")
            _ = try await Shell.run("/bin/bash", [script, "down", "--state", state], timeout: .seconds(120))
            up = try await Shell.run("/bin/bash", [script, "up", "--state", state, "--vms", "\(vms)"], timeout: .seconds(600))
        }
        guard up.code == 0 else {
            _ = try? await Shell.run("/bin/bash", [script, "down", "--state", state], timeout: .seconds(120))
            throw ValidationError("scripts/lab up failed:\n\(up.output)")
        }
        // Rounds alternate the order (bare first, then Maskin first, …) so that neither phase always runs on a lab that
        // has just warmed up (page cache, dnsmasq leases, sushy's state); every VM gets a fresh Maskin store per round.
        let result: Result<([[String: Netboot]], [[String: Netboot]], Lab), any Error>
        do {
            let lab = try LabDescription.load(state: state)
            let groups = together ? [lab.vms] : lab.vms.map { [$0] }
            var bare: [[String: Netboot]] = [], maskin: [[String: Netboot]] = []
            for round in 0..<max(1, rounds) {
                if round % 2 == 0 {
                    bare.append(try await bareNetboots(lab, groups: groups, state: state))
                    maskin.append(try await maskinDeploys(lab, groups: groups, state: state, logger: logger))
                } else {
                    maskin.append(try await maskinDeploys(lab, groups: groups, state: state, logger: logger))
                    bare.append(try await bareNetboots(lab, groups: groups, state: state))
                }
            }
            result = .success((bare, maskin, lab))
        } catch {
            result = .failure(error)
        }
        let down = try await Shell.run("/bin/bash", [script, "down", "--state", state], timeout: .seconds(120))
        if down.code != 0 { print("warning: scripts/lab down failed:\n\(down.output)") }
        let (bareRounds, maskinRounds, lab) = try result.get()

        func span(_ from: Date?, _ to: Date?) -> Double? { from.flatMap { from in to.map { $0.timeIntervalSince(from) } } }
        func cell(_ value: Double?) -> String { value.map { String(format: "%.1f", $0) } ?? "-" }
        /// The median over the rounds that measured it (a failed netboot has no callback and drops out).
        func median(_ runs: [[String: Netboot]], _ vm: String, _ value: (Netboot) -> Double?) -> Double? {
            let values = runs.compactMap { $0[vm] }.filter { $0.failure == nil }.compactMap(value).sorted()
            guard !values.isEmpty else { return nil }
            return values.count % 2 == 1 ? values[values.count / 2] : (values[values.count / 2 - 1] + values[values.count / 2]) / 2
        }
        func ratio(_ ours: Double?, _ base: Double?) -> String {
            guard let ours, let base, base > 0 else { return "-" }
            return String(format: "%.2f×", ours / base)
        }
        let widths = [6, 8, 7, 8, 9, 7, 9, 9, 7, 0]
        print("medians of \(bareRounds.count) rounds per VM")
        print("                bare netboot              Maskin deploy                ratio Maskin ÷ bare")
        print(tableRow(["vm", "bmc", "→qemu", "qemu→cb", "total s", "→qemu", "qemu→dep", "total s", "total", "qemu→end"], widths))
        var totals: [(Double, Double)] = [], fromQemu: [(Double, Double)] = []
        for vm in lab.vms {
            let bareTotal = median(bareRounds, vm.name) { span($0.start, $0.callback) }
            let maskinTotal = median(maskinRounds, vm.name) { span($0.start, $0.done) }
            let bareNet = median(bareRounds, vm.name) { span($0.qemu, $0.callback) }
            let maskinNet = median(maskinRounds, vm.name) { span($0.qemu, $0.done) }
            if let bareTotal, let maskinTotal { totals.append((bareTotal, maskinTotal)) }
            if let bareNet, let maskinNet { fromQemu.append((bareNet, maskinNet)) }
            print(tableRow([vm.name, vm.bmc.kind, cell(median(bareRounds, vm.name) { span($0.start, $0.qemu) }), cell(bareNet), cell(bareTotal),
                            cell(median(maskinRounds, vm.name) { span($0.start, $0.qemu) }), cell(maskinNet), cell(maskinTotal),
                            ratio(maskinTotal, bareTotal), ratio(maskinNet, bareNet)], widths))
        }
        print("per round, after qemu start (s): script, config, callback [, deployed]; rounds \((0..<bareRounds.count).map { $0 % 2 == 0 ? "bare first" : "Maskin first" }.joined(separator: ", "))")
        for (round, (bare, maskin)) in zip(bareRounds, maskinRounds).enumerated() {
            for vm in lab.vms {
                guard let b = bare[vm.name], let m = maskin[vm.name] else { continue }
                print("  \(round + 1) \(vm.name)  bare   \(cell(span(b.qemu, b.script))), \(cell(span(b.qemu, b.config))), \(cell(span(b.qemu, b.callback)))"
                      + "   Maskin \(cell(span(m.qemu, m.script))), \(cell(span(m.qemu, m.config))), \(cell(span(m.qemu, m.callback))), "
                      + "\(cell(span(m.qemu, m.done)))")
                for note in [b.retried.map { "bare retried once: \($0)" }, b.failure.map { "bare FAILED: \($0)" },
                             m.failure.map { "Maskin FAILED: \($0)" }].compactMap({ $0 }) {
                    print("        \(note)")
                }
            }
        }
        if !totals.isEmpty {
            let sums = totals.reduce((0.0, 0.0)) { ($0.0 + $1.0, $0.1 + $1.1) }
            let net = fromQemu.reduce((0.0, 0.0)) { ($0.0 + $1.0, $0.1 + $1.1) }
            print(String(format: "all VMs (sums of the medians): total %.1f s bare, %.1f s Maskin — %.2f×; from qemu start %.1f s bare, %.1f s Maskin — %.2f×"
                         + " (target ≤ 1.20×)", sums.0, sums.1, sums.1 / sums.0, net.0, net.1, net.1 / max(net.0, 0.001)))
        }
        print("(bare: boot device PXE + power on through the VM's BMC by hand (scripts/lab power on), the lab's static boot")
        print(" service (fake-boot-service.py), until the installer's callback. Maskin: Machines.act(.deploy) until `deployed`:")
        print(" task → one-shot PXE → power read + on → waits for script, config, callback (polls every 1 s, the default) →")
        print(" boot from disk → report; SQLite, in-process bus, default MaskinSettings, the static script's kernel arguments")
        print(" (talos.platform=metal console=ttyS0); enroll/verify/inspect/allocate not timed.")
        print(" Both on the same lab, \(bareRounds.count) rounds alternating which goes first (a fresh Maskin store each round); each")
        print(" cell is the median over the rounds. →qemu: request to qemu's start. Redfish VMs carry sushy-tools' random")
        print(" 1–11 s power-on delay in →qemu, a fresh draw per phase: compare them by qemu→end (qemu start to callback, resp.")
        print(" to `deployed`); IPMI VMs start qemu within 0.1 s.)")
    }

    /// The static boot service on the lab's boot address, for the bare phase.
    func bareNetboots(_ lab: Lab, groups: [[Lab.VM]], state: String) async throws -> [String: Netboot] {
        let events = state + "/bench-bare-events.jsonl"
        _ = FileManager.default.createFile(atPath: events, contents: nil)
        let log = state + "/bench-bare-boot.log"
        _ = FileManager.default.createFile(atPath: log, contents: nil)
        let service = Process()
        service.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        service.arguments = ["python3", "scripts/lib/lab/fake-boot-service.py", lab.hostAddress, "\(lab.bootPort)", lab.assetsDir, events]
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: log))
        service.standardOutput = handle
        service.standardError = handle
        service.standardInput = FileHandle.nullDevice
        try service.run()
        let result: Result<[String: Netboot], any Error>
        do {
            try await waitListening("http://\(lab.hostAddress):\(lab.bootPort)/", what: "the static boot service (see \(log))")
            var results: [String: Netboot] = [:]
            for group in groups {
                for (name, netboot) in try await bareGroup(group, state: state, events: events) { results[name] = netboot }
            }
            // A stand-in that failed (on two loaded cores its DHCP sometimes gives up) gets one more try, alone.
            for vm in lab.vms {
                guard let failed = results[vm.name], let failure = failed.failure else { continue }
                _ = try await Shell.run("/bin/bash", [labScript, "power", "off", vm.name, "--state", state], timeout: .seconds(60))
                try await waitPoweredOff([vm], state: state)
                if var again = try await bareGroup([vm], state: state, events: events)[vm.name] {
                    again.retried = failure
                    results[vm.name] = again
                }
            }
            result = .success(results)
        } catch {
            result = .failure(error)
        }
        await Shell.stop(service)
        try? handle.close()
        return try result.get()
    }

    /// Boot device PXE + power on through each VM's BMC by hand; waits for every callback (bounded), then for the
    /// BMCs to report the VMs off.
    func bareGroup(_ vms: [Lab.VM], state: String, events: String) async throws -> [String: Netboot] {
        let script = labScript
        let started = try await withThrowingTaskGroup(of: (String, Date).self) { group in
            for vm in vms {
                group.addTask {
                    let start = Date()
                    let on = try await Shell.run("/bin/bash", [script, "power", "on", vm.name, "--state", state, "--boot", "pxe"],
                                                 timeout: .seconds(60))
                    guard on.code == 0 else { throw ValidationError("\(vm.name): scripts/lab power on failed:\n\(on.output)") }
                    return (vm.name, start)
                }
            }
            return try await group.reduce(into: [String: Date]()) { $0[$1.0] = $1.1 }
        }
        var results: [String: Netboot] = [:]
        let clock = ContinuousClock()
        let deadline = clock.now + .seconds(180)
        while true {
            let seen = Self.staticEvents(events)
            for vm in vms where results[vm.name] == nil {
                let start = started[vm.name] ?? Date()
                func first(_ kind: String) -> Date? {
                    seen.first { $0.kind == kind && $0.uuid == vm.uuid.lowercased() && $0.at >= start }?.at
                }
                guard let callback = first("callback") else { continue }
                results[vm.name] = Netboot(start: start, qemu: Self.startedAt(state, vm.name), script: first("script"),
                                           config: first("config"), callback: callback, done: callback)
            }
            if results.count == vms.count || clock.now >= deadline { break }
            try await Task.sleep(for: .milliseconds(200))
        }
        for vm in vms where results[vm.name] == nil {
            results[vm.name] = Netboot(start: started[vm.name] ?? Date(), qemu: Self.startedAt(state, vm.name),
                                       failure: "no callback within 180 s; console: "
                                           + Self.consoleTail(vm.consoleLog).joined(separator: " / "))
        }
        try await waitPoweredOff(vms, state: state)
        return results
    }

    /// The static boot service's event log: kind, UUID (lowercased), time.
    static func staticEvents(_ path: String) -> [(kind: String, uuid: String, at: Date)] {
        guard let data = FileManager.default.contents(atPath: path) else { return [] }
        return data.split(separator: UInt8(ascii: "\n")).compactMap { line in
            guard let object = try? JSONSerialization.jsonObject(with: Data(line)) as? [String: Any],
                  let kind = object["kind"] as? String, let time = object["time"] as? Double,
                  let uuid = (object["query"] as? [String: Any])?["uuid"] as? String else { return nil }
            return (kind, uuid.lowercased(), Date(timeIntervalSince1970: time))
        }
    }

    /// The last stand-in lines of a VM's console.
    static func consoleTail(_ path: String) -> [String] {
        let text = FileManager.default.contents(atPath: path).map { String(decoding: $0, as: UTF8.self) } ?? ""
        return Array(text.split(separator: "\n").filter { $0.contains("dvlab") }.suffix(3).map(String.init))
    }

    /// When the VM's qemu last started (`vmctl` writes it).
    static func startedAt(_ state: String, _ name: String) -> Date? {
        guard let data = FileManager.default.contents(atPath: "\(state)/\(name)/started-at"),
              let seconds = Double(String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)) else { return nil }
        return Date(timeIntervalSince1970: seconds)
    }

    /// Waits (bounded, 90 s) until the VMs' BMCs report them off (the stand-in powers off after its callback).
    func waitPoweredOff(_ vms: [Lab.VM], state: String) async throws {
        try await Self.waitPoweredOff(vms, state: state, labScript: labScript)
    }

    static func waitPoweredOff(_ vms: [Lab.VM], state: String, labScript: String) async throws {
        let clock = ContinuousClock()
        let deadline = clock.now + .seconds(90)
        var pending = Set(vms.map(\.name))
        while !pending.isEmpty, clock.now < deadline {
            for name in pending.sorted() {
                let status = try await Shell.run("/bin/bash", [labScript, "power", "status", name, "--state", state], timeout: .seconds(30))
                if status.output.lowercased().split(separator: "\n").contains(where: { $0.trimmingCharacters(in: .whitespaces) == "off" }) {
                    pending.remove(name)
                }
            }
            if !pending.isEmpty { try await Task.sleep(for: .milliseconds(500)) }
        }
        if !pending.isEmpty { print("warning: BMCs still report \(pending.sorted().joined(separator: ", ")) on after 90 s") }
    }

    /// The same VMs through Maskin: a server with the boot listener on the lab's address, the VMs enrolled, verified,
    /// inspected and allocated (not timed), then `act(.deploy)` per group until `deployed`.
    func maskinDeploys(_ lab: Lab, groups: [[Lab.VM]], state: String, logger: Logger) async throws -> [String: Netboot] {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("dvbench-\(ULID.make())").path
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let database = try await StoreConfiguration(databaseURL: nil, dataDirectory: directory).open(logger: logger)
        let http = RedfishDriver.makeHTTPClient()
        let result: Result<[String: Netboot], any Error>
        do {
            let bus = InProcessBus(logger: logger)
            try await bus.provision()
            let sentral = ControlPlane(database: database, bus: bus)
            _ = try await sentral.migrate()
            let bootURL = "http://\(lab.hostAddress):\(lab.bootPort)"
            let maskin = MaskinPlane(sentral: sentral, sealingKey: SymmetricKey(size: .bits256),
                                     // The static script's kernel arguments (the default adds console=tty0, which costs
                                     // the stand-in's kernel seconds under TCG): both phases boot the same command line.
                                     boot: BootConfiguration(publicURL: bootURL, assetsDirectory: lab.assetsDir,
                                                             kernelArguments: "talos.platform=metal console=ttyS0"),
                                     connector: BMCConnector(httpClient: http, logger: logger), logger: logger)
            var configuration = ServerConfiguration(host: "127.0.0.1", port: 0)
            configuration.rateLimits = .loadTesting
            configuration.bootListener = BootListener(host: lab.hostAddress, port: lab.bootPort)
            let vms = lab.vms
            let labScript = self.labScript
            result = .success(try await DataverketServer.withRunning(sentral: sentral, maskin: maskin, configuration: configuration,
                                                                     logger: logger, bus: bus) { _ in
                try await waitListening(bootURL + "/boot/ipxe", what: "Maskin's boot listener")
                try await Self.prepare(vms, machines: maskin.machines)
                var results: [String: Netboot] = [:]
                for group in groups {
                    for (name, netboot) in try await Self.deploy(group, machines: maskin.machines, state: state) { results[name] = netboot }
                    try await Self.waitPoweredOff(group, state: state, labScript: labScript)
                }
                return results
            })
        } catch {
            result = .failure(error)
        }
        try? await http.shutdown()
        try await database.backend.close()
        return try result.get()
    }

    /// Enrolls every VM (as `dvce machine enroll` would: credentials by reference, console by file) and takes it
    /// through verify and inspect (the worker, against the real BMCs) to `allocated`.
    static func prepare(_ vms: [Lab.VM], machines: Machines) async throws {
        let context = OperationContext(actor: "bench", correlationID: ULID.make())
        for vm in vms {
            let reference = try credentialsReference(user: vm.bmc.username, password: vm.bmc.password)
            let bmc = vm.bmc.kind == "redfish"
                ? BMCConfig(protocol: .redfish, address: vm.bmc.address.replacingOccurrences(of: "http://", with: ""),
                            systemID: vm.bmc.systemId, credentials: reference, tls: .plaintext)
                : BMCConfig(protocol: .ipmi, address: "\(vm.bmc.address):\(vm.bmc.port ?? 623)", credentials: reference)
            _ = try await machines.enroll(MachineEnrollment(name: vm.name, mac: vm.mac, uuid: vm.uuid, serial: vm.serial, bmc: bmc,
                                                            console: "file:" + vm.consoleLog), context: context)
        }
        for vm in vms {
            try await expect(machines, vm.name, leaves: .verifying, reaches: .manageable)
            _ = try await machines.act(vm.name, action: .inspect, context: context)
        }
        for (index, vm) in vms.enumerated() {
            try await expect(machines, vm.name, leaves: .inspecting, reaches: .available)
            _ = try await machines.act(vm.name, action: .allocate,
                                       options: MachineActionOptions(role: index == 0 ? "controlplane" : "worker", cluster: "bench"),
                                       context: context)
        }
    }

    /// `act(.deploy)` on every VM at once; waits (bounded) until each leaves `deploying`.
    static func deploy(_ vms: [Lab.VM], machines: Machines, state: String) async throws -> [String: Netboot] {
        let context = OperationContext(actor: "bench", correlationID: ULID.make())
        let starts = try await withThrowingTaskGroup(of: (String, Date).self) { group in
            for vm in vms {
                group.addTask {
                    let start = Date()
                    _ = try await machines.act(vm.name, action: .deploy, context: context)
                    return (vm.name, start)
                }
            }
            return try await group.reduce(into: [String: Date]()) { $0[$1.0] = $1.1 }
        }
        var results: [String: Netboot] = [:]
        let clock = ContinuousClock()
        let deadline = clock.now + .seconds(400)
        while results.count < vms.count, clock.now < deadline {
            for vm in vms where results[vm.name] == nil {
                let machine = try await machines.get(vm.name)
                guard machine.state != .deploying else { continue }
                let start = starts[vm.name] ?? Date()
                let events = try await machines.bootEvents(machine.id).filter { $0.at >= start }
                func first(_ kind: BootEvent.Kind) -> Date? { events.first { $0.kind == kind }?.at }
                var netboot = Netboot(start: start, qemu: startedAt(state, vm.name), script: first(.script), config: first(.config),
                                      callback: first(.callback))
                if machine.state == .deployed {
                    netboot.done = machine.lastTransition
                } else {
                    let detail = try await machines.detail(vm.name)
                    netboot.failure = "\(machine.state); boot events: "
                        + detail.bootEvents.map { "\($0.kind.rawValue) \($0.detail ?? "")" }.joined(separator: " | ")
                        + "; console: " + detail.consoleTail.suffix(5).joined(separator: " / ")
                }
                results[vm.name] = netboot
            }
            if results.count < vms.count { try await Task.sleep(for: .milliseconds(250)) }
        }
        for vm in vms where results[vm.name] == nil {
            results[vm.name] = Netboot(start: starts[vm.name] ?? Date(), qemu: startedAt(state, vm.name),
                                       failure: "still deploying after 400 s")
        }
        return results
    }

    /// Waits (bounded, 120 s) until the machine leaves `from`; it must then be in `to`.
    static func expect(_ machines: Machines, _ name: String, leaves from: MachineState.Name, reaches to: MachineState.Name) async throws {
        let clock = ContinuousClock()
        let deadline = clock.now + .seconds(120)
        var machine = try await machines.get(name)
        while machine.state.name == from, clock.now < deadline {
            try await Task.sleep(for: .milliseconds(250))
            machine = try await machines.get(name)
        }
        guard machine.state.name == to else {
            throw ValidationError("\(name): expected \(to) after \(from), got \(machine.state) (bmc: \(machine.bmcError ?? "-"))")
        }
    }

    // MARK: - 2. Boot service throughput

    func bootPart(logger: Logger) async throws {
        let requests = self.requests, concurrency = self.concurrency, count = bootMachines
        let backends = self.backends.split(separator: ",").map(String.init), postgresURL = self.postgresURL
        print("\n## 2. boot service — GET /boot/ipxe, \(requests) requests per workload at \(concurrency) concurrent clients, "
              + "cycling over \(count) machines")
        var configuration = HTTPClient.Configuration(redirectConfiguration: .disallow, timeout: .init(connect: .seconds(5), read: .seconds(60)))
        configuration.connectionPool = .init(idleTimeout: .seconds(120), concurrentHTTP1ConnectionsPerHostSoftLimit: concurrency)
        let client = HTTPClient(eventLoopGroup: HTTPClient.defaultEventLoopGroup, configuration: configuration)
        let result: Result<Void, any Error>
        do {
            let staticScript = BootBenchScripts.staticScript
            try await withListeningService(logger: logger, { onListening in
                StaticBootServer(script: staticScript, logger: logger, onListening: onListening)
            }) { staticPort in
                print("backend    workload             scripts/s  p50 ms    p99 ms    vs static")
                for backend in backends {
                    let (database, cleanup) = try await BenchDatabase.open(backend, postgresURL: postgresURL, logger: logger)
                    try await database.whileRunning {
                        let rows = try await Self.measureBoot(database: database, client: client, staticPort: staticPort, requests: requests,
                                                              concurrency: concurrency, count: count, logger: logger)
                        for (m, baseline) in rows {
                            let ratio = baseline.map { String(format: "%.2f×", $0.perSecond / m.perSecond) } ?? "1.00"
                            print(tableRow([backend, m.name, String(format: "%.0f", m.perSecond), milliseconds(m.percentile(0.5)),
                                            milliseconds(m.percentile(0.99)), ratio], [10, 20, 10, 9, 9, 0]))
                        }
                    }.get()
                    try await cleanup()
                }
            }
            result = .success(())
        } catch {
            result = .failure(error)
        }
        try? await client.shutdown()
        try result.get()
        print("(ratio = static scripts/s ÷ Maskin's, the static run measured just before: what Maskin costs per request over a")
        print(" Hummingbird handler returning a fixed script, same client, same process. deploying: \(count) machines in `deploying`;")
        print(" each fetch looks the machine up and, in one transaction, replaces its boot token and records a boot event.")
        print(" unknown: \(count) unknown MACs; each fetch upserts `discovered`, records a boot event and an inventory observation.")
        print(" Per-address rate limit set out of the way (burst and rate 10⁹); the client (AsyncHTTPClient, \(concurrency)")
        print(" connections) runs in the same process on the same cores.)")
    }

    static func measureBoot(database: Database, client: HTTPClient, staticPort: Int, requests: Int, concurrency: Int, count: Int,
                            logger: Logger) async throws -> [(Measurement, Measurement?)] {
        let sentral = ControlPlane(database: database)
        _ = try await sentral.migrate()
        let maskin = MaskinPlane(sentral: sentral, sealingKey: SymmetricKey(size: .bits256),
                                 boot: BootConfiguration(publicURL: "http://127.0.0.1:8180"),
                                 connector: BMCConnector(httpClient: client, logger: logger), logger: logger)
        // `count` machines in `deploying` (the lifecycle driven by hand: no worker runs, so their tasks stay queued).
        let reference = try credentialsReference(user: bmcUser, password: bmcPassword)
        let machines = maskin.machines
        let context = OperationContext(actor: "bench", correlationID: ULID.make())
        _ = try await Measurement.run("setup", count: count, concurrency: 8) { index in
            let name = "boot-\(index)"
            let (record, _) = try await machines.enroll(
                MachineEnrollment(name: name, mac: BootBenchScripts.mac(0xbb, index), uuid: BootBenchScripts.uuid(0xb0, index),
                                  serial: "DVBENCH-\(index)",
                                  bmc: BMCConfig(protocol: .redfish, address: "127.0.0.1:9", systemID: "s\(index)", credentials: reference,
                                                 tls: .plaintext)), context: context)
            try await machines.report(record.id, .succeeded(.verify), context: context)
            _ = try await machines.act(name, action: .inspect, context: context)
            try await machines.report(record.id, .succeeded(.inspect), context: context)
            _ = try await machines.act(name, action: .allocate, options: MachineActionOptions(role: "worker", cluster: "bench"), context: context)
            _ = try await machines.act(name, action: .deploy, context: context)
        }
        return try await withListeningService(logger: logger, { onListening in
            try BootServer(host: "127.0.0.1", port: 0, boot: maskin.boot, logger: logger, burst: 1_000_000_000, perSecond: 1e9,
                           onListening: onListening)
        }) { port in
            @Sendable func url(_ port: Int, group: Int, uuidGroup: Int, serial: String, _ index: Int) -> String {
                let machine = index % count
                return "http://127.0.0.1:\(port)/boot/ipxe?mac=\(BootBenchScripts.mac(group, machine))"
                    + "&uuid=\(BootBenchScripts.uuid(uuidGroup, machine))&serial=\(serial)-\(machine)&arch=x86_64"
            }
            @Sendable func fixed(_ index: Int) -> String { url(staticPort, group: 0xbb, uuidGroup: 0xb0, serial: "DVBENCH", index) }
            @Sendable func deploying(_ index: Int) -> String { url(port, group: 0xbb, uuidGroup: 0xb0, serial: "DVBENCH", index) }
            @Sendable func unknown(_ index: Int) -> String { url(port, group: 0xcc, uuidGroup: 0xc0, serial: "DVUNKNOWN", index) }
            // Warm up connections and caches (unmeasured).
            _ = try await Measurement.run("warm-up", count: concurrency * 5, concurrency: concurrency) { index in
                try await fetch(client, fixed(index), expect: "#!ipxe")
            }
            _ = try await Measurement.run("warm-up", count: concurrency * 5, concurrency: concurrency) { index in
                try await fetch(client, deploying(index + count / 2), expect: "talos.config=")
            }
            let fixedRun = try await Measurement.run("static (baseline)", count: requests, concurrency: concurrency) { index in
                try await fetch(client, fixed(index), expect: "#!ipxe")
            }
            let deployRun = try await Measurement.run("deploying (token)", count: requests, concurrency: concurrency) { index in
                try await fetch(client, deploying(index), expect: "talos.config=")
            }
            let staticAgain = try await Measurement.run("static (baseline)", count: requests, concurrency: concurrency) { index in
                try await fetch(client, fixed(index), expect: "#!ipxe")
            }
            let discoveryRun = try await Measurement.run("unknown (discovery)", count: requests, concurrency: concurrency) { index in
                try await fetch(client, unknown(index), expect: "unknown machine")
            }
            return [(fixedRun, nil), (deployRun, fixedRun), (staticAgain, nil), (discoveryRun, staticAgain)]
        }
    }

    static func fetch(_ client: HTTPClient, _ url: String, expect: String) async throws {
        let response = try await client.execute(HTTPClientRequest(url: url), timeout: .seconds(60))
        let body = String(buffer: try await response.body.collect(upTo: 1 << 20))
        guard response.status == .ok, body.contains(expect) else {
            throw ValidationError("GET \(url): HTTP \(response.status.code), expected '\(expect)' in: \(body.prefix(200))")
        }
    }

    // MARK: - 3. Power sweep over 1,000 Redfish systems

    func sweepPart(logger: Logger) async throws {
        guard !sushyURL.isEmpty else {
            print("\n## 3. power sweep — skipped: no sushy-emulator (--sushy-url / DV_BENCH_SUSHY_URL; scripts/bench starts one)")
            return
        }
        let levels = sweepConcurrency.split(separator: ",").compactMap { Int($0) }.filter { $0 > 0 }
        guard !levels.isEmpty else { throw ValidationError("--sweep-concurrency needs at least one positive number") }
        let count = sushySystems
        let address = sushyURL.replacingOccurrences(of: "http://", with: "").trimmingCharacters(in: CharacterSet(charactersIn: "/"))
        print("\n## 3. power sweep — MachineSweeper.reconcilePower() over \(count) machines, one sushy-emulator (fake driver, basic auth)"
              + " with \(count) systems at \(address)")
        var configuration = HTTPClient.Configuration(redirectConfiguration: .disallow, timeout: .init(connect: .seconds(5), read: .seconds(30)))
        // Every fake system sits behind the same host:port here (a real BMC is one host each): allow as many connections
        // to it as the sweep has BMC calls in flight.
        configuration.connectionPool = .init(idleTimeout: .seconds(60), concurrentHTTP1ConnectionsPerHostSoftLimit: max(levels.max() ?? 8, 8))
        let client = HTTPClient(eventLoopGroup: HTTPClient.defaultEventLoopGroup, configuration: configuration)
        let result: Result<Void, any Error>
        do {
            print("backend    run                    BMCs at once  seconds  machines/s  answered   vs \(levels[0]) at once  vs bare GETs")
            for backend in backends.split(separator: ",").map(String.init) {
                let (database, cleanup) = try await BenchDatabase.open(backend, postgresURL: postgresURL, logger: logger)
                try await database.whileRunning {
                    try await Self.measureSweep(backend: backend, database: database, client: client, address: address, count: count,
                                                levels: levels, logger: logger)
                }.get()
                try await cleanup()
            }
            result = .success(())
        } catch {
            result = .failure(error)
        }
        try? await client.shutdown()
        try result.get()
        print("(a sweep reads each machine's power through RedfishDriver — one quick try, \(MaskinSettings().bmcTimeout) timeout — and")
        print(" records it (one UPDATE per machine). The driver is made per machine, so each read is GET /redfish/v1/Systems")
        print(" (here \(count) members; one on a real BMC) + GET of the system. bare GETs: one GET of each system with basic auth")
        print(" over the same HTTP client at the same concurrency, nothing recorded. One unmeasured sweep first. sushy-emulator is")
        print(" one Python process: it, not Maskin, bounds the rate as concurrency grows.)")
    }

    static func measureSweep(backend: String, database: Database, client: HTTPClient, address: String, count: Int, levels: [Int],
                             logger: Logger) async throws {
        let sentral = ControlPlane(database: database)
        _ = try await sentral.migrate()
        let machines = Machines(database: database, tasks: sentral.tasks, logger: logger)
        let reference = try credentialsReference(user: bmcUser, password: bmcPassword)
        let context = OperationContext(actor: "bench", correlationID: ULID.make())
        _ = try await Measurement.run("enroll", count: count, concurrency: 8) { index in
            let system = BootBenchScripts.sushySystem(index + 1)
            _ = try await machines.enroll(
                MachineEnrollment(name: "sweep-\(index + 1)", mac: BootBenchScripts.mac(0xe0, index + 1), uuid: system,
                                  bmc: BMCConfig(protocol: .redfish, address: address, systemID: system, credentials: reference, tls: .plaintext),
                                  verify: false), context: context)
        }
        let connector = BMCConnector(httpClient: client, logger: logger)
        let authorization = "Basic " + Data("\(bmcUser):\(bmcPassword)".utf8).base64EncodedString()
        let clock = ContinuousClock()
        func sweep(_ concurrency: Int) async throws -> (Duration, Int) {
            let sweeper = MachineSweeper(machines: machines, connector: connector, settings: MaskinSettings(bmcConcurrency: concurrency),
                                         logger: logger)
            let start = clock.now
            let answered = try await sweeper.reconcilePower()
            return (clock.now - start, answered)
        }
        _ = try await sweep(levels[0])  // unmeasured: connections, first power records
        var first: Double?
        let widths = [10, 22, 13, 8, 11, 10, 15, 0]
        for level in levels {
            // The emulator sometimes answers 500 under load (its state is one SQLite file): counted, not fatal — the
            // sweep counts the same way (a BMC that fails is recorded, not retried within the sweep).
            let failures = FailureCount()
            let bare = try await Measurement.run("bare GETs", count: count, concurrency: level) { index in
                var request = HTTPClientRequest(url: "http://\(address)/redfish/v1/Systems/\(BootBenchScripts.sushySystem(index + 1))")
                request.headers.add(name: "Authorization", value: authorization)
                do {
                    let response = try await client.execute(request, timeout: .seconds(5))
                    let body = try await response.body.collect(upTo: 1 << 20)
                    if response.status != .ok || !String(buffer: body).contains("PowerState") { await failures.add() }
                } catch {
                    await failures.add()
                }
            }
            let bareAnswered = count - (await failures.count)
            let (elapsed, answered) = try await sweep(level)
            let sweepSeconds = seconds(elapsed), bareSeconds = seconds(bare.elapsed)
            first = first ?? sweepSeconds
            print(tableRow([backend, "sweep (reconcilePower)", "\(level)", String(format: "%.2f", sweepSeconds),
                            String(format: "%.0f", Double(answered) / sweepSeconds), "\(answered)/\(count)",
                            String(format: "%.2f×", sweepSeconds / (first ?? sweepSeconds)), String(format: "%.2f×", sweepSeconds / bareSeconds)],
                           widths))
            print(tableRow([backend, "bare GETs", "\(level)", String(format: "%.2f", bareSeconds),
                            String(format: "%.0f", Double(bareAnswered) / bareSeconds), "\(bareAnswered)/\(count)", "-", "1.00"], widths))
        }
    }
}

/// Failed requests of a measured loop.
actor FailureCount {
    private(set) var count = 0
    func add() { count += 1 }
}

/// Names, MACs and UUIDs of the benchmark's machines, and the baseline's script.
enum BootBenchScripts {
    static func mac(_ group: Int, _ index: Int) -> String {
        String(format: "52:54:00:%02x:%02x:%02x", group, (index >> 8) & 0xff, index & 0xff)
    }
    static func uuid(_ group: Int, _ index: Int) -> String {
        String(format: "%08x-0000-4000-8000-%012x", 0xdbe0_0000 + group, index)
    }
    /// The fake systems scripts/bench gives its sushy-emulator: n = 1…N.
    static func sushySystem(_ n: Int) -> String {
        String(format: "dbe00000-0000-4000-8000-%012x", n)
    }
    /// About the size of Maskin's installer script.
    static let staticScript = """
        #!ipxe
        echo Dataverket: install of boot-1 (task tsk_01JBENCHSTATICSCRIPT000000)
        kernel http://127.0.0.1:8180/boot/assets/vmlinuz initrd=initramfs talos.platform=metal console=tty0 console=ttyS0 talos.config=http://127.0.0.1:8180/boot/config?uuid=dbe000b0-0000-4000-8000-000000000001&token=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA dv.callback=http://127.0.0.1:8180/boot/callback?uuid=dbe000b0-0000-4000-8000-000000000001&token=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA&event=install-complete dv.purpose=install
        initrd http://127.0.0.1:8180/boot/assets/initramfs
        boot

        """
}

/// The baseline: a Hummingbird handler that returns a fixed iPXE script, nothing else.
struct StaticBootServer: Service {
    let script: String
    let logger: Logger
    let onListening: @Sendable (Int) async -> Void

    func run() async throws {
        let router = Router()
        let script = self.script
        router.get("/boot/ipxe") { _, _ in
            var headers = HTTPFields()
            headers[.contentType] = "text/plain; charset=utf-8"
            return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(string: script)))
        }
        let onListening = self.onListening
        let app = Application(router: router, configuration: .init(address: .hostname("127.0.0.1", port: 0), serverName: "static-boot"),
                              onServerRunning: { await onListening($0.localAddress?.port ?? 0) }, logger: logger)
        try await app.runService()
    }
}

/// Waits (bounded, 15 s) until `url` answers HTTP at all.
func waitListening(_ url: String, what: String) async throws {
    let clock = ContinuousClock()
    let deadline = clock.now + .seconds(15)
    while clock.now < deadline {
        if let response = try? await HTTPClient.shared.execute(HTTPClientRequest(url: url), timeout: .seconds(2)) {
            _ = try? await response.body.collect(upTo: 1 << 20)
            return
        }
        try await Task.sleep(for: .milliseconds(100))
    }
    throw ValidationError("\(what) did not answer at \(url) within 15 s")
}

/// A credentials file (`username:password`, 0600) and its secret reference.
func credentialsReference(user: String, password: String) throws -> String {
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("dvbench-bmc-\(ULID.make())").path
    try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    let path = directory + "/credentials"
    try SecretFile.write("\(user):\(password)\n", to: path)
    return "file:" + path
}

/// Subprocesses, bounded.
enum Shell {
    /// Runs `executable ARGS`; returns its exit code (-1 when killed at the time limit) and what it printed.
    static func run(_ executable: String, _ arguments: [String], timeout: Duration) async throws -> (code: Int32, output: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        let output = FileManager.default.temporaryDirectory.appendingPathComponent("dvbench-sh-\(ULID.make()).log")
        _ = FileManager.default.createFile(atPath: output.path, contents: nil)
        let handle = try FileHandle(forWritingTo: output)
        defer {
            try? handle.close()
            try? FileManager.default.removeItem(at: output)
        }
        process.standardOutput = handle
        process.standardError = handle
        process.standardInput = FileHandle.nullDevice
        try process.run()
        let clock = ContinuousClock()
        let deadline = clock.now + timeout
        while process.isRunning, clock.now < deadline { try await Task.sleep(for: .milliseconds(50)) }
        var killed = false
        if process.isRunning {
            killed = true
            await stop(process)
        }
        let text = (try? String(contentsOf: output, encoding: .utf8)) ?? ""
        return (killed || process.isRunning ? -1 : process.terminationStatus, text)
    }

    /// SIGTERM, then SIGKILL after 3 s (children inherit the Swift worker thread's blocked signals, SIGTERM among
    /// them, so a child that does not unblock it never sees it); bounded, never `waitUntilExit` (it spins).
    static func stop(_ process: Process) async {
        let clock = ContinuousClock()
        for signal in [SIGTERM, SIGKILL] where process.isRunning {
            kill(process.processIdentifier, signal)
            let grace = clock.now + .seconds(3)
            while process.isRunning, clock.now < grace { try? await Task.sleep(for: .milliseconds(50)) }
        }
    }
}
