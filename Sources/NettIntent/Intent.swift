#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import DataverketCore
import Yams

/// A datacenter's network intent (issue 7 §2): logical networks (VLAN, VRF, prefix, gateway, DHCP), port profiles
/// and their assignments to switch ports, routers with their interfaces and BGP sessions, firewall rules between
/// networks, and the isolation policy. Read from YAML (`examples/network-osl1.yaml`) or JSON; validated and
/// verified by `IntentVerifier` before anything touches a device.
public struct NetworkIntent: Codable, Sendable, Hashable {
    public struct VRF: Codable, Sendable, Hashable {
        public var name: String
        public var routeDistinguisher: String?
        public init(name: String, routeDistinguisher: String? = nil) {
            self.name = name
            self.routeDistinguisher = routeDistinguisher
        }
    }

    public struct Network: Codable, Sendable, Hashable {
        public var name: String
        public var vlan: Int
        /// The VRF routing the network; nil is the default (`global`) table.
        public var vrf: String?
        public var prefix: String
        public var gateway: String?
        public var dhcp: Bool?
        /// oob, provisioning, mgmt, storage, tenant, public, backup, loadbalancer.
        public var role: String
        public var tenant: String?
        /// A data classification (`CRITICAL_SOVEREIGN_HEALTH`, …); `CRITICAL_SOVEREIGN_*` networks are reachable only
        /// from networks of their own jurisdiction.
        public var classification: String?
        /// The jurisdiction of the data on the network (ISO country code); the datacenter's when nil.
        public var jurisdiction: String?
        public var mtu: Int?

        public init(name: String, vlan: Int, vrf: String? = nil, prefix: String, gateway: String? = nil, dhcp: Bool? = nil,
                    role: String, tenant: String? = nil, classification: String? = nil, jurisdiction: String? = nil, mtu: Int? = nil) {
            self.name = name
            self.vlan = vlan
            self.vrf = vrf
            self.prefix = prefix
            self.gateway = gateway
            self.dhcp = dhcp
            self.role = role
            self.tenant = tenant
            self.classification = classification
            self.jurisdiction = jurisdiction
            self.mtu = mtu
        }
    }

    public struct PortProfile: Codable, Sendable, Hashable {
        public var name: String
        /// `access` or `trunk`.
        public var mode: String
        /// Access: the one network; trunk: the native network, if any.
        public var network: String?
        /// Trunk: the networks it carries.
        public var allowed: [String]?
        public var mtu: Int
        public var lacp: Bool?

        public init(name: String, mode: String, network: String? = nil, allowed: [String]? = nil, mtu: Int = 1500, lacp: Bool? = nil) {
            self.name = name
            self.mode = mode
            self.network = network
            self.allowed = allowed
            self.mtu = mtu
            self.lacp = lacp
        }
    }

    /// A switch port with a profile, and the networks what is plugged into it needs.
    public struct Port: Codable, Sendable, Hashable {
        public var device: String
        public var interface: String
        public var profile: String
        public var needs: [String]?
        /// The other end, when it is a switch or router port of this intent (`device:interface`).
        public var peer: String?
        /// A link aggregation: `interface` names the bond (port channel), these are its physical interfaces.
        public var members: [String]?

        public init(device: String, interface: String, profile: String, needs: [String]? = nil, peer: String? = nil,
                    members: [String]? = nil) {
            self.device = device
            self.interface = interface
            self.profile = profile
            self.needs = needs
            self.peer = peer
            self.members = members
        }

        /// The physical interfaces: the members of a bond, else the interface itself.
        public var physical: [String] { members ?? [interface] }
    }

