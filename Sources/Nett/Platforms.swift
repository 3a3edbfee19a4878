import Foundation
import DataverketCore
import DataverketProcess

// MARK: - Open vSwitch

/// Open vSwitch as a leaf switch: the intent's ports of one device as OVS port settings, one line per port in
/// interface order — `port Ethernet1 tag=110` (access), `port Ethernet48 trunks=10,20 vlan_mode=trunk` (trunk),
/// `… tag=20 trunks=20,110 vlan_mode=native-untagged` (trunk with a native VLAN), `port bond48
/// bond=Ethernet48,Ethernet49 lacp=active trunks=…` (a bond of the port's members; LACP when its profile asks, on a
/// single link too), each with its profile's `mtu=N` (every interface of the port). The same format is what
/// `OpenVSwitch.read()` reports, so rendered and realized compare line by line.
public struct OVSRenderer: ConfigRenderer {
    public var platform: String { "ovs" }
    public init() {}

    public func render(_ intent: NetworkIntent, device: String) throws(DataverketError) -> String {
        try intent.requireDevice(device)
        var lines: [String] = []
        let index = intent.networkIndex
        for port in intent.ports(of: device) {
            guard let profile = intent.profile(of: port) else { continue }
            let (untagged, tagged) = intent.carried(by: port, index)
            var settings = OVSPort(name: port.interface)
            settings.mtu = profile.mtu
            if let members = port.members { settings.bond = members }
            // LACP on a bond, or on a single link (OVS runs LACP on a one-interface port too, as a one-member LAG).
            settings.lacp = profile.lacp == true ? "active" : nil
            if profile.mode == "access" {
                settings.tag = untagged?.vlan
            } else if let native = untagged {
                settings.tag = native.vlan
                settings.trunks = ([native.vlan] + tagged.map(\.vlan)).sorted()
                settings.vlanMode = "native-untagged"
            } else {
                settings.trunks = tagged.map(\.vlan).sorted()
                settings.vlanMode = "trunk"
            }
            lines.append(settings.line)
        }
        return lines.isEmpty ? "" : lines.joined(separator: "\n") + "\n"
    }
}

/// One OVS port's VLAN settings.
public struct OVSPort: Sendable, Hashable {
    public var name: String
    /// A bond's interfaces (empty: the port's one interface has the port's name).
    public var bond: [String] = []
    /// `active` or `passive` (a bond, or a single link as a one-member LAG).
    public var lacp: String?
    public var tag: Int?
    public var trunks: [Int] = []
    public var vlanMode: String?
    /// The MTU of the port's interfaces (OVS's `mtu_request`); nil leaves it to the interface.
    public var mtu: Int?

    public init(name: String, bond: [String] = [], lacp: String? = nil, tag: Int? = nil, trunks: [Int] = [], vlanMode: String? = nil,
                mtu: Int? = nil) {
        self.name = name
        self.bond = bond
        self.lacp = lacp
        self.tag = tag
        self.trunks = trunks
        self.vlanMode = vlanMode
        self.mtu = mtu
    }

    /// The kernel interfaces of the port: a bond's members, or the port's own.
    public var interfaces: [String] { bond.isEmpty ? [name] : bond }

    public var line: String {
        var parts = ["port \(name)"]
        if !bond.isEmpty { parts.append("bond=\(bond.joined(separator: ","))") }
        if let lacp { parts.append("lacp=\(lacp)") }
        if let tag { parts.append("tag=\(tag)") }
        if !trunks.isEmpty { parts.append("trunks=\(trunks.map(String.init).joined(separator: ","))") }
        if let vlanMode { parts.append("vlan_mode=\(vlanMode)") }
        if let mtu { parts.append("mtu=\(mtu)") }
        return parts.joined(separator: " ")
    }

    static let modes: Set<String> = ["access", "trunk", "native-tagged", "native-untagged"]

