#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

// The declared inventory model: plain values, the same whether they come from a site file, the store or the API.
//
// Names are case-insensitive DNS labels; the canonical (stored, exported) form is lowercase, so `OSL1-R01` in a
// file or on the command line is the rack `osl1-r01`. Datacenters, networks, racks and devices have names unique
// per kind across the whole inventory; failure domains and rooms are unique within their datacenter; interfaces
// within their device. References between objects are by name.

/// Whether a datacenter hosts a region's primary or its secondary (disaster-recovery) site.
public enum RegionRole: String, Codable, Sendable, CaseIterable { case primary, secondary }

public enum DeviceKind: String, Codable, Sendable, CaseIterable { case server, `switch`, router, firewall, pdu, ups }

public enum DeviceRole: String, Codable, Sendable, CaseIterable {
    case compute, gpu, storage, infra
    case controlPlane = "control-plane"
}

public enum DiskType: String, Codable, Sendable, CaseIterable { case nvme, ssd, hdd }

public enum InterfaceKind: String, Codable, Sendable, CaseIterable { case ethernet, bmc, console, lag }

public enum BMCProtocol: String, Codable, Sendable, CaseIterable { case redfish, ipmi }

public enum NetworkRole: String, Codable, Sendable, CaseIterable { case oob, provisioning, data, storage, transit }

public enum CableType: String, Codable, Sendable, CaseIterable {
    case copper, dac, aoc
    case fiberSM = "fiber-sm"
    case fiberMM = "fiber-mm"
}

/// The kinds of inventory objects, in dependency order (a kind only refers to kinds before it).
public enum ObjectKind: String, Codable, Sendable, CaseIterable, Comparable {
    case datacenter
    case failureDomain = "failure-domain"
    case room, network, rack, device, interface, link

    var order: Int { Self.allCases.firstIndex(of: self)! }
    public static func < (lhs: ObjectKind, rhs: ObjectKind) -> Bool { lhs.order < rhs.order }

    /// Accepts the kind names operators type (`failure-domain`, `failuredomain`, `fd`, plurals).
    public init?(userInput: String) {
        var text = userInput.lowercased()
        if text.hasSuffix("s"), ObjectKind(rawValue: String(text.dropLast())) != nil { text.removeLast() }
        switch text {
        case "failuredomain", "fd", "failure-domains", "failuredomains": self = .failureDomain
        case "dc", "site": self = .datacenter
        case "cable", "cables": self = .link
        case "interfaces", "nic": self = .interface
        default:
            guard let kind = ObjectKind(rawValue: text) else { return nil }
            self = kind
        }
    }
}

/// An object's identity: its kind and key (`osl1`, `osl1/fd-a`, `osl1-r01-srv01:eno1`,
/// `osl1-leaf1:swp1<>osl1-r01-srv01:eno1`).
public struct ObjectRef: Hashable, Sendable, Codable, Comparable, CustomStringConvertible {
    public var kind: ObjectKind
    public var key: String

    public init(_ kind: ObjectKind, _ key: String) {
        self.kind = kind
        self.key = key
    }

    public var description: String { "\(kind.rawValue) \(key)" }
    public static func < (lhs: ObjectRef, rhs: ObjectRef) -> Bool {
        lhs.kind != rhs.kind ? lhs.kind < rhs.kind : lhs.key < rhs.key
    }
}

public struct Datacenter: Codable, Sendable, Hashable {
    /// The site code, e.g. `osl1`.
    public var name: String
    public var displayName: String?
    /// ISO 3166-1 alpha-2, uppercase (`NO`).
    public var country: String
    /// The legal jurisdiction the data is under (`NO`, `EU`, …).
    public var jurisdiction: String
    public var regionRole: RegionRole

    public init(name: String, displayName: String? = nil, country: String, jurisdiction: String, regionRole: RegionRole) {
        self.name = name
        self.displayName = displayName
        self.country = country
        self.jurisdiction = jurisdiction
        self.regionRole = regionRole
    }
}

public struct FailureDomain: Codable, Sendable, Hashable {
    public var datacenter: String
    public var name: String
    public var description: String?

    public init(datacenter: String, name: String, description: String? = nil) {
        self.datacenter = datacenter
        self.name = name
        self.description = description
    }
}

public struct Room: Codable, Sendable, Hashable {
    public var datacenter: String
    public var name: String
    public var description: String?

    public init(datacenter: String, name: String, description: String? = nil) {
        self.datacenter = datacenter
        self.name = name
        self.description = description
    }
}

/// A network by name and role only (addressing and VLAN plans arrive with Nett); interfaces name the
/// network they attach to.
public struct Network: Codable, Sendable, Hashable {
    public var name: String
    public var datacenter: String
    public var role: NetworkRole
    public var vlan: Int?
    public var description: String?