    public struct Router: Codable, Sendable, Hashable {
        public struct Interface: Codable, Sendable, Hashable {
            public var network: String
            public var address: String
            public init(network: String, address: String) {
                self.network = network
                self.address = address
            }
        }
        public struct Session: Codable, Sendable, Hashable {
            public var peer: String
            public var address: String
            public var asn: Int
            public init(peer: String, address: String, asn: Int) {
                self.peer = peer
                self.address = address
                self.asn = asn
            }
        }
        /// A routed point-to-point interface outside the intent's networks (towards an upstream).
        public struct Uplink: Codable, Sendable, Hashable {
            public var interface: String
            /// Address with prefix length (`198.51.100.2/30`).
            public var address: String
            public init(interface: String, address: String) {
                self.interface = interface
                self.address = address
            }
        }
        public var name: String
        public var asn: Int?
        /// The router's own address towards its BGP peers (what their sessions must name).
        public var routerID: String?
        public var interfaces: [Interface]?
        public var uplinks: [Uplink]?
        public var bgp: [Session]?
        /// True for routers outside Dataverket's control (upstreams): checked for matching sessions, never configured.
        public var external: Bool?

        public init(name: String, asn: Int? = nil, routerID: String? = nil, interfaces: [Interface]? = nil, uplinks: [Uplink]? = nil,
                    bgp: [Session]? = nil, external: Bool? = nil) {
            self.name = name
            self.asn = asn
            self.routerID = routerID
            self.interfaces = interfaces
            self.uplinks = uplinks
            self.bgp = bgp
            self.external = external
        }
    }

    /// Traffic allowed (or denied) from one network to another; `external` names everything beyond the border.
    public struct Rule: Codable, Sendable, Hashable {
        public var from: String
        public var to: String
        /// tcp, udp, icmp or any.
        public var `protocol`: String
        public var port: Int?
        /// allow or deny.
        public var action: String

        public init(from: String, to: String, protocol: String = "any", port: Int? = nil, action: String = "allow") {
            self.from = from
            self.to = to
            self.protocol = `protocol`
            self.port = port
            self.action = action
        }

        enum CodingKeys: String, CodingKey { case from, to, `protocol`, port, action }

        /// `protocol` defaults to any, `action` to allow.
        public init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            self.init(from: try container.decode(String.self, forKey: .from), to: try container.decode(String.self, forKey: .to),
                      protocol: try container.decodeIfPresent(String.self, forKey: .protocol) ?? "any",
                      port: try container.decodeIfPresent(Int.self, forKey: .port),
                      action: try container.decodeIfPresent(String.self, forKey: .action) ?? "allow")
        }
    }

    public var datacenter: String
    public var jurisdiction: String
    /// VLAN IDs networks may use.
    public var vlanRange: [Int]?
    public var vrfs: [VRF]?
    public var networks: [Network]
    public var portProfiles: [PortProfile]?
    public var ports: [Port]?
    public var routers: [Router]?
    public var rules: [Rule]?

    public init(datacenter: String, jurisdiction: String, vlanRange: [Int]? = nil, vrfs: [VRF]? = nil, networks: [Network],
                portProfiles: [PortProfile]? = nil, ports: [Port]? = nil, routers: [Router]? = nil, rules: [Rule]? = nil) {
        self.datacenter = datacenter
        self.jurisdiction = jurisdiction
        self.vlanRange = vlanRange
        self.vrfs = vrfs
        self.networks = networks
        self.portProfiles = portProfiles
        self.ports = ports
        self.routers = routers
        self.rules = rules
    }

    /// The pseudo-network of everything beyond the border routers.
    public static let external = "external"
}

/// One problem found in an intent, naming the objects involved.
public struct IntentProblem: Codable, Sendable, Hashable, CustomStringConvertible {
    /// A stable code: `overlapping-prefix`, `vlan-not-allowed-on-trunk`, `policy-violation`, …
    public var code: String
    public var message: String
    public var objects: [String]

    public var description: String { "\(code): \(message)" }
}

/// Who may reach whom: for each ordered pair of networks (and `external`), the allowed flows (`tcp/22`, `icmp`, `any`).
public struct ReachabilityMatrix: Codable, Sendable, Hashable {
    /// `from` → `to` → flows; pairs without an entry are isolated.
    public var allowed: [String: [String: [String]]]

    public init(allowed: [String: [String: [String]]]) {
        self.allowed = allowed
    }

    public func flows(from: String, to: String) -> [String] { allowed[from]?[to] ?? [] }
    public func reaches(_ from: String, _ to: String) -> Bool { !flows(from: from, to: to).isEmpty }

