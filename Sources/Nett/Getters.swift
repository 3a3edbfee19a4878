import Foundation
import DataverketCore
import NettIntent

// NAPALM's normalized getters: the same shapes whatever the platform, so `dvnet device show` and the API read a
// switch and a router alike. A platform without a getter's notion (nftables has no MAC table) returns nothing.

/// An interface as the device sees it.
public struct InterfaceState: Codable, Sendable, Hashable {
    public var name: String
    /// Link up (operational state).
    public var up: Bool
    public var mtu: Int?
    public var mac: String?
    /// Addresses with their length (`10.30.0.1/24`).
    public var addresses: [String]
    /// The VRF it routes in (routers; nil: the default table).
    public var vrf: String?

    public init(name: String, up: Bool, mtu: Int? = nil, mac: String? = nil, addresses: [String] = [], vrf: String? = nil) {
        self.name = name
        self.up = up
        self.mtu = mtu
        self.mac = mac
        self.addresses = addresses
        self.vrf = vrf
    }
}

/// A VLAN and the ports carrying it, untagged (access, native) or tagged (trunks).
public struct VLANMembership: Codable, Sendable, Hashable {
    public var vlan: Int
    public var untagged: [String]
    public var tagged: [String]
}

/// A learned MAC address.
public struct MACEntry: Codable, Sendable, Hashable {
    public var mac: String
    public var vlan: Int
    public var interface: String
}

/// A BGP session.
public struct BGPNeighbor: Codable, Sendable, Hashable {
    public var address: String
    public var remoteAS: Int?
    /// `Established`, `Active`, `Connect`, …
    public var state: String
    public var vrf: String
    public var prefixesReceived: Int?
}

/// A route of the routing table.
public struct RouteEntry: Codable, Sendable, Hashable {
    public var prefix: String
    /// `connected`, `static`, `bgp`, `kernel`, …
    public var protocolName: String
    public var nextHops: [String]
    public var vrf: String
    /// Whether it is the route in use for its prefix.
    public var selected: Bool
}

/// Everything one driver reads from a device: its facts and the getters it offers.
public struct DeviceState: Codable, Sendable, Hashable {
    public var device: String
    public var driver: String
    public var facts: [String: String]
    public var interfaces: [InterfaceState]
    public var vlans: [VLANMembership]
    public var macTable: [MACEntry]
    public var bgpNeighbors: [BGPNeighbor]
    public var routes: [RouteEntry]
    /// A getter that failed, with why (the others are still reported).
    public var errors: [String]
}

extension ConfigBackend {
    public func interfaces() async throws -> [InterfaceState] { [] }
    public func vlans() async throws -> [VLANMembership] { [] }
    public func macTable() async throws -> [MACEntry] { [] }
    public func bgpNeighbors() async throws -> [BGPNeighbor] { [] }
    public func routes() async throws -> [RouteEntry] { [] }
}

extension NetworkDevices {
    /// Facts and every getter of each driver of `device`; a getter that fails is named in `errors`.
    public func state(of device: String) async throws -> [DeviceState] {
        let targets = catalog.devices.filter { $0.name == device }
        guard !targets.isEmpty else { throw DataverketError.notFound("device", device) }
        var states: [DeviceState] = []
        for target in targets {
            let driver = try driver(for: target)
            var errors: [String] = []
            var facts: [String: String] = [:]
            do { facts = try await driver.facts() } catch { errors.append("facts: \(error)") }
            var interfaces: [InterfaceState] = [], vlans: [VLANMembership] = [], macs: [MACEntry] = []
            var neighbors: [BGPNeighbor] = [], routes: [RouteEntry] = []
            do { interfaces = try await driver.interfaces() } catch { errors.append("interfaces: \(error)") }
            do { vlans = try await driver.vlans() } catch { errors.append("vlans: \(error)") }
            do { macs = try await driver.macTable() } catch { errors.append("macTable: \(error)") }
            do { neighbors = try await driver.bgpNeighbors() } catch { errors.append("bgpNeighbors: \(error)") }
            do { routes = try await driver.routes() } catch { errors.append("routes: \(error)") }
            states.append(DeviceState(device: device, driver: target.driver, facts: facts, interfaces: interfaces, vlans: vlans,
                                      macTable: macs, bgpNeighbors: neighbors, routes: routes, errors: errors))
        }
        return states
    }
}

// MARK: - Open vSwitch

extension OpenVSwitch {
    /// The bridge's ports' interfaces (a bond's members) from OVSDB's Interface table.
    public func interfaces() async throws -> [InterfaceState] {
        let names = Set(try await ports().flatMap(\.interfaces))
        return try await table("interface", ["name", "link_state", "mtu", "mac_in_use"]).compactMap { row -> InterfaceState? in
            guard let name = row[0] as? String, names.contains(name) else { return nil }
            return InterfaceState(name: name, up: Self.strings(row[1]).first == "up", mtu: Self.integers(row[2]).first,
                                  mac: Self.strings(row[3]).first)
        }.sorted { NetworkIntent.interfaceOrder($0.name, $1.name) }
    }

    /// Per VLAN the ports carrying it: untagged (`tag`, access or native) and tagged (`trunks`).
    public func vlans() async throws -> [VLANMembership] {
        var untagged: [Int: [String]] = [:], tagged: [Int: [String]] = [:]
        for port in try await ports() {
            if let tag = port.tag, port.vlanMode != "native-tagged" { untagged[tag, default: []].append(port.name) }
            for vid in port.trunks where vid != port.tag || port.vlanMode == "native-tagged" { tagged[vid, default: []].append(port.name) }
        }
        return Set(untagged.keys).union(tagged.keys).sorted().map {
            VLANMembership(vlan: $0, untagged: untagged[$0] ?? [], tagged: tagged[$0] ?? [])
        }
    }