    public init(name: String, datacenter: String, role: NetworkRole, vlan: Int? = nil, description: String? = nil) {
        self.name = name
        self.datacenter = datacenter
        self.role = role
        self.vlan = vlan
        self.description = description
    }
}

public struct Rack: Codable, Sendable, Hashable {
    public var name: String
    public var datacenter: String
    public var room: String
    public var failureDomain: String
    /// Height in rack units (U1 is the lowest).
    public var units: Int
    /// The PDUs (devices of kind `pdu`) feeding power feeds A and B.
    public var feedA: String?
    public var feedB: String?

    public init(name: String, datacenter: String, room: String, failureDomain: String, units: Int, feedA: String? = nil, feedB: String? = nil) {
        self.name = name
        self.datacenter = datacenter
        self.room = room
        self.failureDomain = failureDomain
        self.units = units
        self.feedA = feedA
        self.feedB = feedB
    }
}

public struct CPU: Codable, Sendable, Hashable {
    public var model: String
    public var sockets: Int
    /// Physical cores in total (all sockets).
    public var cores: Int

    public init(model: String, sockets: Int, cores: Int) {
        self.model = model
        self.sockets = sockets
        self.cores = cores
    }
}

public struct Disk: Codable, Sendable, Hashable {
    public var name: String
    public var type: DiskType
    public var sizeGB: Int

    public init(name: String, type: DiskType, sizeGB: Int) {
        self.name = name
        self.type = type
        self.sizeGB = sizeGB
    }
}

public struct GPU: Codable, Sendable, Hashable {
    public var model: String
    public var count: Int

    public init(model: String, count: Int) {
        self.model = model
        self.count = count
    }
}

public struct HardwareFacts: Codable, Sendable, Hashable {
    public var cpu: CPU?
    public var memoryGiB: Int?
    public var disks: [Disk]
    public var gpus: [GPU]

    public init(cpu: CPU? = nil, memoryGiB: Int? = nil, disks: [Disk] = [], gpus: [GPU] = []) {
        self.cpu = cpu
        self.memoryGiB = memoryGiB
        self.disks = disks
        self.gpus = gpus
    }

    public var isEmpty: Bool { cpu == nil && memoryGiB == nil && disks.isEmpty && gpus.isEmpty }
    public var cpuCores: Int { cpu?.cores ?? 0 }
    public var gpuCount: Int { gpus.reduce(0) { $0 + $1.count } }
    public var storageGB: Int { disks.reduce(0) { $0 + $1.sizeGB } }
}

/// A baseboard management controller endpoint. `credentialsRef` names where the credentials live
/// (`vault://…`, `secret:…`); it is never the secret itself.
public struct BMC: Codable, Sendable, Hashable {
    public var `protocol`: BMCProtocol
    public var address: String
    public var credentialsRef: String?

    public init(protocol: BMCProtocol, address: String, credentialsRef: String? = nil) {
        self.protocol = `protocol`
        self.address = address
        self.credentialsRef = credentialsRef
    }
}

public struct Device: Codable, Sendable, Hashable {
    public var name: String
    public var kind: DeviceKind
    public var role: DeviceRole?
    public var vendor: String?
    public var model: String?
    public var serial: String?
    public var assetTag: String?
    /// Always set once resolved: from the rack when the device is racked, else declared.
    public var datacenter: String
    public var failureDomain: String
    public var rack: String?
    /// Lowest rack unit occupied; nil for zero-U equipment (vertical PDUs) or unracked devices.
    public var position: Int?
    public var height: Int
    public var pool: String?
    /// Sorted, unique.
    public var tags: [String]
    /// The PDUs/UPSes feeding this device.
    public var powerFeeds: [String]
    public var hardware: HardwareFacts
    public var bmc: BMC?

    public init(name: String, kind: DeviceKind, role: DeviceRole? = nil, vendor: String? = nil, model: String? = nil,
                serial: String? = nil, assetTag: String? = nil, datacenter: String, failureDomain: String,
                rack: String? = nil, position: Int? = nil, height: Int = 1, pool: String? = nil, tags: [String] = [],
                powerFeeds: [String] = [], hardware: HardwareFacts = HardwareFacts(), bmc: BMC? = nil) {
        self.name = name
        self.kind = kind
        self.role = role
        self.vendor = vendor
        self.model = model
        self.serial = serial
        self.assetTag = assetTag
        self.datacenter = datacenter
        self.failureDomain = failureDomain
        self.rack = rack
        self.position = position
        self.height = height
        self.pool = pool
        self.tags = Array(Set(tags)).sorted()
        self.powerFeeds = powerFeeds
        self.hardware = hardware
        self.bmc = bmc
    }
}