    /// Pairs that became reachable and pairs that became isolated from `old` to `self`, as `from → to: flows` lines.
    public func diff(from old: ReachabilityMatrix) -> (opened: [String], closed: [String]) {
        func lines(_ matrix: ReachabilityMatrix) -> Set<String> {
            Set(matrix.allowed.flatMap { from, row in row.map { to, flows in "\(from) → \(to): \(flows.joined(separator: ","))" } })
        }
        let new = lines(self), before = lines(old)
        return (new.subtracting(before).sorted(), before.subtracting(new).sorted())
    }
}

/// The outcome of verifying an intent.
public struct IntentReport: Codable, Sendable, Hashable {
    public var problems: [IntentProblem]
    public var matrix: ReachabilityMatrix
    public var ok: Bool { problems.isEmpty }
}

/// Validates an intent (referential checks) and verifies it on the model: computes the reachability matrix from
/// VRFs, gateways and rules, and checks it against the isolation policy — tenant ↔ tenant, tenant → out-of-band and
/// management, and nothing outside its jurisdiction (or beyond the border) reaching a `CRITICAL_SOVEREIGN_*` network.
public enum IntentVerifier {
    /// Whether `value` can be written into a device's configuration as one word: 1–64 ASCII letters, digits and `. _ - : /`.
    public static func isConfigurationWord(_ value: String) -> Bool {
        let scalars = value.unicodeScalars
        guard (1...64).contains(scalars.count) else { return false }
        return scalars.allSatisfy { scalar in
            switch scalar {
            case "a"..."z", "A"..."Z", "0"..."9", ".", "_", "-", ":", "/": true
            default: false
            }
        }
    }

    /// Every name in the intent that ends up in rendered configuration, with where it is.
    static func configurationWords(_ intent: NetworkIntent) -> [(String, String)] {
        var words: [(String, String)] = [(intent.datacenter, "datacenter"), (intent.jurisdiction, "jurisdiction")]
        for vrf in intent.vrfs ?? [] {
            words.append((vrf.name, "vrf name"))
            if let rd = vrf.routeDistinguisher { words.append((rd, "vrf \(quoted(vrf.name)) routeDistinguisher")) }
        }
        for network in intent.networks {
            let object = "network \(quoted(network.name))"
            words.append((network.name, "network name"))
            for (value, field) in [(network.vrf, "vrf"), (network.tenant, "tenant"), (network.classification, "classification"),
                                   (network.jurisdiction, "jurisdiction"), (network.role, "role")] {
                if let value { words.append((value, "\(object) \(field)")) }
            }
        }
        for profile in intent.portProfiles ?? [] {
            words.append((profile.name, "port profile name"))
            for name in (profile.allowed ?? []) + [profile.network].compactMap({ $0 }) { words.append((name, "port profile \(quoted(profile.name)) network")) }
        }
        for port in intent.ports ?? [] {
            let object = "port \(quoted(port.device)):\(quoted(port.interface))"
            words += [(port.device, "port device"), (port.interface, "port interface"), (port.profile, "\(object) profile")]
            for name in (port.members ?? []) + (port.needs ?? []) + [port.peer].compactMap({ $0 }) { words.append((name, "\(object) member, need or peer")) }
        }
        for router in intent.routers ?? [] {
            let object = "router \(quoted(router.name))"
            words.append((router.name, "router name"))
            for interface in router.interfaces ?? [] { words.append((interface.network, "\(object) interface network")) }
            for uplink in router.uplinks ?? [] { words.append((uplink.interface, "\(object) uplink interface")) }
            for session in router.bgp ?? [] { words.append((session.peer, "\(object) bgp peer")) }
        }
        for (index, rule) in (intent.rules ?? []).enumerated() {
            words += [(rule.from, "rule \(index + 1) from"), (rule.to, "rule \(index + 1) to"), (rule.protocol, "rule \(index + 1) protocol"),
                      (rule.action, "rule \(index + 1) action")]
        }
        return words
    }

    /// A name as it may be shown in a message: control characters escaped, at most 64 characters.
    static func quoted(_ value: String) -> String {
        let escaped = value.unicodeScalars.map { $0.properties.generalCategory == .control ? $0.escaped(asASCII: true) : String($0) }.joined()
        return escaped.count > 64 ? String(escaped.prefix(64)) + "…" : escaped
    }

