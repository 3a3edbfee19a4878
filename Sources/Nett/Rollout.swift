import Foundation
import DataverketCore
import DataverketProcess
import Logging

/// How Nett reaches one device with one driver (a border router has two: FRR and nftables). Read from the devices
/// file (`DV_NETT_DEVICES`; `scripts/lab fabric up` writes one for the lab).
public struct DeviceTarget: Codable, Sendable, Hashable {
    public var name: String
    /// `ovs`, `frr` or `nftables`.
    public var driver: String
    public var namespace: String?
    /// ovs: the OVSDB socket and the bridge; `control`: ovs-vswitchd's control socket.
    public var database: String?
    public var bridge: String?
    public var control: String?
    /// frr: vtysh's socket directory and the daemons' directory.
    public var vtySocket: String?
    public var runDirectory: String?
    /// nftables: the table (default `dataverket`).
    public var table: String?
    /// frr and nftables, where VRFs are network namespaces (FRR's netns VRF backend, as in the lab): the namespace
    /// realizing each intent VRF. FRR knows the VRF by that name; nftables loads its table into each of them too.
    public var vrfs: [String: String]?

    public init(name: String, driver: String, namespace: String? = nil, database: String? = nil, bridge: String? = nil,
                control: String? = nil, vtySocket: String? = nil, runDirectory: String? = nil, table: String? = nil,
                vrfs: [String: String]? = nil) {
        self.name = name
        self.driver = driver
        self.namespace = namespace
        self.database = database
        self.bridge = bridge
        self.control = control
        self.vtySocket = vtySocket
        self.runDirectory = runDirectory
        self.table = table
        self.vrfs = vrfs
    }

    public var key: String { "\(name)/\(driver)" }
}

/// A host on a network that probes start from and aim at.
public struct ProbeEndpoint: Codable, Sendable, Hashable {
    public var network: String
    public var namespace: String
    public var address: String

    public init(network: String, namespace: String, address: String) {
        self.network = network
        self.namespace = namespace
        self.address = address
    }
}

/// The devices file: the drivers per device, and the probe endpoints per network.
public struct DeviceCatalog: Codable, Sendable, Hashable {
    public var devices: [DeviceTarget]
    public var endpoints: [ProbeEndpoint]?

    public init(devices: [DeviceTarget], endpoints: [ProbeEndpoint]? = nil) {
        self.devices = devices
        self.endpoints = endpoints
    }

    public static func load(path: String) throws(DataverketError) -> DeviceCatalog {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw DataverketError(.invalidArgument, "cannot read the devices file \(path)")
        }
        let catalog: DeviceCatalog
        do {
            catalog = try JSONDecoder().decode(DeviceCatalog.self, from: data)
        } catch {
            throw DataverketError(.invalidArgument, "the devices file \(path) is not a device catalog: \(error)")
        }
        for device in catalog.devices where !["ovs", "frr", "nftables"].contains(device.driver) {
            throw DataverketError(.invalidArgument, "the devices file \(path): device \(device.name) has driver '\(device.driver)' (ovs, frr or nftables)")
        }
        return catalog
    }
}

