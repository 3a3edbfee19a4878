import ArgumentParser
import DataverketClient
import Foundation
import NettIntent

/// `dvnet plan -f INTENT.yaml [--current CURRENT.yaml]`
struct NetworkPlanCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "plan",
        abstract: "Verify a network intent on the server and show what it would change: objects, reachability, each device's configuration.",
        discussion: "Nothing is applied. Without --current the intent applied last is the baseline. Device diffs come from reading the devices back.")
    @Option(name: .shortAndLong, help: "The intent (YAML or JSON).") var file: String
    @Option(help: "The intent to compare with (default: the one applied last).") var current: String?
    @OptionGroup var global: GlobalOptions

    static func load(_ path: String) throws -> Components.Schemas.NetworkObject {
        guard let data = FileManager.default.contents(atPath: path), data.count <= 16 << 20 else {
            throw ValidationError("cannot read \(path) (or it is larger than 16 MiB)")
        }
        let intent = try NetworkIntent.load(yaml: String(decoding: data, as: UTF8.self), source: path)
        return try JSONDecoder().decode(Components.Schemas.NetworkObject.self, from: try JSONEncoder().encode(intent))
    }

    func run() async throws {
        let body = Components.Schemas.NetworkPlanRequest(intent: try Self.load(file), current: try current.map(Self.load))
        let plan = try await global.api().call { try await $0.planNetworkIntent(body: .json(body)).ok.body.json }
        guard global.output == .table else { return Terminal.write(global.output == .json ? try Render.json(plan) : try Render.yaml(plan)) }
        let values = try InventoryValue.dictionary(plan)
        var lines = ["intent verified: no problems"]
        let changes = values["changes"] as? [String] ?? []
        let against = (values["against"] as? String).map { ["applied": "the intent applied last", "current": "--current", "nothing": "nothing applied yet"][$0] ?? $0 } ?? "nothing applied yet"
        lines.append(changes.isEmpty ? "no changes against \(against)" : "changes against \(against):")
        lines += changes.map { "  " + $0 }
        let matrix = (values["matrix"] as? [String: Any])?["allowed"] as? [String: [String: [String]]] ?? [:]
        var rows: [[String]] = []
        for (from, row) in matrix.sorted(by: { $0.key < $1.key }) {
            for (to, flows) in row.sorted(by: { $0.key < $1.key }) { rows.append([from, to, flows.joined(separator: ",")]) }
        }
        lines.append(rows.isEmpty ? "reachability: every network isolated" : Render.table(rows, headers: ["FROM", "TO", "FLOWS"]))
        for (label, key) in [("opens", "opened"), ("closes", "closed")] {
            for line in values[key] as? [String] ?? [] { lines.append("\(label == "opens" ? "+" : "-") \(label): \(line)") }
        }
        for step in values["devices"] as? [[String: Any]] ?? [] {
            let diff = step["diff"] as? [String] ?? []
            let state = step["state"] as? String ?? "?"
            let summary = step["error"] as? String ?? (diff.isEmpty ? "no change" : "\(diff.count) line\(diff.count == 1 ? "" : "s") change")
            lines.append("\(step["device"] as? String ?? "?") (\(step["driver"] as? String ?? "?")): \(state == "failed" ? "FAILED " : "")\(summary)")
            lines += diff.map { "    " + $0 }
        }
        Terminal.write(lines.joined(separator: "\n"))
    }
}