public struct Interface: Codable, Sendable, Hashable {
    public var device: String
    public var name: String
    /// Lowercase, colon-separated.
    public var mac: String?
    public var speedMbps: Int?
    public var kind: InterfaceKind
    public var network: String?

    public init(device: String, name: String, mac: String? = nil, speedMbps: Int? = nil, kind: InterfaceKind = .ethernet, network: String? = nil) {
        self.device = device
        self.name = name
        self.mac = mac
        self.speedMbps = speedMbps
        self.kind = kind
        self.network = network
    }

    public var endpoint: Endpoint { Endpoint(device: device, interface: name) }
}

/// One end of a link: `device:interface`.
public struct Endpoint: Codable, Sendable, Hashable, Comparable, CustomStringConvertible {
    public var device: String
    public var interface: String

    public init(device: String, interface: String) {
        self.device = device
        self.interface = interface
    }

    /// Parses `device:interface` (the device name case-insensitively).
    public init?(parsing text: String) {
        let parts = text.split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false)
        guard parts.count == 2, !parts[0].isEmpty, !parts[1].isEmpty else { return nil }
        self.device = parts[0].lowercased()
        self.interface = String(parts[1])
    }

    public var description: String { "\(device):\(interface)" }
    public static func < (lhs: Endpoint, rhs: Endpoint) -> Bool { lhs.description < rhs.description }
}

/// A cable between two interfaces. Its identity is the unordered pair of ends: the lower end (by
/// `device:interface`) is `a`.
public struct Link: Codable, Sendable, Hashable {
    public var a: Endpoint
    public var b: Endpoint
    public var cable: CableType?
    public var label: String?

    public init(a: Endpoint, b: Endpoint, cable: CableType? = nil, label: String? = nil) {
        if b < a {
            self.a = b
            self.b = a
        } else {
            self.a = a
            self.b = b
        }
        self.cable = cable
        self.label = label
    }

    public var key: String { "\(a)<>\(b)" }
    public var ends: [Endpoint] { [a, b] }
}

/// Any inventory object.
public enum InventoryObject: Codable, Sendable, Hashable {
    case datacenter(Datacenter)
    case failureDomain(FailureDomain)
    case room(Room)
    case network(Network)
    case rack(Rack)
    case device(Device)
    case interface(Interface)
    case link(Link)

    public var kind: ObjectKind {
        switch self {
        case .datacenter: .datacenter
        case .failureDomain: .failureDomain
        case .room: .room
        case .network: .network
        case .rack: .rack
        case .device: .device
        case .interface: .interface
        case .link: .link
        }
    }

    public var key: String {
        switch self {
        case .datacenter(let x): x.name
        case .failureDomain(let x): "\(x.datacenter)/\(x.name)"
        case .room(let x): "\(x.datacenter)/\(x.name)"
        case .network(let x): x.name
        case .rack(let x): x.name
        case .device(let x): x.name
        case .interface(let x): x.endpoint.description
        case .link(let x): x.key
        }
    }

    public var ref: ObjectRef { ObjectRef(kind, key) }

    /// Every attribute as canonical text (absent when unset): what the plan compares and prints.
    public var fields: [String: String] {
        var out: [String: String] = [:]
        func put(_ name: String, _ value: String?) { if let value { out[name] = value } }
        switch self {
        case .datacenter(let x):
            put("displayName", x.displayName)
            put("country", x.country)
            put("jurisdiction", x.jurisdiction)
            put("regionRole", x.regionRole.rawValue)
        case .failureDomain(let x):
            put("description", x.description)
        case .room(let x):
            put("description", x.description)
        case .network(let x):
            put("datacenter", x.datacenter)
            put("role", x.role.rawValue)
            put("vlan", x.vlan.map(String.init))
            put("description", x.description)
        case .rack(let x):
            put("datacenter", x.datacenter)
            put("room", x.room)
            put("failureDomain", x.failureDomain)
            put("units", String(x.units))
            put("power.a", x.feedA)
            put("power.b", x.feedB)
        case .device(let x):
            put("kind", x.kind.rawValue)
            put("role", x.role?.rawValue)
            put("vendor", x.vendor)
            put("model", x.model)
            put("serial", x.serial)
            put("assetTag", x.assetTag)
            put("datacenter", x.datacenter)
            put("failureDomain", x.failureDomain)
            put("rack", x.rack)
            put("position", x.position.map(String.init))
            put("height", String(x.height))
            put("pool", x.pool)
            if !x.tags.isEmpty { put("tags", x.tags.joined(separator: ", ")) }
            if !x.powerFeeds.isEmpty { put("powerFeeds", x.powerFeeds.joined(separator: ", ")) }
            if let cpu = x.hardware.cpu { put("hardware.cpu", "\(cpu.model), \(cpu.sockets) sockets, \(cpu.cores) cores") }
            put("hardware.memoryGiB", x.hardware.memoryGiB.map(String.init))
            if !x.hardware.disks.isEmpty {
                put("hardware.disks", x.hardware.disks.map { "\($0.name) \($0.type.rawValue) \($0.sizeGB)GB" }.joined(separator: ", "))
            }
            if !x.hardware.gpus.isEmpty {
                put("hardware.gpus", x.hardware.gpus.map { "\($0.count)× \($0.model)" }.joined(separator: ", "))
            }
            put("bmc.protocol", x.bmc?.protocol.rawValue)
            put("bmc.address", x.bmc?.address)
            put("bmc.credentialsRef", x.bmc?.credentialsRef)
        case .interface(let x):
            put("kind", x.kind.rawValue)
            put("mac", x.mac)
            put("speed", x.speedMbps.map(Speed.render))
            put("network", x.network)
        case .link(let x):
            put("cable", x.cable?.rawValue)
            put("label", x.label)
        }
        return out
    }