    static let roles: Set<String> = ["oob", "provisioning", "mgmt", "storage", "tenant", "public", "backup", "loadbalancer"]
    static let protectedRoles: Set<String> = ["oob", "mgmt", "provisioning"]

    public static func verify(_ intent: NetworkIntent) -> IntentReport {
        var problems: [IntentProblem] = []
        func problem(_ code: String, _ message: String, _ objects: [String]) {
            problems.append(IntentProblem(code: code, message: message, objects: objects))
        }
        let networks = Dictionary(intent.networks.map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first })
        let vrfNames = Set((intent.vrfs ?? []).map(\.name))
        var seenNames: Set<String> = []
        var vlanOwner: [Int: String] = [:]
        var parsed: [(network: NetworkIntent.Network, cidr: CIDR)] = []
        var addressOwner: [IPAddress: String] = [:]
        var range = 1...4094
        if let bounds = intent.vlanRange {
            // [lowest, highest]: a reversed pair would trap building the range.
            if bounds.count == 2, bounds[0] <= bounds[1] {
                range = bounds[0]...bounds[1]
            } else {
                problem("malformed-vlan-range", "vlanRange \(bounds) is not [lowest, highest]", ["vlanRange"])
            }
        }

        // Every name and word that a renderer writes into a device's configuration: a newline or a space in one would
        // smuggle lines into the rendered FRR/EOS/SONiC/nftables text (a VRF named "acme\nrouter bgp 666").
        for (value, field) in Self.configurationWords(intent) where !Self.isConfigurationWord(value) {
            problem("malformed-name", "\(field) is '\(Self.quoted(value))': names are 1–64 characters of letters, digits and . _ - : / (they are written into device configurations)",
                    [field])
        }

        for network in intent.networks {
            let object = "network \(network.name)"
            if !seenNames.insert(network.name).inserted { problem("duplicate-network", "\(object) is declared twice", [object]) }
            if network.name == NetworkIntent.external { problem("reserved-name", "'external' names everything beyond the border", [object]) }
            if !roles.contains(network.role) { problem("unknown-role", "\(object) has role '\(network.role)'", [object]) }
            if !range.contains(network.vlan) {
                problem("vlan-out-of-range", "\(object) uses VLAN \(network.vlan), outside the datacenter's range \(range.lowerBound)–\(range.upperBound)", [object])
            } else if let other = vlanOwner[network.vlan] {
                problem("duplicate-vlan", "VLAN \(network.vlan) is used by network \(other) and \(object)", ["network \(other)", object])
            } else {
                vlanOwner[network.vlan] = network.name
            }
            if let vrf = network.vrf, !vrfNames.contains(vrf) { problem("unknown-vrf", "\(object) names VRF \(vrf), which is not declared", [object]) }
            guard let cidr = CIDR(network.prefix) else {
                problem("malformed-prefix", "\(object) has prefix '\(network.prefix)', not a CIDR without host bits", [object])
                continue
            }
            for (other, otherCIDR) in parsed where (other.vrf ?? "global") == (network.vrf ?? "global") && otherCIDR.overlaps(cidr) {
                problem("overlapping-prefix", "\(object) (\(cidr)) overlaps network \(other.name) (\(otherCIDR)) in VRF \(network.vrf ?? "global")",
                        ["network \(other.name)", object])
            }
            parsed.append((network, cidr))
            if let gateway = network.gateway {
                if let address = IPAddress(gateway) {
                    if !cidr.contains(address) {
                        problem("gateway-outside-prefix", "\(object): gateway \(gateway) is outside \(cidr)", [object])
                    }
                    claim(address, "gateway of \(object)", &addressOwner, &problems)
                } else {
                    problem("malformed-address", "\(object): gateway '\(gateway)' is not an address", [object])
                }
            }
        }

