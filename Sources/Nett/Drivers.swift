import Foundation
import DataverketCore
import NettIntent
import DataverketProcess

/// How a staged candidate relates to what runs.
/// `replace`: the candidate is the whole configuration. `merge`: it is added to what runs — the platform decides
/// what an object of the candidate replaces (an OVS port, an FRR top-level stanza); everything it does not
/// mention stays.
public enum StageMode: String, Sendable, Codable { case merge, replace }

/// One device, driven the way NAPALM drives them: facts and running configuration, a staged candidate with its
/// diff, commit (optionally confirmed within a time, else rolled back by itself), confirm, rollback, discard.
/// Where a platform has no confirmed commit, the driver emulates it (checkpoint, timer, rollback).
public protocol NetworkDriver: Sendable {
    var device: String { get }
    func facts() async throws -> [String: String]
    func runningConfig() async throws -> String
    func stage(_ candidate: String, mode: StageMode) async throws
    /// Lines removed (`-`) and added (`+`) by the staged candidate; empty when nothing would change.
    func diff() async throws -> [String]
    /// What `candidate` would change, checked by the platform like a staged one, without staging it: a plan never
    /// disturbs a rollout that has its own candidate staged on the same driver.
    func compare(_ candidate: String) async throws -> [String]
    func commit(confirmWithin: Duration?) async throws
    func confirm() async throws
    func rollback() async throws
    func discard() async throws
    /// Loads a configuration recorded earlier — a checkpoint stored by a process that died before it could confirm
    /// or roll back — as a rollback would: unchecked, no timer, whatever is staged or pending dropped.
    func restore(_ config: String) async throws
    /// NAPALM's normalized getters (Getters.swift); empty where the platform has no such notion.
    func interfaces() async throws -> [InterfaceState]
    func vlans() async throws -> [VLANMembership]
    func macTable() async throws -> [MACEntry]
    func bgpNeighbors() async throws -> [BGPNeighbor]
    func routes() async throws -> [RouteEntry]
}

/// What a replace-style platform offers the generic driver: read what runs, check a candidate without applying it,
/// and replace what runs with a configuration in one step. Confirmed commit, rollback and the diff are built on top
/// of these by `ReplaceDriver` (checkpoint, timer, rollback), for platforms that have no confirmed commit of their own.
public protocol ConfigBackend: Sendable {
    var device: String { get }
    func facts() async throws -> [String: String]
    /// The running configuration in the renderer's format ("" when there is none).
    func read() async throws -> String
    /// Refuses a candidate the platform would not accept, with the platform's reason.
    func check(_ candidate: String) async throws
    /// Replaces the running configuration with `config` as one transaction.
    func load(_ config: String) async throws
    /// The lines that count when comparing configurations (what the platform adds by itself is dropped).
    func normalize(_ text: String) -> [String]
    /// The whole configuration that merging `candidate` into `running` gives; platforms without merge refuse.
    func merged(_ candidate: String, into running: String) throws(DataverketError) -> String
    /// The normalized getters; each defaults to nothing (Getters.swift).
    func interfaces() async throws -> [InterfaceState]
    func vlans() async throws -> [VLANMembership]
    func macTable() async throws -> [MACEntry]
    func bgpNeighbors() async throws -> [BGPNeighbor]
    func routes() async throws -> [RouteEntry]
}

extension ConfigBackend {
    public func merged(_ candidate: String, into running: String) throws(DataverketError) -> String {
        throw DataverketError.invalid("mode", "the driver for \(device) replaces its configuration as a whole; merge is not supported")
    }
}