/// The drivers of a device catalog, made once and kept (a confirmed commit's timer lives in its driver), with the
/// renderer for each.
public actor NetworkDevices {
    public let catalog: DeviceCatalog
    private var drivers: [String: any NetworkDriver] = [:]

    public init(catalog: DeviceCatalog) {
        self.catalog = catalog
    }

    public nonisolated var targets: [DeviceTarget] { catalog.devices }

    public nonisolated func renderer(for target: DeviceTarget) -> any ConfigRenderer {
        switch target.driver {
        case "ovs": OVSRenderer()
        case "frr": FRRRenderer(vrfNames: target.vrfs ?? [:])
        default: NftablesRenderer(table: target.table ?? "dataverket")
        }
    }

    public func driver(for target: DeviceTarget) throws(DataverketError) -> any NetworkDriver {
        if let driver = drivers[target.key] { return driver }
        let driver: any NetworkDriver
        switch target.driver {
        case "ovs":
            guard let database = target.database else { throw DataverketError(.invalidArgument, "device \(target.name): ovs needs `database`") }
            driver = OVSDriver(OpenVSwitch(device: target.name, database: database, bridge: target.bridge ?? "br0", control: target.control))
        case "frr":
            guard let vty = target.vtySocket, let run = target.runDirectory else {
                throw DataverketError(.invalidArgument, "device \(target.name): frr needs `vtySocket` and `runDirectory`")
            }
            driver = FRRDriver(FRRouting(device: target.name, namespace: target.namespace, vtySocket: vty, runDirectory: run,
                                         vrfs: target.vrfs.map { Set($0.values) }))
        default:
            driver = NftablesDriver(device: target.name, namespace: target.namespace, table: target.table ?? "dataverket",
                                    vrfNamespaces: (target.vrfs ?? [:]).values.sorted())
        }
        drivers[target.key] = driver
        return driver
    }

    /// The targets an intent configures (its switches and non-external routers), leaves before routers, switches in
    /// name order, so MLAG peers go one at a time; within a router FRR before nftables.
    public nonisolated func targets(for intent: NetworkIntent, only: Set<String>? = nil) -> [DeviceTarget] {
        let switches = Set((intent.ports ?? []).map(\.device))
        let routers = Set((intent.routers ?? []).filter { $0.external != true }.map(\.name))
        let order = ["ovs": 0, "frr": 1, "nftables": 2]
        return catalog.devices
            .filter { (switches.contains($0.name) && $0.driver == "ovs") || (routers.contains($0.name) && $0.driver != "ovs") }
            .filter { only == nil || only!.contains($0.name) }
            .sorted { (order[$0.driver] ?? 9, $0.name) < (order[$1.driver] ?? 9, $1.name) }
    }
}

// MARK: - Probes

/// One probe generated from the intent: from a host on one network to a host on another, expected to pass (an
/// allowed flow) or to fail (no flow allowed, or not this protocol).
public struct Probe: Codable, Sendable, Hashable, CustomStringConvertible {
    public var from: String
    public var to: String
    /// `icmp` or `tcp/PORT`.
    public var flow: String
    public var expect: Bool

    public init(from: String, to: String, flow: String, expect: Bool) {
        self.from = from
        self.to = to
        self.flow = flow
        self.expect = expect
    }

    public var description: String { "\(from) → \(to) \(flow) (expected \(expect ? "to pass" : "to be blocked"))" }
}

public struct ProbeResult: Codable, Sendable, Hashable {
    public var probe: Probe
    public var passed: Bool
    public var ok: Bool { passed == probe.expect }
}

public enum ProbePlanner {
    /// For every ordered pair of networks with an endpoint: each allowed flow (`any` and `icmp` as ping, `tcp/N` as a
    /// TCP connect) expected to pass; a pair with no flow, or with no ICMP among its flows, gets a ping expected to fail.
    public static func plan(_ intent: NetworkIntent, endpoints: [ProbeEndpoint]) -> [Probe] {
        let matrix = IntentVerifier.reachability(intent)
        let networks = Set(endpoints.map(\.network))
        var probes: [Probe] = []
        for from in networks.sorted() {
            for to in networks.sorted() where to != from {
                let flows = matrix.flows(from: from, to: to)
                var pinged = false
                for flow in flows {
                    if flow == "any" || flow == "icmp" {
                        if !pinged { probes.append(Probe(from: from, to: to, flow: "icmp", expect: true)) }
                        pinged = true
                    } else if flow.hasPrefix("tcp/") {
                        probes.append(Probe(from: from, to: to, flow: flow, expect: true))
                    }
                }
                if !pinged { probes.append(Probe(from: from, to: to, flow: "icmp", expect: false)) }
            }
        }
        return probes
    }
}

/// Runs probes between network namespaces: ping, and TCP connects to listeners it starts on the targets for the run.
public struct ProbeRunner: Sendable {
    public let endpoints: [ProbeEndpoint]
    public let concurrency: Int

    public init(endpoints: [ProbeEndpoint], concurrency: Int = 12) {
        self.endpoints = endpoints
        self.concurrency = max(1, concurrency)
    }