    /// Parses the renderer's format; refuses anything else with the line that is wrong.
    static func parse(_ text: String, device: String) throws(DataverketError) -> [OVSPort] {
        var ports: [OVSPort] = []
        var seen: Set<String> = []
        for (number, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = raw.trimmingCharacters(in: .whitespaces)
            if line.isEmpty || line.hasPrefix("#") { continue }
            let words = line.split(separator: " ").map(String.init)
            func bad(_ why: String) -> DataverketError {
                DataverketError.invalid("candidate", "line \(number + 1) for \(device) ('\(line)'): \(why)")
            }
            guard words.count >= 2, words[0] == "port" else {
                throw bad("expected `port NAME [bond=IF,IF…] [lacp=active|passive] [tag=N] [trunks=A,B] [vlan_mode=M] [mtu=N]`")
            }
            let name = words[1]
            guard !name.isEmpty, name.utf8.count <= 15, name.allSatisfy({ $0.isLetter || $0.isNumber || "-_.".contains($0) }) else {
                throw bad("'\(name)' is not an interface name")
            }
            guard seen.insert(name).inserted else { throw bad("port \(name) appears twice") }
            var port = OVSPort(name: name)
            for word in words.dropFirst(2) {
                let pair = word.split(separator: "=", maxSplits: 1).map(String.init)
                guard pair.count == 2 else { throw bad("'\(word)' is not key=value") }
                switch pair[0] {
                case "tag":
                    guard let vid = Int(pair[1]), (1...4094).contains(vid) else { throw bad("tag must be a VLAN ID 1–4094") }
                    port.tag = vid
                case "trunks":
                    let vids = pair[1].split(separator: ",").compactMap { Int($0) }
                    guard vids.count == pair[1].split(separator: ",").count, vids.allSatisfy({ (1...4094).contains($0) }) else {
                        throw bad("trunks must be VLAN IDs 1–4094")
                    }
                    port.trunks = vids.sorted()
                case "vlan_mode":
                    guard modes.contains(pair[1]) else { throw bad("vlan_mode is one of \(modes.sorted().joined(separator: ", "))") }
                    port.vlanMode = pair[1]
                case "bond":
                    let members = pair[1].split(separator: ",").map(String.init)
                    guard members.count >= 2, Set(members).count == members.count,
                          members.allSatisfy({ !$0.isEmpty && $0.utf8.count <= 15 && $0.allSatisfy { $0.isLetter || $0.isNumber || "-_.".contains($0) } }) else {
                        throw bad("bond names two or more distinct interfaces")
                    }
                    port.bond = members
                case "lacp":
                    guard ["active", "passive"].contains(pair[1]) else { throw bad("lacp is active or passive") }
                    port.lacp = pair[1]
                case "mtu":
                    guard let mtu = Int(pair[1]), (68...65535).contains(mtu) else { throw bad("mtu must be 68–65535") }
                    port.mtu = mtu
                default:
                    throw bad("unknown setting \(pair[0])")
                }
            }
            for member in port.bond where !seen.insert(member).inserted { throw bad("\(member) is in two ports") }
            ports.append(port)
        }
        return ports
    }
}

/// Open vSwitch in userspace through OVSDB (`ovs-vsctl --db=unix:SOCK -f json`): one bridge's ports and their VLAN
/// settings. A configuration is applied as one OVSDB transaction (one `ovs-vsctl` call with `--`-separated
/// commands): ports not in it are removed, the others added or reset and set.
public struct OpenVSwitch: ConfigBackend {
    public let device: String
    public let database: String
    public let bridge: String
    /// ovs-vswitchd's control socket, for the MAC table (`ovs-appctl fdb/show`).
    public let control: String?

    public init(device: String, database: String, bridge: String = "br0", control: String? = nil) {
        self.device = device
        self.database = database
        self.bridge = bridge
        self.control = control
    }

    private func vsctl(_ arguments: [String]) async throws -> String {
        guard let result = try await runSubprocess("/usr/bin/ovs-vsctl", ["--db=unix:\(database)", "--timeout=10"] + arguments,
                                                   environment: ["PATH": "/usr/sbin:/usr/bin:/sbin:/bin"], timeout: .seconds(20)) else {
            throw DataverketError(.unavailable, "ovs-vsctl on \(device) did not finish within 20 s")
        }
        guard result.status == 0 else {
            throw DataverketError(.unavailable, "ovs-vsctl on \(device) failed: \(firstLine(result.stderr))")
        }
        return result.stdout
    }

    public func facts() async throws -> [String: String] {
        let version = try await vsctl(["--version"])
        let ports = try await vsctl(["list-ports", bridge])
        return ["device": device, "platform": "ovs", "version": firstLine(version), "bridge": bridge,
                "ports": String(significantLines(ports).count)]
    }