/// A `NetworkDriver` over a replace-style `ConfigBackend`: the candidate is staged after the platform checked it,
/// a commit records a checkpoint first and, with `confirmWithin`, rolls itself back unless confirmed in time.
public actor ReplaceDriver<Backend: ConfigBackend>: NetworkDriver {
    public nonisolated let device: String
    public let backend: Backend
    private var candidate: String?
    private var checkpoint: String?
    private var confirmTimer: Task<Void, Never>?
    private var lastRollbackError: String?

    public init(_ backend: Backend) {
        self.backend = backend
        self.device = backend.device
    }

    public func facts() async throws -> [String: String] { try await backend.facts() }

    public func runningConfig() async throws -> String { try await backend.read() }

    /// A merge is turned into the whole configuration it gives (the platform's `merged`), so diff, commit,
    /// confirm and rollback work the same for both modes.
    public func stage(_ candidate: String, mode: StageMode) async throws {
        let full = mode == .replace ? candidate : try backend.merged(candidate, into: try await backend.read())
        try await backend.check(full)
        self.candidate = full
    }

    public func diff() async throws -> [String] {
        guard let candidate else { return [] }
        return lineDiff(backend.normalize(try await backend.read()), backend.normalize(candidate))
    }

    public func compare(_ candidate: String) async throws -> [String] {
        try await backend.check(candidate)
        return lineDiff(backend.normalize(try await backend.read()), backend.normalize(candidate))
    }

    public func commit(confirmWithin: Duration?) async throws {
        guard let candidate else { throw DataverketError(.conflict, "nothing is staged on \(device)") }
        let running = try await backend.read()
        try await backend.load(candidate)
        checkpoint = running
        self.candidate = nil
        confirmTimer?.cancel()
        confirmTimer = nil
        if let confirmWithin {
            confirmTimer = Task { [weak self] in
                try? await Task.sleep(for: confirmWithin)
                guard !Task.isCancelled else { return }
                await self?.rollbackUnconfirmed()
            }
        }
    }

    private func rollbackUnconfirmed() async {
        // This runs in the timer's own task: forget it first, so rollback() does not cancel the task it runs in.
        confirmTimer = nil
        do {
            try await rollback()
        } catch {
            lastRollbackError = "\(error)"
        }
    }

    public func confirm() async throws {
        guard let timer = confirmTimer else { throw DataverketError(.conflict, "no commit on \(device) waits for confirmation") }
        timer.cancel()
        confirmTimer = nil
    }

    /// Goes back to what ran before the last commit.
    public func rollback() async throws {
        confirmTimer?.cancel()
        confirmTimer = nil
        guard let checkpoint else { throw DataverketError(.conflict, "no commit on \(device) to roll back") }
        try await backend.load(checkpoint)
        self.checkpoint = nil
    }

    public func discard() async throws {
        candidate = nil
    }

    public func interfaces() async throws -> [InterfaceState] { try await backend.interfaces() }
    public func vlans() async throws -> [VLANMembership] { try await backend.vlans() }
    public func macTable() async throws -> [MACEntry] { try await backend.macTable() }
    public func bgpNeighbors() async throws -> [BGPNeighbor] { try await backend.bgpNeighbors() }
    public func routes() async throws -> [RouteEntry] { try await backend.routes() }

    public func restore(_ config: String) async throws {
        confirmTimer?.cancel()
        confirmTimer = nil
        candidate = nil
        checkpoint = nil
        try await backend.load(config)
    }

    /// Whether a timer-driven rollback failed (and why).
    public var rollbackError: String? { lastRollbackError }
}

/// nftables on Linux, one table (`inet dataverket`), in a network namespace or the host's: a candidate is applied
/// atomically with `nft -f` (the table is deleted and recreated in one transaction), checked with `nft -c`, read back
/// with `nft list` / `nft -j`.
public struct Nftables: ConfigBackend {
    public let device: String
    public let namespace: String?
    public let table: String
    /// Where VRFs are network namespaces (the lab: FRR's netns VRF backend), the table goes into each of them too:
    /// traffic routed inside a VRF never passes the router's own namespace.
    public let vrfNamespaces: [String]

    public init(device: String, namespace: String?, table: String = "dataverket", vrfNamespaces: [String] = []) {
        self.device = device
        self.namespace = namespace
        self.table = table
        self.vrfNamespaces = vrfNamespaces
    }

    private func nft(_ arguments: [String], in namespace: String?) async throws -> SubprocessResult {
        try await runInNamespace(namespace, "/usr/sbin/nft", arguments, device: device)
    }

    private func nft(_ arguments: [String]) async throws -> SubprocessResult {
        try await nft(arguments, in: namespace)
    }