    public func run(_ probes: [Probe]) async throws -> [ProbeResult] {
        let byNetwork = Dictionary(endpoints.map { ($0.network, $0) }, uniquingKeysWith: { first, _ in first })
        var listeners: [Int32] = []
        defer { for pid in listeners { kill(pid, SIGTERM) } }
        let ports = Set(probes.compactMap { probe -> String? in
            guard probe.flow.hasPrefix("tcp/"), let target = byNetwork[probe.to] else { return nil }
            return "\(target.namespace) \(target.address) \(probe.flow.dropFirst(4))"
        })
        for entry in ports.sorted() {
            let parts = entry.split(separator: " ").map(String.init)
            listeners.append(try await Self.listen(namespace: parts[0], address: parts[1], port: parts[2]))
        }
        if !listeners.isEmpty { try await Task.sleep(for: .milliseconds(300)) }
        return try await withThrowingTaskGroup(of: (Int, ProbeResult).self) { group in
            var results: [ProbeResult?] = Array(repeating: nil, count: probes.count)
            var next = 0
            func start(_ index: Int) {
                let probe = probes[index]
                group.addTask {
                    guard let source = byNetwork[probe.from], let target = byNetwork[probe.to] else {
                        return (index, ProbeResult(probe: probe, passed: false))
                    }
                    return (index, ProbeResult(probe: probe, passed: try await Self.attempt(probe, source: source, target: target)))
                }
            }
            while next < min(concurrency, probes.count) { start(next); next += 1 }
            while let (index, result) = try await group.next() {
                results[index] = result
                if next < probes.count { start(next); next += 1 }
            }
            return results.compactMap { $0 }
        }
    }

    /// A passing probe is tried up to 3 times (first packets wait for ARP); a blocked one once, with a short wait.
    static func attempt(_ probe: Probe, source: ProbeEndpoint, target: ProbeEndpoint) async throws -> Bool {
        for attempt in 1...(probe.expect ? 3 : 1) {
            let arguments: [String]
            if probe.flow == "icmp" {
                arguments = ["netns", "exec", source.namespace, "ping", "-n", "-q", "-c", "1", "-W", "1", target.address]
            } else {
                let port = probe.flow.dropFirst(4)
                arguments = ["netns", "exec", source.namespace, "timeout", "2", "bash", "-c", "exec 3<>/dev/tcp/\(target.address)/\(port)"]
            }
            guard let result = try await runSubprocess("/usr/sbin/ip", arguments, environment: ["PATH": "/usr/sbin:/usr/bin:/sbin:/bin"],
                                                       timeout: .seconds(5)) else { continue }
            if result.status == 0 { return true }
            if attempt < 3 { try await Task.sleep(for: .milliseconds(300)) }
        }
        return false
    }

    static let listener = """
        import socket, sys, time
        s = socket.socket(socket.AF_INET6 if ':' in sys.argv[1] else socket.AF_INET)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind((sys.argv[1], int(sys.argv[2]))); s.listen(128); s.settimeout(0.5)
        end = time.time() + 60
        while time.time() < end:
            try:
                c, _ = s.accept(); c.close()
            except OSError:
                pass
        """

    /// Starts a listener in the target's namespace for the probes' run (at most 60 s) and returns its PID. It is
    /// started detached, with every inherited descriptor closed: Foundation's `Process` sees a child exit only when
    /// no other process holds a copy of its descriptors, and a listener that outlives the probes must not hold theirs.
    static func listen(namespace: String, address: String, port: String) async throws -> Int32 {
        let script = """
            for fd in /proc/$$/fd/*; do fd=${fd##*/}; if [ "$fd" -gt 2 ] 2>/dev/null; then eval "exec $fd>&-" 2>/dev/null; fi; done
            setsid ip netns exec "$3" python3 -c "$0" "$1" "$2" </dev/null >/dev/null 2>&1 &
            echo $!
            """
        guard let result = try await runSubprocess("/bin/bash", ["-c", script, listener, address, port, namespace],
                                                   environment: ["PATH": "/usr/sbin:/usr/bin:/sbin:/bin"], timeout: .seconds(10)),
              result.status == 0, let pid = Int32(result.stdout.trimmingCharacters(in: .whitespacesAndNewlines)) else {
            throw DataverketError(.unavailable, "cannot start a probe listener on \(address):\(port) in \(namespace)")
        }
        return pid
    }
}

// MARK: - Rollout

/// What a rollout did on one device.
public struct RolloutStep: Codable, Sendable, Hashable {
    public var device: String
    public var driver: String
    /// `unchanged`, `committed`, `confirmed`, `rolled-back`, `failed`, `skipped`.
    public var state: String
    public var diff: [String]
    public var error: String?
}