    /// Learned MACs by VLAN, each on its port (a bond, not the member it arrived on).
    public func macTable() async throws -> [MACEntry] {
        var portOf: [String: String] = [:]
        for port in try await ports() { for interface in port.interfaces { portOf[interface] = port.name } }
        return try await learnedMACs().map { MACEntry(mac: $0.mac, vlan: $0.vlan, interface: portOf[$0.port] ?? $0.port) }
            .sorted { ($0.vlan, $0.mac) < ($1.vlan, $1.mac) }
    }
}

// MARK: - FRR

extension FRRouting {
    /// `show interface vrf all json`: link state, MTU, MAC, addresses, VRF (one flat object keyed by interface name,
    /// each naming its VRF; loopbacks left out).
    public func interfaces() async throws -> [InterfaceState] {
        var found: [InterfaceState] = []
        for object in try Self.objects(try await vtysh(["show interface vrf all json"]), device: device) {
            for (name, value) in object {
                guard let interface = value as? [String: Any], interface["type"] as? String != "Loopback", name != "lo" else { continue }
                let addresses = (interface["ipAddresses"] as? [[String: Any]] ?? []).compactMap { $0["address"] as? String }
                    .filter { !$0.hasPrefix("fe80:") }
                let vrf = interface["vrfName"] as? String
                guard reports(vrf) else { continue }
                found.append(InterfaceState(name: name, up: interface["operationalStatus"] as? String == "up", mtu: interface["mtu"] as? Int,
                                            mac: interface["hardwareAddress"] as? String, addresses: addresses.sorted(),
                                            vrf: vrf == "default" ? nil : vrf))
            }
        }
        return found.sorted { ($0.vrf ?? "", $0.name) < ($1.vrf ?? "", $1.name) }
    }

    /// `show bgp vrf all summary json`: every session of every VRF and address family.
    public func bgpNeighbors() async throws -> [BGPNeighbor] {
        var neighbors: [String: BGPNeighbor] = [:]
        for object in try Self.objects(try await vtysh(["show bgp vrf all summary json"]), device: device) {
            for (vrf, families) in object where reports(vrf) {
                for (_, family) in families as? [String: Any] ?? [:] {
                    guard let peers = (family as? [String: Any])?["peers"] as? [String: Any] else { continue }
                    for (address, peer) in peers {
                        let peer = peer as? [String: Any] ?? [:]
                        neighbors["\(vrf)|\(address)"] = BGPNeighbor(address: address, remoteAS: peer["remoteAs"] as? Int,
                                                                     state: peer["state"] as? String ?? "unknown", vrf: vrf,
                                                                     prefixesReceived: peer["pfxRcd"] as? Int)
                    }
                }
            }
        }
        return neighbors.values.sorted { ($0.vrf, $0.address) < ($1.vrf, $1.address) }
    }

    /// `show ip route vrf all json` and its IPv6 twin (one object per VRF, printed one after another): every route
    /// with protocol, next hops and whether it is used; IPv6 link-local routes left out.
    public func routes() async throws -> [RouteEntry] {
        var routes: [RouteEntry] = []
        for family in ["ip", "ipv6"] {
            for table in try Self.objects(try await vtysh(["show \(family) route vrf all json"]), device: device) {
                for (prefix, entries) in table where !prefix.hasPrefix("fe80:") {
                    for entry in entries as? [[String: Any]] ?? [] where reports(entry["vrfName"] as? String) {
                        let hops = (entry["nexthops"] as? [[String: Any]] ?? []).compactMap { hop -> String? in
                            if let ip = hop["ip"] as? String { return ip }
                            return (hop["interfaceName"] as? String).map { "dev \($0)" }
                        }
                        routes.append(RouteEntry(prefix: prefix, protocolName: entry["protocol"] as? String ?? "unknown", nextHops: hops,
                                                 vrf: entry["vrfName"] as? String ?? "default", selected: entry["selected"] as? Bool ?? false))
                    }
                }
            }
        }
        return routes.sorted { ($0.vrf, $0.prefix, $0.protocolName) < ($1.vrf, $1.prefix, $1.protocolName) }
    }

    /// vtysh's JSON: one object, or (with `vrf all`) several printed one after another.
    public static func objects(_ text: String, device: String) throws -> [[String: Any]] {
        var objects: [[String: Any]] = []
        for chunk in Self.topLevelObjects(text) {
            guard let object = try? JSONSerialization.jsonObject(with: Data(chunk.utf8)) as? [String: Any] else {
                throw DataverketError(.unavailable, "vtysh on \(device) printed something that is not JSON")
            }
            objects.append(object)
        }
        return objects
    }

    /// Splits concatenated JSON objects (`{…}{…}`), minding strings.
    public static func topLevelObjects(_ text: String) -> [Substring] {
        var chunks: [Substring] = []
        var depth = 0, inString = false, escaped = false
        var start = text.startIndex
        for index in text.indices {
            let character = text[index]
            if inString {
                if escaped { escaped = false } else if character == "\\" { escaped = true } else if character == "\"" { inString = false }
                continue
            }
            switch character {
            case "\"": inString = true
            case "{":
                if depth == 0 { start = index }
                depth += 1
            case "}":
                depth -= 1
                if depth == 0 { chunks.append(text[start...index]) }
            default: break
            }
        }
        return chunks
    }
}