    /// The bridge's ports (not the bridge's own internal port) with their VLAN settings.
    public func ports() async throws -> [OVSPort] {
        let members = Set(significantLines(try await vsctl(["list-ports", bridge])))
        let rows = try await table("port", ["name", "tag", "trunks", "vlan_mode", "lacp", "interfaces"])
        var interfaces: [String: String] = [:]
        var mtus: [String: Int] = [:]
        for row in try await table("interface", ["_uuid", "name", "mtu_request"]) {
            if let uuid = Self.uuids(row[0]).first, let name = row[1] as? String {
                interfaces[uuid] = name
                mtus[name] = Self.integers(row[2]).first
            }
        }
        var ports: [OVSPort] = []
        for row in rows {
            guard let name = row[0] as? String, members.contains(name) else { continue }
            let own = Self.uuids(row[5]).compactMap { interfaces[$0] }.sorted { NetworkIntent.interfaceOrder($0, $1) }
            let bond = own == [name] || own.count < 2 ? [] : own
            // The port's MTU when all its interfaces request the same one; members that differ show as none (drift).
            let requested = Set(own.map { mtus[$0] })
            ports.append(OVSPort(name: name, bond: bond, lacp: Self.strings(row[4]).first.flatMap { $0 == "off" ? nil : $0 },
                                 tag: Self.integers(row[1]).first, trunks: Self.integers(row[2]).sorted(), vlanMode: Self.strings(row[3]).first,
                                 mtu: requested.count == 1 ? requested.first! : nil))
        }
        return ports.sorted { NetworkIntent.interfaceOrder($0.name, $1.name) }
    }

    /// Rows of an OVSDB table with the given columns (`ovs-vsctl -f json list`).
    func table(_ name: String, _ columns: [String]) async throws -> [[Any]] {
        let text = try await vsctl(["-f", "json", "--columns=\(columns.joined(separator: ","))", "list", name])
        guard let object = try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any], let rows = object["data"] as? [[Any]] else {
            throw DataverketError(.unavailable, "ovs-vsctl on \(device) printed something that is not OVSDB JSON")
        }
        return rows.filter { $0.count == columns.count }
    }

    /// An OVSDB UUID or set of them: `["uuid", U]` or `["set", [["uuid", U], …]]`.
    static func uuids(_ value: Any) -> [String] {
        guard let pair = value as? [Any], pair.count == 2, let tag = pair[0] as? String else { return [] }
        if tag == "uuid", let uuid = pair[1] as? String { return [uuid] }
        if tag == "set", let items = pair[1] as? [Any] { return items.flatMap { uuids($0) } }
        return []
    }

    /// An OVSDB value as integers: a bare atom, or `["set", [atoms]]` (RFC 7047 §5.1).
    static func integers(_ value: Any) -> [Int] {
        if let number = value as? Int { return [number] }
        if let pair = value as? [Any], pair.count == 2, pair[0] as? String == "set", let items = pair[1] as? [Any] {
            return items.compactMap { $0 as? Int }
        }
        return []
    }

    static func strings(_ value: Any) -> [String] {
        if let text = value as? String { return [text] }
        if let pair = value as? [Any], pair.count == 2, pair[0] as? String == "set", let items = pair[1] as? [Any] {
            return items.compactMap { $0 as? String }
        }
        return []
    }

    public func read() async throws -> String {
        let lines = try await ports().map(\.line)
        return lines.isEmpty ? "" : lines.joined(separator: "\n") + "\n"
    }

    public func check(_ candidate: String) async throws {
        _ = try OVSPort.parse(candidate, device: device)
    }

    public func load(_ config: String) async throws {
        let wanted = try OVSPort.parse(config, device: device)
        let running = Dictionary(try await ports().map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first })
        var commands: [[String]] = []
        // A port that goes away, or whose interfaces change (bond ↔ single, other members), is deleted first.
        let keep = Set(wanted.filter { port in running[port.name].map { $0.bond == port.bond } ?? true }.map(\.name))
        for name in running.keys.sorted() where !keep.contains(name) { commands.append(["del-port", bridge, name]) }
        for port in wanted {
            if port.bond.isEmpty {
                commands.append(["--may-exist", "add-port", bridge, port.name])
            } else {
                commands.append(["--may-exist", "add-bond", bridge, port.name] + port.bond)
            }
            commands.append(["clear", "port", port.name, "tag", "trunks", "vlan_mode", "lacp"])
            var settings: [String] = []
            if let lacp = port.lacp { settings.append("lacp=\(lacp)") }
            if let tag = port.tag { settings.append("tag=\(tag)") }
            if !port.trunks.isEmpty { settings.append("trunks=\(port.trunks.map(String.init).joined(separator: ","))") }
            if let mode = port.vlanMode { settings.append("vlan_mode=\(mode)") }
            if !settings.isEmpty { commands.append(["set", "port", port.name] + settings) }
            for interface in port.interfaces {
                commands.append(port.mtu.map { ["set", "interface", interface, "mtu_request=\($0)"] } ?? ["clear", "interface", interface, "mtu_request"])
            }
        }
        guard !commands.isEmpty else { return }
        var arguments: [String] = []
        for command in commands { arguments += ["--"] + command }
        _ = try await vsctl(arguments)
    }

    public func normalize(_ text: String) -> [String] { significantLines(text).filter { !$0.hasPrefix("#") } }

    /// Merge: each port of the candidate replaces the running port of its name, and any running port whose
    /// interfaces it takes (a bond over former single ports, a single port out of a former bond); other ports stay.
    public func merged(_ candidate: String, into running: String) throws(DataverketError) -> String {
        let added = try OVSPort.parse(candidate, device: device)
        let taken = Set(added.flatMap { [$0.name] + $0.interfaces })
        let kept = try OVSPort.parse(running, device: device).filter { port in !([port.name] + port.interfaces).contains(where: taken.contains) }
        let lines = (kept + added).sorted { NetworkIntent.interfaceOrder($0.name, $1.name) }.map(\.line)
        return lines.isEmpty ? "" : lines.joined(separator: "\n") + "\n"
    }

    /// The learned MAC table (`ovs-appctl fdb/show`): port, VLAN, MAC.
    public func learnedMACs() async throws -> [(port: String, vlan: Int, mac: String)] {
        guard let control else { return [] }
        guard let result = try await runSubprocess("/usr/bin/ovs-appctl", ["-t", control, "fdb/show", bridge],
                                                   environment: ["PATH": "/usr/sbin:/usr/bin:/sbin:/bin"], timeout: .seconds(10)),
              result.status == 0 else {
            throw DataverketError(.unavailable, "ovs-appctl fdb/show on \(device) failed")
        }
        // fdb/show prints port numbers; map them to names.
        let numbers = try await vsctl(["-f", "json", "--columns=name,ofport", "list", "interface"])
        var names: [Int: String] = [:]
        if let object = try JSONSerialization.jsonObject(with: Data(numbers.utf8)) as? [String: Any], let rows = object["data"] as? [[Any]] {
            for row in rows where row.count == 2 {
                if let name = row[0] as? String, let number = Self.integers(row[1]).first { names[number] = name }
            }
        }
        return significantLines(result.stdout).dropFirst().compactMap { line in
            let words = line.split(separator: " ", omittingEmptySubsequences: true)
            guard words.count >= 3, let port = Int(words[0]), let vlan = Int(words[1]) else { return nil }
            return (names[port] ?? String(port), vlan, String(words[2]))
        }
    }
}