/// What a device ran before a rollout committed to it, stored with the changeset before the commit: if the process
/// applying it dies, its confirm timers die with it, and the task's compensation restores these instead.
public struct DeviceCheckpoint: Codable, Sendable, Hashable {
    public var device: String
    public var driver: String
    public var config: String

    public init(device: String, driver: String, config: String) {
        self.device = device
        self.driver = driver
        self.config = config
    }
}

public struct RolloutReport: Codable, Sendable, Hashable {
    public var steps: [RolloutStep]
    public var probes: [ProbeResult]
    /// Why the rollout failed (a device refused, a probe failed), when it did.
    public var failure: String?
    public var seconds: Double
    public var ok: Bool { failure == nil }
}

/// Applies an intent device by device with confirmed commits, runs the intent's probes, and confirms every commit
/// only when all probes pass; otherwise rolls back every device it touched (issue 7 §5).
public struct Rollout: Sendable {
    public let devices: NetworkDevices
    public let logger: Logger

    public init(devices: NetworkDevices, logger: Logger) {
        self.devices = devices
        self.logger = logger
    }

    /// Per device: the lines the intent would remove and add, against what runs now.
    public func plan(_ intent: NetworkIntent, only: Set<String>? = nil) async -> [RolloutStep] {
        var steps: [RolloutStep] = []
        for target in devices.targets(for: intent, only: only) {
            do {
                let candidate = try devices.renderer(for: target).render(intent, device: target.name)
                let diff = try await devices.driver(for: target).compare(candidate)
                steps.append(RolloutStep(device: target.name, driver: target.driver, state: diff.isEmpty ? "unchanged" : "pending", diff: diff))
            } catch {
                steps.append(RolloutStep(device: target.name, driver: target.driver, state: "failed", diff: [], error: "\(error)"))
            }
        }
        return steps
    }

    public func apply(_ intent: NetworkIntent, only: Set<String>? = nil, confirmWithin: Duration = .seconds(120),
                      probe: Bool = true, checkpoint: @Sendable (DeviceCheckpoint) async throws -> Void = { _ in },
                      progress: @Sendable (String) async throws -> Void = { _ in }) async throws -> RolloutReport {
        let started = ContinuousClock.now
        var steps: [RolloutStep] = []
        var touched: [(index: Int, driver: any NetworkDriver)] = []
        var failure: String?
        for target in devices.targets(for: intent, only: only) {
            var step = RolloutStep(device: target.name, driver: target.driver, state: "pending", diff: [])
            do {
                let candidate = try devices.renderer(for: target).render(intent, device: target.name)
                let driver = try await devices.driver(for: target)
                try await driver.stage(candidate, mode: .replace)
                step.diff = try await driver.diff()
                if step.diff.isEmpty {
                    try await driver.discard()
                    step.state = "unchanged"
                } else {
                    try await checkpoint(DeviceCheckpoint(device: target.name, driver: target.driver, config: try await driver.runningConfig()))
                    try await driver.commit(confirmWithin: confirmWithin)
                    step.state = "committed"
                    touched.append((steps.count, driver))
                }
                steps.append(step)
                logger.info("rollout step", metadata: ["device": "\(target.name)", "driver": "\(target.driver)", "state": "\(step.state)",
                                                       "lines": "\(step.diff.count)", "elapsed": "\(ContinuousClock.now - started)"])
                try await progress("\(target.name) (\(target.driver)): \(step.state)\(step.diff.isEmpty ? "" : ", \(step.diff.count) lines")")
            } catch {
                step.state = "failed"
                step.error = "\(error)"
                steps.append(step)
                failure = "\(target.name) (\(target.driver)) refused the change: \(error)"
                break
            }
        }
        var results: [ProbeResult] = []
        if failure == nil, probe {
            let endpoints = devices.catalog.endpoints ?? []
            results = try await ProbeRunner(endpoints: endpoints).run(ProbePlanner.plan(intent, endpoints: endpoints))
            let failed = results.filter { !$0.ok }
            logger.info("probes done", metadata: ["probes": "\(results.count)", "failed": "\(failed.count)", "elapsed": "\(ContinuousClock.now - started)"])
            if !failed.isEmpty {
                failure = "probe\(failed.count == 1 ? "" : "s") failed: " + failed.prefix(5).map { "\($0.probe)" }.joined(separator: "; ")
                    + (failed.count > 5 ? "; and \(failed.count - 5) more" : "")
            }
            try await progress("probes: \(results.count - failed.count)/\(results.count) as intended")
        }
        if failure == nil {
            // Confirm every commit; one that cannot be confirmed (its timer already rolled it back: the probes took
            // longer than confirmWithin) fails the changeset, and every other device goes back too.
            for (index, driver) in touched {
                do {
                    try await driver.confirm()
                    steps[index].state = "confirmed"
                } catch {
                    failure = "\(steps[index].device) (\(steps[index].driver)) could not be confirmed: \(error) — its commit was rolled back after \(confirmWithin)"
                    steps[index].state = "rolled-back"
                    steps[index].error = "\(error)"
                    touched.removeAll { $0.index == index }
                    break
                }
            }
        }
        if let failure {
            logger.warning("rollout failed; rolling back", metadata: ["failure": "\(failure)", "devices": "\(touched.count)"])
            for (index, driver) in touched.reversed() {
                do {
                    try await driver.rollback()
                    steps[index].state = "rolled-back"
                } catch {
                    steps[index].state = "failed"
                    steps[index].error = "rollback failed: \(error)"
                }
            }
        }
        let elapsed = ContinuousClock.now - started
        return RolloutReport(steps: steps, probes: results, failure: failure,
                             seconds: Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18)
    }
}