        // Port profiles, ports and links.
        let profiles = Dictionary((intent.portProfiles ?? []).map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first })
        for profile in intent.portProfiles ?? [] {
            let object = "port profile \(profile.name)"
            let carried = (profile.allowed ?? []) + (profile.network.map { [$0] } ?? [])
            for name in carried where networks[name] == nil { problem("unknown-network", "\(object) names network \(name), which is not declared", [object]) }
            if profile.mode != "access" && profile.mode != "trunk" { problem("unknown-mode", "\(object) has mode '\(profile.mode)'", [object]) }
            if profile.mode == "access" && profile.network == nil { problem("access-without-network", "\(object) is access but names no network", [object]) }
            for name in carried {
                if let mtu = networks[name]?.mtu, mtu > profile.mtu {
                    problem("mtu-too-small", "\(object) has MTU \(profile.mtu), network \(name) needs \(mtu)", [object, "network \(name)"])
                }
            }
        }
        var portsByName: [String: NetworkIntent.Port] = [:]
        var physicalOwner: [String: String] = [:]
        for port in intent.ports ?? [] {
            let object = "port \(port.device):\(port.interface)"
            if portsByName.updateValue(port, forKey: "\(port.device):\(port.interface)") != nil {
                problem("duplicate-port", "\(object) is assigned twice", [object])
            }
            if let members = port.members, members.count < 2 || Set(members).count != members.count {
                problem("malformed-bond", "\(object): a bond has at least two distinct members", [object])
            }
            for member in port.members ?? [] {
                if let other = physicalOwner.updateValue(object, forKey: "\(port.device):\(member)"), other != object {
                    problem("duplicate-port", "\(port.device):\(member) is in both \(other) and \(object)", [other, object])
                }
            }
            guard let profile = profiles[port.profile] else {
                problem("unknown-profile", "\(object) uses port profile \(port.profile), which is not declared", [object])
                continue
            }
            let carried = Set((profile.allowed ?? []) + (profile.network.map { [$0] } ?? []))
            for need in port.needs ?? [] where !carried.contains(need) {
                problem(profile.mode == "trunk" ? "vlan-not-allowed-on-trunk" : "vlan-not-on-access-port",
                        "\(object) needs network \(need) (VLAN \(networks[need].map { String($0.vlan) } ?? "?")), which port profile \(profile.name) does not carry",
                        [object, "port profile \(profile.name)", "network \(need)"])
            }
        }
        for port in intent.ports ?? [] {
            guard let peerName = port.peer, let peer = portsByName[peerName], "\(port.device):\(port.interface)" < peerName else { continue }
            if let mine = profiles[port.profile], let theirs = profiles[peer.profile], mine.mtu != theirs.mtu {
                problem("mtu-mismatch", "link \(port.device):\(port.interface) – \(peerName): MTU \(mine.mtu) against \(theirs.mtu)",
                        ["port \(port.device):\(port.interface)", "port \(peerName)"])
            }
        }

        // Routers: interfaces in their networks, unique addresses, BGP sessions matched on both sides.
        let routers = intent.routers ?? []
        var routerByAddress: [String: NetworkIntent.Router] = [:]
        for router in routers {
            if let id = router.routerID { routerByAddress[id] = router }
            for interface in router.interfaces ?? [] {
                let object = "router \(router.name) interface in \(interface.network)"
                guard let network = networks[interface.network], let cidr = CIDR(network.prefix) else {
                    problem("unknown-network", "\(object): network \(interface.network) is not declared", ["router \(router.name)"])
                    continue
                }
                let text = interface.address.split(separator: "/").first.map(String.init) ?? interface.address
                guard let address = IPAddress(text) else {
                    problem("malformed-address", "\(object): '\(interface.address)' is not an address", ["router \(router.name)"])
                    continue
                }
                if !cidr.contains(address) {
                    problem("address-outside-prefix", "\(object): \(text) is outside \(cidr)", ["router \(router.name)", "network \(network.name)"])
                }
                if network.gateway != text { claim(address, object, &addressOwner, &problems) }
                routerByAddress[text] = router
            }
            for uplink in router.uplinks ?? [] {
                let object = "router \(router.name) uplink \(uplink.interface)"
                let parts = uplink.address.split(separator: "/")
                if parts.count != 2 || IPAddress(String(parts[0])) == nil || Int(parts[1]) == nil {
                    problem("malformed-address", "\(object): '\(uplink.address)' is not an address with a prefix length", ["router \(router.name)"])
                }
                if uplink.interface.isEmpty || uplink.interface.utf8.count > 15 || uplink.interface.contains(where: { $0 == " " || $0 == "/" }) {
                    problem("malformed-interface", "\(object): an interface name has 1–15 characters, no spaces or slashes", ["router \(router.name)"])
                }
            }
        }
        for router in routers {
            for session in router.bgp ?? [] {
                let object = "router \(router.name) BGP session to \(session.peer) (\(session.address))"
                guard let peer = routers.first(where: { $0.name == session.peer }) else {
                    problem("bgp-unknown-peer", "\(object): no router \(session.peer) is declared", ["router \(router.name)"])
                    continue
                }
                if let asn = peer.asn, asn != session.asn {
                    problem("bgp-asn-mismatch", "\(object) expects AS \(session.asn), but \(peer.name) is AS \(asn)",
                            ["router \(router.name)", "router \(peer.name)"])
                }
                let matching = (peer.bgp ?? []).contains { $0.peer == router.name && (router.asn == nil || $0.asn == router.asn) }
                if !matching {
                    problem("bgp-no-matching-session", "\(object): \(peer.name) has no session back to \(router.name)\(router.asn.map { " (AS \($0))" } ?? "")",
                            ["router \(router.name)", "router \(peer.name)"])
                }
            }
        }

        // Rules: their networks must exist.
        for rule in intent.rules ?? [] {
            for name in [rule.from, rule.to] where name != NetworkIntent.external && networks[name] == nil {
                problem("unknown-network", "rule \(rule.from) → \(rule.to) names network \(name), which is not declared", ["rule \(rule.from) → \(rule.to)"])
            }
            if !["tcp", "udp", "icmp", "any"].contains(rule.protocol) || !["allow", "deny"].contains(rule.action) {
                problem("malformed-rule", "rule \(rule.from) → \(rule.to): protocol tcp|udp|icmp|any, action allow|deny", ["rule \(rule.from) → \(rule.to)"])
            }
            if let port = rule.port, !(1...65535).contains(port) || !["tcp", "udp"].contains(rule.protocol) {
                problem("malformed-rule", "rule \(rule.from) → \(rule.to): a port (1–65535) goes with tcp or udp", ["rule \(rule.from) → \(rule.to)"])
            }
        }

        let matrix = reachability(intent)
        problems += policy(intent, matrix)
        return IntentReport(problems: problems, matrix: matrix)
    }

    private static func claim(_ address: IPAddress, _ owner: String, _ owners: inout [IPAddress: String], _ problems: inout [IntentProblem]) {
        if let previous = owners[address] {
            problems.append(IntentProblem(code: "duplicate-address", message: "\(address) is both the \(previous) and the \(owner)",
                                          objects: [previous, owner]))
        } else {
            owners[address] = owner
        }
    }

    /// The reachability matrix. Traffic between networks is routed only between networks of the same VRF that both
    /// have a gateway, and passes the border firewall, which denies by default: a pair is reachable with the flows of
    /// the `allow` rules naming it, minus `deny` rules. `external` reaches (and is reached by) networks of the default
    /// table only.
    public static func reachability(_ intent: NetworkIntent) -> ReachabilityMatrix {
        let networks = Dictionary(intent.networks.map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first })
        func table(_ name: String) -> String? {
            if name == NetworkIntent.external { return "global" }
            guard let network = networks[name], network.gateway != nil else { return nil }
            return network.vrf ?? "global"
        }
        var denied: Set<String> = []
        for rule in intent.rules ?? [] where rule.action == "deny" {
            denied.insert("\(rule.from)|\(rule.to)|\(flow(rule))")
            denied.insert("\(rule.from)|\(rule.to)|any")
        }
        var allowed: [String: [String: Set<String>]] = [:]
        for rule in intent.rules ?? [] where rule.action == "allow" {
            guard rule.from != rule.to, let a = table(rule.from), let b = table(rule.to), a == b else { continue }
            let flow = flow(rule)
            if denied.contains("\(rule.from)|\(rule.to)|\(flow)") { continue }
            allowed[rule.from, default: [:]][rule.to, default: []].insert(flow)
        }
        return ReachabilityMatrix(allowed: allowed.mapValues { $0.mapValues { $0.sorted() } })
    }

    static func flow(_ rule: NetworkIntent.Rule) -> String {
        switch rule.protocol {
        case "any": "any"
        case "icmp": "icmp"
        default: rule.port.map { "\(rule.protocol)/\($0)" } ?? rule.protocol
        }
    }

    /// The policy every matrix must keep.
    static func policy(_ intent: NetworkIntent, _ matrix: ReachabilityMatrix) -> [IntentProblem] {
        let networks = Dictionary(intent.networks.map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first })
        var problems: [IntentProblem] = []
        for (from, row) in matrix.allowed.sorted(by: { $0.key < $1.key }) {
            for (to, flows) in row.sorted(by: { $0.key < $1.key }) {
                let source = networks[from], target = networks[to]
                let pair = "\(from) → \(to) (\(flows.joined(separator: ",")))"
                if let source, let target, source.role == "tenant", target.role == "tenant", source.tenant != target.tenant {
                    problems.append(IntentProblem(code: "policy-violation", message: "tenant ↔ tenant: \(pair) connects tenants \(source.tenant ?? "-") and \(target.tenant ?? "-")",
                                                  objects: ["network \(from)", "network \(to)"]))
                }
                if let target, protectedRoles.contains(target.role), source?.role == "tenant" || from == NetworkIntent.external {
                    problems.append(IntentProblem(code: "policy-violation", message: "\(from == NetworkIntent.external ? "external" : "tenant") → \(target.role): \(pair) opens the \(target.role) network",
                                                  objects: ["network \(from)", "network \(to)"]))
                }
                if let target, let classification = target.classification, classification.hasPrefix("CRITICAL_SOVEREIGN_") {
                    let home = target.jurisdiction ?? intent.jurisdiction
                    let origin = from == NetworkIntent.external ? nil : (source?.jurisdiction ?? intent.jurisdiction)
                    if origin != home {
                        problems.append(IntentProblem(code: "policy-violation", message: "sovereignty: \(pair) reaches \(classification) data (jurisdiction \(home)) from \(origin.map { "jurisdiction \($0)" } ?? "outside the border")",
                                                      objects: ["network \(from)", "network \(to)"]))
                    }
                }
            }
        }
        return problems
    }
}

