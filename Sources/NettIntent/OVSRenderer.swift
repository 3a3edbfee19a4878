import Foundation
import DataverketCore

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
    public static func parse(_ text: String, device: String) throws(DataverketError) -> [OVSPort] {
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