extension Rollout {
    /// Loads stored checkpoints back, last committed first (a rollout's rollback, for a process that died before
    /// it could do its own).
    public func restore(_ checkpoints: [DeviceCheckpoint]) async -> [RolloutStep] {
        var steps: [RolloutStep] = []
        for saved in checkpoints.reversed() {
            var step = RolloutStep(device: saved.device, driver: saved.driver, state: "rolled-back", diff: [])
            do {
                guard let target = devices.targets.first(where: { $0.name == saved.device && $0.driver == saved.driver }) else {
                    throw DataverketError.notFound("device", "\(saved.device) (\(saved.driver))")
                }
                let driver = try await devices.driver(for: target)
                step.diff = lineDiff(significantLines(try await driver.runningConfig()), significantLines(saved.config))
                try await driver.restore(saved.config)
            } catch {
                step.state = "failed"
                step.error = "restoring the checkpoint failed: \(error)"
            }
            logger.warning("restored a checkpoint", metadata: ["device": "\(saved.device)", "driver": "\(saved.driver)", "state": "\(step.state)"])
            steps.append(step)
        }
        return steps
    }
}

// MARK: - Drift

/// One difference between what the applied intent renders for a device and what the device runs.
public struct DriftItem: Codable, Sendable, Hashable {
    public var device: String
    public var driver: String
    /// `missing` (rendered, not running), `extra` (running, not rendered), `modified` (an out-of-band edit).
    public var kind: String
    /// What differs: `port Ethernet1`, `interface oob`, `router bgp 65010`, `table inet dataverket`.
    public var object: String
    public var expected: [String]
    public var actual: [String]
}

public enum DriftDetector {
    /// Compares per object: OVS ports, FRR top-level stanzas, the nftables table as a whole.
    public static func compare(device: String, driver: String, rendered: String, running: String) -> [DriftItem] {
        switch driver {
        case "ovs":
            let want = (try? OVSPort.parse(rendered, device: device)) ?? []
            let have = (try? OVSPort.parse(running, device: device)) ?? []
            return objects(device, driver, Dictionary(want.map { ("port \($0.name)", [$0.line]) }, uniquingKeysWith: { a, _ in a }),
                           Dictionary(have.map { ("port \($0.name)", [$0.line]) }, uniquingKeysWith: { a, _ in a }))
        case "frr":
            func group(_ text: String) -> [String: [String]] {
                var groups: [String: [String]] = [:]
                for path in FRRouting.paths(text) {
                    let top = path.components(separatedBy: " › ").first ?? path
                    if top.hasPrefix("frr defaults") { continue }
                    groups[top, default: []].append(path)
                }
                return groups.mapValues { $0.sorted() }
            }
            return objects(device, driver, group(rendered), group(running))
        default:
            let want = Nftables.canonical(rendered), have = Nftables.canonical(running)
            let diff = lineDiff(have, want)
            guard diff.isEmpty else {
                return [DriftItem(device: device, driver: driver, kind: have.isEmpty ? "missing" : "modified",
                                  object: want.first.map { $0.hasSuffix(" {") ? String($0.dropLast(2)) : $0 } ?? "table",
                                  expected: diff.filter { $0.hasPrefix("+ ") }.map { String($0.dropFirst(2)) },
                                  actual: diff.filter { $0.hasPrefix("- ") }.map { String($0.dropFirst(2)) })]
            }
            return []
        }
    }

