#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import DataverketCore

/// Turns a verified intent into one device's configuration in its vendor's own format. Renderers are pure: the same
/// intent gives byte-for-byte the same text (golden-file tests hold them to it).
public protocol ConfigRenderer: Sendable {
    /// `sonic`, `eos`, …
    var platform: String { get }
    func render(_ intent: NetworkIntent, device: String) throws(DataverketError) -> String
}

extension NetworkIntent {
    /// The switch ports of `device`, in interface order (Ethernet2 before Ethernet10).
    func ports(of device: String) -> [Port] {
        (ports ?? []).filter { $0.device == device }.sorted { Self.interfaceOrder($0.interface, $1.interface) }
    }

    public static func interfaceOrder(_ a: String, _ b: String) -> Bool {
        let split = { (name: String) -> (String, Int) in
            let digits = name.reversed().prefix { $0.isNumber }
            return (String(name.dropLast(digits.count)), Int(String(digits.reversed())) ?? -1)
        }
        let (left, right) = (split(a), split(b))
        return left.0 == right.0 ? left.1 < right.1 : left.0 < right.0
    }

    /// What a port carries: its untagged network (access, or trunk native) and its tagged ones, by VLAN.
    /// `byName`: `networkIndex`, made once per rendering (a 500-network fabric has thousands of ports).
    func carried(by port: Port, _ byName: [String: Network]? = nil) -> (untagged: Network?, tagged: [Network]) {
        guard let profile = (portProfiles ?? []).first(where: { $0.name == port.profile }) else { return (nil, []) }
        let byName = byName ?? networkIndex
        let untagged = profile.network.flatMap { byName[$0] }
        let tagged = profile.mode == "trunk"
            ? (profile.allowed ?? []).compactMap { byName[$0] }.filter { $0.name != untagged?.name }.sorted { $0.vlan < $1.vlan } : []
        return (untagged, tagged)
    }

    var networkIndex: [String: Network] { Dictionary(networks.map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first }) }

    public func profile(of port: Port) -> PortProfile? { (portProfiles ?? []).first { $0.name == port.profile } }

    /// The networks a device's ports carry, by VLAN.
    func networks(on device: String) -> [Network] {
        var seen: [String: Network] = [:]
        let index = networkIndex
        for port in ports(of: device) {
            let (untagged, tagged) = carried(by: port, index)
            for network in tagged + (untagged.map { [$0] } ?? []) { seen[network.name] = network }
        }
        return seen.values.sorted { $0.vlan < $1.vlan }
    }

    func requireDevice(_ device: String) throws(DataverketError) {
        guard (ports ?? []).contains(where: { $0.device == device }) || (routers ?? []).contains(where: { $0.name == device }) else {
            throw DataverketError.notFound("device", device)
        }
    }
}

/// SONiC's `config_db.json` (the Redis CONFIG_DB tables as JSON): PORT, VLAN, VLAN_MEMBER, PORTCHANNEL and its
/// members for LACP profiles, VRF, VLAN_INTERFACE for the router's gateways.
public struct SONiCRenderer: ConfigRenderer {
    public var platform: String { "sonic" }
    public init() {}

    /// SONiC's VRF name for `vrf`: it must start with `Vrf` and, being a Linux device, fit 15 characters —
    /// `Vrf_<name>` when it fits, else `Vrf` + the first 8 characters + 4 hex digits of an FNV-1a hash of the name.
    public static func vrfName(_ vrf: String) -> String {
        let plain = "Vrf_" + vrf
        if plain.utf8.count <= 15 { return plain }
        var hash: UInt32 = 2_166_136_261
        for byte in vrf.utf8 { hash = (hash ^ UInt32(byte)) &* 16_777_619 }
        let suffix = String(hash & 0xffff, radix: 16)
        return "Vrf" + String(vrf.prefix(8)) + String(repeating: "0", count: 4 - suffix.count) + suffix
    }

