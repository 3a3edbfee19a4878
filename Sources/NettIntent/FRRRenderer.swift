import Foundation
import DataverketCore

/// FRR on a border router: `frr.conf` with the router's interfaces (one per routed network, named after the network,
/// and its uplinks), IP forwarding, and BGP: its sessions, announcing the `public` and `loadbalancer` networks of the
/// default table. Interfaces sort by name; `frr defaults datacenter` (eBGP needs no policy to exchange routes).
public struct FRRRenderer: ConfigRenderer {
    public var platform: String { "frr" }
    /// The name FRR knows each intent VRF by, where it differs: with the netns VRF backend (`zebra -n`, the lab) a
    /// VRF is the network namespace of that name. VRFs not listed keep their intent name (a VRF device of that name).
    public let vrfNames: [String: String]

    public init(vrfNames: [String: String] = [:]) {
        self.vrfNames = vrfNames
    }

    public static func interfaceName(_ network: String) -> String { String(network.prefix(15)) }

    public func render(_ intent: NetworkIntent, device: String) throws(DataverketError) -> String {
        guard let router = (intent.routers ?? []).first(where: { $0.name == device }) else {
            throw DataverketError.notFound("router", device)
        }
        let networks = Dictionary(intent.networks.map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first })
        // The interface stanza (`interface NAME` or `interface NAME vrf VRF`) and the address.
        var interfaces: [(String, String)] = (router.interfaces ?? []).map { interface in
            let network = networks[interface.network]
            let length = network.flatMap { CIDR($0.prefix)?.length }
            let address = interface.address.contains("/") ? interface.address : "\(interface.address)/\(length ?? 32)"
            let vrf = network?.vrf.map { " vrf \(vrfNames[$0] ?? $0)" } ?? ""
            return (Self.interfaceName(interface.network) + vrf, address)
        }
        interfaces += (router.uplinks ?? []).map { ($0.interface, $0.address) }
        let v6 = interfaces.contains { $0.1.contains(":") }
        var lines = ["frr defaults datacenter", "ip forwarding", v6 ? "ipv6 forwarding" : "no ipv6 forwarding", "!"]
        for (stanza, address) in interfaces.sorted(by: { $0.0 < $1.0 }) {
            lines += ["interface \(stanza)", " \(address.contains(":") ? "ipv6" : "ip") address \(address)", "exit", "!"]
        }
        if let asn = router.asn, !(router.bgp ?? []).isEmpty {
            lines.append("router bgp \(asn)")
            if let id = router.routerID { lines.append(" bgp router-id \(id)") }
            for session in (router.bgp ?? []).sorted(by: { $0.address < $1.address }) {
                lines.append(" neighbor \(session.address) remote-as \(session.asn)")
            }
            let announced = intent.networks.filter { ["public", "loadbalancer"].contains($0.role) && $0.vrf == nil }
                .compactMap { CIDR($0.prefix) }
            let v4 = announced.filter { $0.family == .v4 }.map(\.description).sorted()
            let v6Announced = announced.filter { $0.family == .v6 }.map(\.description).sorted()
            if !v4.isEmpty {
                lines += [" !", " address-family ipv4 unicast"] + v4.map { "  network \($0)" } + [" exit-address-family"]
            }
            if !v6Announced.isEmpty {
                lines += [" !", " address-family ipv6 unicast"] + v6Announced.map { "  network \($0)" } + [" exit-address-family"]
            }
            lines += ["exit", "!"]
        }
        return lines.joined(separator: "\n") + "\n"
    }
}