    public func facts() async throws -> [String: String] {
        let version = try await nft(["--version"])
        return ["device": device, "platform": "nftables", "version": version.stdout.trimmingCharacters(in: .whitespacesAndNewlines),
                "namespace": namespace ?? "-", "table": "inet \(table)"]
    }

    /// The table as nft prints it; empty when there is none. A VRF namespace whose table differs adds a comment
    /// line saying so, which makes it drift.
    public func read() async throws -> String {
        var text = try await read(in: namespace)
        let expected = Self.canonical(text)
        for vrf in vrfNamespaces where Self.canonical(try await read(in: vrf)) != expected {
            text += "# the table in VRF namespace \(vrf) differs\n"
        }
        return text
    }

    private func read(in namespace: String?) async throws -> String {
        let result = try await nft(["list", "table", "inet", table], in: namespace)
        if result.status != 0 {
            if result.stderr.contains("No such file or directory") { return "" }
            throw DataverketError(.unavailable, "nft list on \(device)\(namespace.map { " (\($0))" } ?? "") failed: \(firstLine(result.stderr))")
        }
        return result.stdout
    }

    /// The rules of the table's chains as nft's JSON reports them (`nft -j`): chain name and rule handle per rule.
    public func rules() async throws -> [(chain: String, handle: Int, comment: String?)] {
        let result = try await nft(["-j", "list", "table", "inet", table])
        guard result.status == 0 else { return [] }
        guard let object = try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any],
              let items = object["nftables"] as? [[String: Any]] else {
            throw DataverketError(.unavailable, "nft -j on \(device) printed something that is not nftables JSON")
        }
        return items.compactMap { item in
            guard let rule = item["rule"] as? [String: Any], let chain = rule["chain"] as? String, let handle = rule["handle"] as? Int else {
                return nil
            }
            return (chain, handle, rule["comment"] as? String)
        }
    }

    public func check(_ candidate: String) async throws {
        guard candidate.contains("table inet \(table)") else {
            throw DataverketError.invalid("candidate", "the candidate must define table inet \(table)")
        }
        let check = try await replace(with: candidate, dryRun: true, in: namespace)
        guard check.status == 0 else {
            throw DataverketError.invalid("candidate", "nft refuses the candidate for \(device): \(firstLine(check.stderr))")
        }
    }

    /// Replaces the table in the router's namespace, then in each VRF namespace (each atomically).
    public func load(_ config: String) async throws {
        for target in [namespace] + vrfNamespaces.map(Optional.some) {
            let result = try await replace(with: config, dryRun: false, in: target)
            guard result.status == 0 else {
                throw DataverketError(.unavailable, "nft could not apply the configuration on \(device)\(target.map { " (\($0))" } ?? ""): \(firstLine(result.stderr))")
            }
        }
    }

    /// Replaces the table in `target` atomically: the script declares it (so the delete never fails), deletes it,
    /// recreates it.
    private func replace(with config: String, dryRun: Bool, in target: String?) async throws -> SubprocessResult {
        let path = try temporaryFile("nft", "table inet \(table)\ndelete table inet \(table)\n" + config)
        defer { try? FileManager.default.removeItem(atPath: path) }
        return try await nft(dryRun ? ["-c", "-f", path] : ["-f", path], in: target)
    }

    public func normalize(_ text: String) -> [String] { Self.canonical(text) }

    /// nft's listing, comparable with the renderer's: lines trimmed, a set's `elements = { … }` (which nft wraps and
    /// reorders) on one line in sorted order, a counter's running totals (`counter packets N bytes M`) left out.
    public static func canonical(_ text: String) -> [String] {
        var lines: [String] = []
        var pending: String?
        for line in significantLines(text).map(withoutCounterTotals) {
            if var open = pending {
                open += " " + line
                pending = open.contains("}") ? nil : open
                if pending == nil { lines.append(sortedElements(open)) }
            } else if line.hasPrefix("elements = {") && !line.contains("}") {
                pending = line
            } else {
                lines.append(line.hasPrefix("elements = {") ? sortedElements(line) : line)
            }
        }
        if let pending { lines.append(pending) }
        return lines
    }

    /// `counter packets 12 bytes 1008 drop` → `counter drop`: what a counter has counted is state, not configuration.
    public static func withoutCounterTotals(_ line: String) -> String {
        line.replacing(#/counter packets \d+ bytes \d+/#, with: "counter")
    }

    /// Packets the forward chain's default drop (`NftablesRenderer`'s counted last rule) has dropped so far, summed over
    /// the router's namespace and its VRF namespaces; 0 where the table or the rule is missing.
    public func defaultDrops() async throws -> Int {
        var total = 0
        for target in [namespace] + vrfNamespaces.map(Optional.some) {
            let result = try await nft(["-j", "list", "chain", "inet", table, "forward"], in: target)
            guard result.status == 0 else { continue }
            total += Self.defaultDrops(json: result.stdout)
        }
        return total
    }

    /// The default drop's packet counter in `nft -j list chain …` output.
    public static func defaultDrops(json: String) -> Int {
        guard let object = try? JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any],
              let items = object["nftables"] as? [[String: Any]] else { return 0 }
        var total = 0
        for item in items {
            guard let rule = item["rule"] as? [String: Any], rule["comment"] as? String == NftablesRenderer.defaultDropComment,
                  let expressions = rule["expr"] as? [[String: Any]] else { continue }
            for expression in expressions {
                if let counter = expression["counter"] as? [String: Any], let packets = counter["packets"] as? Int { total += packets }
            }
        }
        return total
    }

    static func sortedElements(_ line: String) -> String {
        guard let open = line.firstIndex(of: "{"), let close = line.lastIndex(of: "}") else { return line }
        let items = line[line.index(after: open)..<close].split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
            .filter { !$0.isEmpty }.sorted()
        return "elements = { \(items.joined(separator: ", ")) }"
    }
}