    static func objects(_ device: String, _ driver: String, _ want: [String: [String]], _ have: [String: [String]]) -> [DriftItem] {
        var items: [DriftItem] = []
        for key in Set(want.keys).union(have.keys).sorted() {
            switch (want[key], have[key]) {
            case (let expected?, nil): items.append(DriftItem(device: device, driver: driver, kind: "missing", object: key, expected: expected, actual: []))
            case (nil, let actual?): items.append(DriftItem(device: device, driver: driver, kind: "extra", object: key, expected: [], actual: actual))
            case (let expected?, let actual?) where expected != actual:
                items.append(DriftItem(device: device, driver: driver, kind: "modified", object: key, expected: expected, actual: actual))
            default: break
            }
        }
        return items
    }

    /// Folds an OVS device's drift into the intent: a port's realized VLAN settings become its profile (an existing
    /// profile that renders the same, else a new `accepted-DEVICE-PORT` one), an extra port is added, a missing one
    /// removed. Drift on other platforms has no place in the intent: remediate it, or change the intent.
    public static func fold(_ items: [DriftItem], into intent: NetworkIntent) throws(DataverketError) -> NetworkIntent {
        var intent = intent
        let byVLAN = Dictionary(intent.networks.map { ($0.vlan, $0.name) }, uniquingKeysWith: { a, _ in a })
        for item in items {
            guard item.driver == "ovs" else {
                throw DataverketError(.conflict, "drift on \(item.device) (\(item.driver)) \(item.object) cannot be folded into the intent; remediate it or change the intent")
            }
            let name = String(item.object.dropFirst("port ".count))
            var ports = intent.ports ?? []
            ports.removeAll { $0.device == item.device && $0.interface == name }
            if item.kind != "missing" {
                guard let line = item.actual.first, let realized = try OVSPort.parse(line, device: item.device).first else { continue }
                var profile: NetworkIntent.PortProfile
                if realized.vlanMode == nil, let tag = realized.tag {
                    guard let network = byVLAN[tag] else {
                        throw DataverketError(.conflict, "\(item.device) port \(name) carries VLAN \(tag), which no network of the intent uses")
                    }
                    profile = .init(name: "accepted-\(item.device)-\(name)", mode: "access", network: network, mtu: realized.mtu ?? 1500)
                } else {
                    var allowed: [String] = []
                    for vid in realized.trunks {
                        guard let network = byVLAN[vid] else {
                            throw DataverketError(.conflict, "\(item.device) port \(name) carries VLAN \(vid), which no network of the intent uses")
                        }
                        allowed.append(network)
                    }
                    profile = .init(name: "accepted-\(item.device)-\(name)", mode: "trunk", network: realized.tag.flatMap { byVLAN[$0] },
                                    allowed: allowed, mtu: realized.mtu ?? 9216)
                }
                let old = (intent.ports ?? []).first { $0.device == item.device && $0.interface == name }
                if let existing = (intent.portProfiles ?? []).first(where: {
                    $0.mode == profile.mode && $0.network == profile.network && Set($0.allowed ?? []) == Set(profile.allowed ?? [])
                        && (realized.mtu == nil || $0.mtu == realized.mtu)
                }) {
                    profile = existing
                } else {
                    if realized.mtu == nil { profile.mtu = old.flatMap { intent.profile(of: $0)?.mtu } ?? profile.mtu }
                    intent.portProfiles = (intent.portProfiles ?? []) + [profile]
                }
                ports.append(.init(device: item.device, interface: name, profile: profile.name, needs: nil, peer: old?.peer))
            }
            intent.ports = ports
        }
        return intent
    }
}