public typealias OVSDriver = ReplaceDriver<OpenVSwitch>

// MARK: - FRR

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

/// FRR (zebra, bgpd, staticd) in a network namespace: the running configuration through `vtysh`, applied in replace
/// style with `frr-reload.py --reload` (which computes and runs the difference), checked with `frr-reload.py --test`.
public struct FRRouting: ConfigBackend {
    public let device: String
    public let namespace: String?
    /// The directory holding the namespace's daemon directory (`vtysh -N NS --vty_socket DIR` looks in DIR/NS).
    public let vtySocket: String
    /// The daemons' own directory (pid files, vty sockets).
    public let runDirectory: String
    /// The router's own VRFs, when FRR runs the netns VRF backend: it sees every namespace of the machine as a VRF,
    /// and the getters report only these (and the default). Nil: every VRF FRR knows.
    public let vrfs: Set<String>?

    public init(device: String, namespace: String?, vtySocket: String, runDirectory: String, vrfs: Set<String>? = nil) {
        self.device = device
        self.namespace = namespace
        self.vtySocket = vtySocket
        self.runDirectory = runDirectory
        self.vrfs = vrfs
    }

    /// Whether the getters report `vrf` (FRR's name; `default` is the default table).
    func reports(_ vrf: String?) -> Bool {
        guard let vrf, vrf != "default", let vrfs else { return true }
        return vrfs.contains(vrf)
    }

    private static let environment = ["PATH": "/usr/sbin:/usr/bin:/sbin:/bin:/usr/lib/frr"]