public typealias NftablesDriver = ReplaceDriver<Nftables>

extension ReplaceDriver where Backend == Nftables {
    public init(device: String, namespace: String?, table: String = "dataverket", vrfNamespaces: [String] = []) {
        self.init(Nftables(device: device, namespace: namespace, table: table, vrfNamespaces: vrfNamespaces))
    }

    public func rules() async throws -> [(chain: String, handle: Int, comment: String?)] { try await backend.rules() }
}

/// Runs a tool in a network namespace (`ip netns exec`) or the host's, with a bounded wait.
func runInNamespace(_ namespace: String?, _ executable: String, _ arguments: [String], device: String,
                    timeout: Duration = .seconds(20)) async throws -> SubprocessResult {
    let full = namespace.map { ["netns", "exec", $0, executable] + arguments } ?? arguments
    guard let result = try await runSubprocess(namespace == nil ? executable : "/usr/sbin/ip", full,
                                               environment: ["PATH": "/usr/sbin:/usr/bin:/sbin:/bin"], timeout: timeout) else {
        throw DataverketError(.unavailable, "\(executable.split(separator: "/").last.map(String.init) ?? executable) on \(device) did not finish within \(timeout)")
    }
    return result
}

func temporaryFile(_ kind: String, _ contents: String) throws -> String {
    let path = FileManager.default.temporaryDirectory.appendingPathComponent("dv-\(kind)-\(ULID.make())").path
    guard FileManager.default.createFile(atPath: path, contents: Data(contents.utf8), attributes: [.posixPermissions: 0o600]) else {
        throw DataverketError(.internal, "cannot write a temporary \(kind) file")
    }
    return path
}

func significantLines(_ text: String) -> [String] {
    text.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
}

func firstLine(_ text: String) -> String {
    text.split(separator: "\n").first { !$0.trimmingCharacters(in: .whitespaces).isEmpty }.map(String.init) ?? "no output"
}

/// Lines only in `old` (`- …`) and only in `new` (`+ …`), in their order.
func lineDiff(_ old: [String], _ new: [String]) -> [String] {
    var remaining = Dictionary(new.map { ($0, 1) }, uniquingKeysWith: +)
    var removed: [String] = []
    for line in old {
        if let count = remaining[line], count > 0 { remaining[line] = count - 1 } else { removed.append("- " + line) }
    }
    var kept = Dictionary(old.map { ($0, 1) }, uniquingKeysWith: +)
    var added: [String] = []
    for line in new {
        if let count = kept[line], count > 0 { kept[line] = count - 1 } else { added.append("+ " + line) }
    }
    return removed + added
}
