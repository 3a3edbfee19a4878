import Foundation
import DataverketCore
import DataverketProcess
import Logging
import NettIntent

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
