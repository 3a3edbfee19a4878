import Foundation
import DataverketCore
import DataverketProcess
import Logging
import NettIntent

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

    /// What the probes of `intent` can read for evidence: the default-drop counters of the firewalls it configures
    /// (each nftables target, in its namespace and its VRF namespaces), and per network the namespace of the router's
    /// leg there (its VRF's namespace where VRFs are namespaces).
    public nonisolated func probeEvidence(for intent: NetworkIntent) -> ProbeEvidence {
        let targets = targets(for: intent)
        let firewalls = targets.filter { $0.driver == "nftables" }.map { target in
            Nftables(device: target.name, namespace: target.namespace, table: target.table ?? "dataverket",
                     vrfNamespaces: (target.vrfs ?? [:]).values.sorted())
        }
        let vrfOf = Dictionary(intent.networks.map { ($0.name, $0.vrf) }, uniquingKeysWith: { first, _ in first })
        var gateways: [String: String] = [:]
        for router in intent.routers ?? [] where router.external != true {
            guard let target = targets.first(where: { $0.name == router.name && $0.driver == "frr" }) else { continue }
            for interface in router.interfaces ?? [] where gateways[interface.network] == nil {
                let vrf = vrfOf[interface.network] ?? nil
                if let namespace = vrf.flatMap({ target.vrfs?[$0] }) ?? target.namespace { gateways[interface.network] = namespace }
            }
        }
        guard !firewalls.isEmpty else { return ProbeEvidence(gateways: gateways) }
        let defaultDrops: @Sendable () async throws -> Int = {
            var total = 0
            for firewall in firewalls { total += try await firewall.defaultDrops() }
            return total
        }
        return ProbeEvidence(defaultDrops: defaultDrops, gateways: gateways)
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
