import Foundation
import DataverketCore

/// Renders the firewall part of an intent for a border router: an nftables `inet` table whose forward chain drops
/// by default, accepts established and related traffic, and accepts exactly the flows of the verified reachability
/// matrix (so a `deny` or a VRF boundary never turns into an accept); the default drop is a counted rule at the end.
public struct NftablesRenderer: ConfigRenderer {
    public var platform: String { "nftables" }
    public let table: String

    public init(table: String = "dataverket") {
        self.table = table
    }

    public func render(_ intent: NetworkIntent, device: String) throws(DataverketError) -> String {
        try intent.requireDevice(device)
        let matrix = IntentVerifier.reachability(intent)
        var prefixes: [String: CIDR] = [:]
        for network in intent.networks { prefixes[network.name] = CIDR(network.prefix) }
        let internal4 = prefixes.values.filter { $0.family == .v4 }.map(\.description).sorted()
        let internal6 = prefixes.values.filter { $0.family == .v6 }.map(\.description).sorted()
        var lines = ["table inet \(table) {"]
        if !internal4.isEmpty {
            lines += ["\tset internal4 {", "\t\ttype ipv4_addr", "\t\tflags interval", "\t\telements = { \(internal4.joined(separator: ", ")) }", "\t}"]
        }
        if !internal6.isEmpty {
            lines += ["\tset internal6 {", "\t\ttype ipv6_addr", "\t\tflags interval", "\t\telements = { \(internal6.joined(separator: ", ")) }", "\t}"]
        }
        lines += ["\tchain forward {", "\t\ttype filter hook forward priority filter; policy drop;",
                  "\t\tct state established,related accept", "\t\tct state invalid drop"]
        for (from, row) in matrix.allowed.sorted(by: { $0.key < $1.key }) {
            for (to, flows) in row.sorted(by: { $0.key < $1.key }) {
                for flow in flows {
                    if let rule = Self.rule(from: from, to: to, flow: flow, prefixes: prefixes, v4: !internal4.isEmpty, v6: !internal6.isEmpty) {
                        lines.append("\t\t\(rule) accept comment \"\(from) -> \(to) \(flow)\"")
                    }
                }
            }
        }
        // What falls through is dropped by the chain's policy; this last rule counts it first, so a probe expected to be
        // blocked can show that the firewall dropped it (Nett's `ProbeRunner` reads the counter around the probe).
        lines += ["\t\tcounter drop comment \"\(Self.defaultDropComment)\"", "\t}", "}"]
        return lines.joined(separator: "\n") + "\n"
    }

    /// The comment on the forward chain's last rule, the counted default drop.
    public static let defaultDropComment = "default drop"

    static func rule(from: String, to: String, flow: String, prefixes: [String: CIDR], v4: Bool, v6: Bool) -> String? {
        let source = prefixes[from], target = prefixes[to]
        let family = source?.family ?? target?.family
        guard let family, source == nil || target == nil || source?.family == target?.family else { return nil }
        let ip = family == .v4 ? "ip" : "ip6"
        let set = family == .v4 ? "@internal4" : "@internal6"
        var match: [String] = []
        match.append(source.map { "\(ip) saddr \($0)" } ?? "\(ip) saddr != \(set)")
        match.append(target.map { "\(ip) daddr \($0)" } ?? "\(ip) daddr != \(set)")
        switch flow {
        case "any": break
        case "icmp": match.append(family == .v4 ? "meta l4proto icmp" : "meta l4proto ipv6-icmp")
        default:
            let parts = flow.split(separator: "/")
            if parts.count == 2 { match.append("\(parts[0]) dport \(parts[1])") } else { match.append("meta l4proto \(flow)") }
        }
        return match.joined(separator: " ")
    }
}