    /// The datacenter the object belongs to (a link: its `a` end's device's, resolved by the caller).
    var datacenter: String? {
        switch self {
        case .datacenter(let x): x.name
        case .failureDomain(let x): x.datacenter
        case .room(let x): x.datacenter
        case .network(let x): x.datacenter
        case .rack(let x): x.datacenter
        case .device(let x): x.datacenter
        case .interface, .link: nil
        }
    }
}

/// A whole declared (or stored) inventory, flat.
public struct SiteModel: Codable, Sendable, Hashable {
    public var datacenters: [Datacenter] = []
    public var failureDomains: [FailureDomain] = []
    public var rooms: [Room] = []
    public var networks: [Network] = []
    public var racks: [Rack] = []
    public var devices: [Device] = []
    public var interfaces: [Interface] = []
    public var links: [Link] = []

    public init() {}

    public var objects: [InventoryObject] {
        datacenters.map(InventoryObject.datacenter) + failureDomains.map(InventoryObject.failureDomain)
            + rooms.map(InventoryObject.room) + networks.map(InventoryObject.network) + racks.map(InventoryObject.rack)
            + devices.map(InventoryObject.device) + interfaces.map(InventoryObject.interface) + links.map(InventoryObject.link)
    }

    public init(objects: [InventoryObject]) {
        for object in objects { add(object) }
    }

    public mutating func add(_ object: InventoryObject) {
        switch object {
        case .datacenter(let x): datacenters.append(x)
        case .failureDomain(let x): failureDomains.append(x)
        case .room(let x): rooms.append(x)
        case .network(let x): networks.append(x)
        case .rack(let x): racks.append(x)
        case .device(let x): devices.append(x)
        case .interface(let x): interfaces.append(x)
        case .link(let x): links.append(x)
        }
    }

    /// The same objects in canonical order (by kind, then key): equal models compare equal.
    public func sorted() -> SiteModel {
        var out = self
        out.datacenters.sort { $0.name < $1.name }
        out.failureDomains.sort { ($0.datacenter, $0.name) < ($1.datacenter, $1.name) }
        out.rooms.sort { ($0.datacenter, $0.name) < ($1.datacenter, $1.name) }
        out.networks.sort { $0.name < $1.name }
        out.racks.sort { $0.name < $1.name }
        out.devices.sort { $0.name < $1.name }
        out.interfaces.sort { ($0.device, $0.name) < ($1.device, $1.name) }
        out.links.sort { $0.key < $1.key }
        return out
    }
}

/// Interface speeds: `25G`, `100M`, or a number of Mbit/s.
public enum Speed {
    public static func parse(_ text: String) -> Int? {
        let t = text.trimmingCharacters(in: .whitespaces).uppercased()
        if let n = Int(t), n > 0 { return n }
        for (suffix, factor) in [("GBE", 1000), ("G", 1000), ("M", 1)] where t.hasSuffix(suffix) {
            // A speed that overflows is no speed (9223372036854776G would trap).
            if let n = Int(t.dropLast(suffix.count)), n > 0, case (let mbps, false) = n.multipliedReportingOverflow(by: factor) { return mbps }
        }
        return nil
    }

    public static func render(_ mbps: Int) -> String {
        mbps % 1000 == 0 ? "\(mbps / 1000)G" : "\(mbps)M"
    }
}

/// MAC addresses: six octets separated by `:` or `-` (any case); canonical form lowercase with `:`.
public enum MACAddress {
    public static func normalize(_ text: String) -> String? {
        let parts = text.split(whereSeparator: { $0 == ":" || $0 == "-" }).map(String.init)
        guard parts.count == 6, parts.allSatisfy({ $0.count == 2 && $0.allSatisfy(\.isHexDigit) }) else { return nil }
        return parts.joined(separator: ":").lowercased()
    }
}