extension NetworkIntent {
    /// Decodes an intent from YAML (or JSON, which is YAML), with the field path of the first problem in the error.
    public static func load(yaml text: String, source: String = "intent") throws(DataverketError) -> NetworkIntent {
        do {
            // Bounded first (size, depth, alias expansion), so decoding cannot run away.
            try YAMLGuard.check(text)
            return try YAMLDecoder().decode(NetworkIntent.self, from: text)
        } catch let problem as YAMLGuard.Problem {
            throw problem.error(source: source)
        } catch let error as DecodingError {
            if case .dataCorrupted(let context) = error, context.underlyingError is YamlError {
                throw DataverketError.invalid(source, "not valid YAML: \(YAMLGuard.problem(composing: error, text: text))")
            }
            let context: DecodingError.Context? = switch error {
            case .keyNotFound(_, let context), .typeMismatch(_, let context), .valueNotFound(_, let context), .dataCorrupted(let context): context
            @unknown default: nil
            }
            let path = context?.codingPath.map { $0.intValue.map { "[\($0)]" } ?? ".\($0.stringValue)" }.joined() ?? ""
            var detail = context?.debugDescription ?? "\(error)"
            if case .keyNotFound(let key, _) = error { detail = "'\(key.stringValue)' is missing" }
            throw DataverketError.invalid(source, "\(path.isEmpty ? "" : path.trimmingCharacters(in: ["."]) + ": ")\(detail)")
        } catch {
            throw DataverketError.invalid(source, "not valid YAML: \(YAMLGuard.problem(composing: error, text: text))")
        }
    }
}