    public func render(_ intent: NetworkIntent, device: String) throws(DataverketError) -> String {
        try intent.requireDevice(device)
        var tables: [String: [String: [String: String]]] = [:]
        func put(_ table: String, _ key: String, _ fields: [String: String]) { tables[table, default: [:]][key] = fields }
        var channel = 0
        let index = intent.networkIndex
        for port in intent.ports(of: device) {
            guard let profile = intent.profile(of: port) else { continue }
            for name in port.physical { put("PORT", name, ["admin_status": "up", "mtu": String(profile.mtu)]) }
            var member = port.interface
            if profile.lacp == true || port.members != nil {
                channel += 1
                member = "PortChannel\(channel)"
                put("PORTCHANNEL", member, ["admin_status": "up", "mtu": String(profile.mtu), "min_links": "1"])
                for name in port.physical { put("PORTCHANNEL_MEMBER", "\(member)|\(name)", [:]) }
            }
            let (untagged, tagged) = intent.carried(by: port, index)
            if let untagged { put("VLAN_MEMBER", "Vlan\(untagged.vlan)|\(member)", ["tagging_mode": "untagged"]) }
            for network in tagged { put("VLAN_MEMBER", "Vlan\(network.vlan)|\(member)", ["tagging_mode": "tagged"]) }
        }
        for network in intent.networks(on: device) {
            put("VLAN", "Vlan\(network.vlan)", ["vlanid": String(network.vlan), "mtu": String(network.mtu ?? 9100)])
        }
        if let router = (intent.routers ?? []).first(where: { $0.name == device && $0.external != true }) {
            let byName = Dictionary(intent.networks.map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first })
            for interface in router.interfaces ?? [] {
                guard let network = byName[interface.network] else { continue }
                let vlan = "Vlan\(network.vlan)"
                put("VLAN", vlan, ["vlanid": String(network.vlan), "mtu": String(network.mtu ?? 9100)])
                if let vrf = network.vrf {
                    put("VRF", Self.vrfName(vrf), [:])
                    put("VLAN_INTERFACE", vlan, ["vrf_name": Self.vrfName(vrf)])
                } else {
                    put("VLAN_INTERFACE", vlan, [:])
                }
                put("VLAN_INTERFACE", "\(vlan)|\(interface.address)", [:])
            }
            if let asn = router.asn {
                put("DEVICE_METADATA", "localhost", ["bgp_asn": String(asn), "hostname": device, "type": "LeafRouter"])
                for session in router.bgp ?? [] {
                    put("BGP_NEIGHBOR", session.address, ["asn": String(session.asn), "name": session.peer, "admin_status": "up"])
                }
            }
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        do {
            return String(decoding: try encoder.encode(tables), as: UTF8.self) + "\n"
        } catch {
            throw DataverketError(.internal, "config_db.json could not be encoded", cause: error)
        }
    }
}

/// Arista EOS CLI (what `show running-config` prints back): VLANs, VRFs with routing, port-channels for LACP
/// profiles, access and trunk ports with native VLANs and MTU, SVIs for the router's gateways, and BGP.
public struct EOSRenderer: ConfigRenderer {
    public var platform: String { "eos" }
    public init() {}

    public func render(_ intent: NetworkIntent, device: String) throws(DataverketError) -> String {
        try intent.requireDevice(device)
        var lines: [String] = ["! \(device) — rendered by Dataverket Nett from intent \(intent.datacenter)", "!"]
        let router = (intent.routers ?? []).first { $0.name == device && $0.external != true }
        let byName = Dictionary(intent.networks.map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first })
        var vlans: [Int: NetworkIntent.Network] = [:]
        for network in intent.networks(on: device) { vlans[network.vlan] = network }
        for interface in router?.interfaces ?? [] { if let network = byName[interface.network] { vlans[network.vlan] = network } }
        for (vlan, network) in vlans.sorted(by: { $0.key < $1.key }) {
            lines += ["vlan \(vlan)", "   name \(network.name)", "!"]
        }
        let vrfs = Set((router?.interfaces ?? []).compactMap { byName[$0.network]?.vrf }).sorted()
        for vrf in vrfs { lines += ["vrf instance \(vrf)", "!"] }
        var channel = 0
        var channels: [String] = []
        let index = intent.networkIndex
        for port in intent.ports(of: device) {
            guard let profile = intent.profile(of: port) else { continue }
            let (untagged, tagged) = intent.carried(by: port, index)
            var body: [String] = []
            if profile.mode == "access" {
                body += ["   switchport mode access", "   switchport access vlan \(untagged?.vlan ?? 1)"]
            } else {
                body.append("   switchport mode trunk")
                if let untagged { body.append("   switchport trunk native vlan \(untagged.vlan)") }
                let allowed = (tagged + (untagged.map { [$0] } ?? [])).map(\.vlan).sorted()
                body.append("   switchport trunk allowed vlan \(allowed.isEmpty ? "none" : allowed.map(String.init).joined(separator: ","))")
            }
            body.append("   mtu \(profile.mtu)")
            if profile.lacp == true || port.members != nil {
                channel += 1
                channels += ["interface Port-Channel\(channel)"] + body + ["!"]
                for name in port.physical {
                    lines += ["interface \(name)", "   description \(port.peer.map { "to \($0)" } ?? profile.name)",
                              "   channel-group \(channel) mode active", "   mtu \(profile.mtu)", "!"]
                }
            } else {
                lines += ["interface \(port.interface)", "   description \(profile.name)"] + body + ["!"]
            }
        }
        lines += channels
        for interface in router?.interfaces ?? [] {
            guard let network = byName[interface.network] else { continue }
            lines.append("interface Vlan\(network.vlan)")
            if let vrf = network.vrf { lines.append("   vrf \(vrf)") }
            lines += ["   ip address \(interface.address)", "   mtu \(network.mtu ?? 1500)", "!"]
        }
        if router != nil {
            lines.append("ip routing")
            for vrf in vrfs { lines.append("ip routing vrf \(vrf)") }
            lines.append("!")
        }
        if let router, let asn = router.asn {
            lines.append("router bgp \(asn)")
            if let id = router.routerID { lines.append("   router-id \(id)") }
            for session in router.bgp ?? [] {
                lines += ["   neighbor \(session.address) remote-as \(session.asn)", "   neighbor \(session.address) description \(session.peer)"]
            }
            lines.append("!")
        }
        lines.append("end")
        return lines.joined(separator: "\n") + "\n"
    }
}
