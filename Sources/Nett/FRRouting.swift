import Foundation
import DataverketCore
import DataverketProcess

import NettIntent

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
