import Foundation
import DataverketCore
import DataverketProcess

import NettIntent

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