    public func vtysh(_ commands: [String]) async throws -> String {
        var arguments = ["--vty_socket", vtySocket]
        if let namespace { arguments += ["-N", namespace] }
        for command in commands { arguments += ["-c", command] }
        guard let result = try await runSubprocess("/usr/bin/vtysh", arguments, environment: Self.environment, timeout: .seconds(20)) else {
            throw DataverketError(.unavailable, "vtysh on \(device) did not finish within 20 s")
        }
        guard result.status == 0 else {
            throw DataverketError(.unavailable, "vtysh on \(device) failed: \(firstLine(result.stderr.split(separator: "\n").filter { !$0.contains("vtysh.conf") }.joined(separator: "\n")))")
        }
        return result.stdout
    }

    private func reload(_ config: String, test: Bool) async throws -> SubprocessResult {
        // frr-reload.py compares with the whole running configuration: without the namespaces' VRF stanzas it would
        // delete them (`no netns …`).
        let config = Self.withNamespaceVRFs(config, Self.namespaceVRFs(try await vtysh(["show running-config"])))
        let path = try temporaryFile("frr", config)
        let confdir = FileManager.default.temporaryDirectory.path
        defer { try? FileManager.default.removeItem(atPath: path) }
        var arguments = ["/usr/lib/frr/frr-reload.py", test ? "--test" : "--reload", "--stdout", "--confdir", confdir,
                         "--rundir", runDirectory, "--vty_socket", vtySocket]
        if let namespace { arguments += ["-N", namespace] }
        arguments.append(path)
        guard let result = try await runSubprocess("/usr/bin/python3", arguments, environment: Self.environment, timeout: .seconds(60)) else {
            throw DataverketError(.unavailable, "frr-reload.py on \(device) did not finish within 60 s")
        }
        return result
    }

    public func facts() async throws -> [String: String] {
        let version = try await vtysh(["show version"])
        return ["device": device, "platform": "frr", "version": firstLine(version), "namespace": namespace ?? "-"]
    }

    /// `show running-config` without vtysh's banner, the version and hostname lines (namespaces share the host
    /// name), the namespaces the netns VRF backend shows as VRFs, and with IP forwarding stated either way (FRR omits
    /// it when it is on, frr-reload needs it stated).
    public func read() async throws -> String {
        let text = try await vtysh(["show running-config"])
        var lines: [String] = []
        for raw in text.split(separator: "\n", omittingEmptySubsequences: false) {
            let line = String(raw)
            if line.hasPrefix("Building configuration") || line.hasPrefix("Current configuration") || line.hasPrefix("frr version")
                || line.hasPrefix("hostname ") || line == "end" || line.isEmpty {
                continue
            }
            lines.append(line)
        }
        lines = Self.withoutNamespaceVRFs(lines)
        for family in ["ip", "ipv6"] where !lines.contains("\(family) forwarding") && !lines.contains("no \(family) forwarding") {
            let index = lines.firstIndex { $0.hasPrefix("frr defaults") }.map { $0 + 1 } ?? 0
            lines.insert("\(family) forwarding", at: index)
        }
        return lines.joined(separator: "\n") + "\n"
    }

    public func check(_ candidate: String) async throws {
        let result = try await reload(candidate, test: true)
        guard result.status == 0 else {
            throw DataverketError.invalid("candidate", "FRR refuses the candidate for \(device): \(firstLine(result.stderr + result.stdout))")
        }
    }

    public func load(_ config: String) async throws {
        let result = try await reload(config, test: false)
        guard result.status == 0 else {
            throw DataverketError(.unavailable, "frr-reload.py could not apply the configuration on \(device): \(firstLine(result.stderr))")
        }
    }

    /// With the netns VRF backend (`zebra -n`) FRR shows every network namespace of the machine as a VRF:
    /// `vrf NAME` / ` netns /run/netns/NAME` / `exit-vrf`. Those are the machine's, not configuration.
    public static func namespaceVRFs(_ running: String) -> [(name: String, netns: String)] {
        let lines = running.split(separator: "\n").map(String.init)
        var found: [(name: String, netns: String)] = []
        for (index, line) in lines.enumerated() where line.hasPrefix("vrf ") && index + 1 < lines.count {
            let next = lines[index + 1].trimmingCharacters(in: .whitespaces)
            if next.hasPrefix("netns ") { found.append((String(line.dropFirst(4)), String(next.dropFirst(6)))) }
        }
        return found
    }

    /// The configuration without the `netns` lines, and without VRF stanzas left empty by their removal.
    public static func withoutNamespaceVRFs(_ lines: [String]) -> [String] {
        var out: [String] = []
        var index = 0
        while index < lines.count {
            let line = lines[index]
            if line.hasPrefix("vrf "), index + 1 < lines.count, lines[index + 1].trimmingCharacters(in: .whitespaces).hasPrefix("netns ") {
                if index + 2 < lines.count, lines[index + 2] == "exit-vrf" {
                    index += 3
                    if index < lines.count, lines[index] == "!" { index += 1 }
                    continue
                }
                out.append(line)
                index += 2
                continue
            }
            out.append(line)
            index += 1
        }
        return out
    }

    /// `config` with each namespace's VRF stanza: its `netns` line added to the stanza the configuration has, or a
    /// stanza of its own appended.
    public static func withNamespaceVRFs(_ config: String, _ vrfs: [(name: String, netns: String)]) -> String {
        guard !vrfs.isEmpty else { return config }
        var lines = config.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        if lines.last == "" { lines.removeLast() }
        for vrf in vrfs {
            if let index = lines.firstIndex(of: "vrf \(vrf.name)") {
                lines.insert(" netns \(vrf.netns)", at: index + 1)
            } else {
                lines += ["vrf \(vrf.name)", " netns \(vrf.netns)", "exit-vrf", "!"]
            }
        }
        return lines.joined(separator: "\n") + "\n"
    }

    /// Each line with the stanzas it is in (`router bgp 65010 › address-family ipv4 unicast › network 192.0.2.0/26`),
    /// without `!`, `exit` and `exit-address-family`: order-free and comparable.
    public func normalize(_ text: String) -> [String] { Self.paths(text) }

    public func merged(_ candidate: String, into running: String) throws(DataverketError) -> String {
        Self.mergedConfig(candidate, into: running)
    }

    /// Merge: each top-level stanza of the candidate (`interface mgmt`, `router bgp 65010`, …) replaces the running
    /// one with the same header, and each global line its counterpart (`ip forwarding` ↔ `no ip forwarding`,
    /// `frr defaults …`); what the candidate does not mention stays.
    public static func mergedConfig(_ candidate: String, into running: String) -> String {
        func blocks(_ text: String) -> [(key: String, lines: [String])] {
            var blocks: [(key: String, lines: [String])] = []
            for raw in text.split(separator: "\n") {
                let line = String(raw)
                let bare = line.trimmingCharacters(in: .whitespaces)
                if bare.isEmpty || bare == "!" || bare == "end" { continue }
                let closer = ["exit", "exit-vrf", "exit-address-family"].contains(bare)
                if line.first != " " && !closer || blocks.isEmpty {
                    var key = bare.hasPrefix("no ") ? String(bare.dropFirst(3)) : bare
                    if key.hasPrefix("frr defaults") { key = "frr defaults" }
                    blocks.append((key, [line]))
                } else {
                    blocks[blocks.count - 1].lines.append(line)
                }
            }
            return blocks
        }
        var merged = blocks(running)
        for block in blocks(candidate) {
            if let index = merged.firstIndex(where: { $0.key == block.key }) { merged[index] = block } else { merged.append(block) }
        }
        return merged.map { $0.lines.joined(separator: "\n") + ($0.lines.count > 1 ? "\n!" : "") }.joined(separator: "\n") + "\n"
    }

    public static func paths(_ text: String) -> [String] {
        var stack: [(indent: Int, line: String)] = []
        var out: [String] = []
        for raw in text.split(separator: "\n") {
            let indent = raw.prefix { $0 == " " }.count
            let line = raw.trimmingCharacters(in: .whitespaces)
            if line.isEmpty || line == "!" || line == "end" || line.hasPrefix("frr version") || line.hasPrefix("hostname ") { continue }
            if line == "exit" || line == "exit-address-family" || line == "exit-vrf" {
                stack.removeAll { $0.indent >= indent }
                continue
            }
            while let last = stack.last, last.indent >= indent { stack.removeLast() }
            out.append((stack.map(\.line) + [line]).joined(separator: " › "))
            if Self.opensStanza(line) { stack.append((indent, line)) }
        }
        return out
    }

    static func opensStanza(_ line: String) -> Bool {
        ["interface ", "router ", "address-family ", "vrf ", "route-map ", "line vty", "key chain "].contains { line.hasPrefix($0) }
    }
}

public typealias FRRDriver = ReplaceDriver<FRRouting>
