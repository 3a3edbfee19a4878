import ArgumentParser
import DataverketClient
import Foundation

/// `dvnet apply -f INTENT.yaml [--device D]… [--confirm-within S] [--wait]`
struct NetworkApply: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "apply",
        abstract: "Apply a network intent as a changeset: verified first (nothing touched on a problem), then device by device with confirmed commits, probes from the intent, and rollback of every touched device when a probe fails.")
    @Option(name: .shortAndLong, help: "The intent (YAML or JSON).") var file: String
    @Option(name: .long, help: "Only this device (repeatable); default every device of the intent with a driver.") var device: [String] = []
    @Option(help: "Seconds each commit waits for the probes before it rolls itself back (5–3600).") var confirmWithin: Int = 120
    @Option(help: "Why (kept on the changeset).") var description: String?
    @Option(help: "Idempotency key: the same key returns the same changeset.") var idempotencyKey: String?
    @Flag(help: "Wait for the changeset's task and print its report (exits non-zero unless it was applied).") var wait = false
    @OptionGroup var waitOptions: WaitOptions
    @OptionGroup var global: GlobalOptions

    func validate() throws {
        guard (5...3600).contains(confirmWithin) else { throw ValidationError("--confirm-within must be 5–3600 seconds") }
    }

    func run() async throws {
        let body = Components.Schemas.NetworkChangesetRequest(intent: try NetworkPlanCommand.load(file), description: description,
                                                              devices: device.isEmpty ? nil : device, confirmWithin: confirmWithin)
        let api = try await global.api()
        let created = try await api.call {
            try await $0.createNetworkChangeset(headers: .init(idempotencyKey: idempotencyKey), body: .json(body)).accepted.body.json
        }
        try await ChangesetText.follow(created, wait: wait, waitOptions: waitOptions, api: api, global: global)
    }
}

/// How changesets print, and `--wait` for them.
enum ChangesetText {
    static let columns: [(header: String, path: String)] = [
        ("ID", "id"), ("KIND", "kind"), ("STATUS", "status"), ("BY", "createdBy"), ("TASK", "taskID"), ("DESCRIPTION", "description"),
    ]

    static func follow(_ changeset: Components.Schemas.NetworkObject, wait: Bool, waitOptions: WaitOptions, api: API,
                       global: GlobalOptions) async throws {
        let values = try InventoryValue.dictionary(changeset)
        let id = InventoryValue.cell(values["id"])
        if wait, let task = values["taskID"] as? String {
            do {
                try await waitOptions.wait(for: task, api: api, format: .yaml, quiet: true)
            } catch let failure as CommandFailure {
                let final = try await api.call { try await $0.getNetworkChangeset(path: .init(changeset: id)).ok.body.json }
                try show(final, global)
                throw failure
            }
            let final = try await api.call { try await $0.getNetworkChangeset(path: .init(changeset: id)).ok.body.json }
            return try show(final, global)
        }
        try show(changeset, global)
    }

    /// The changeset: status, the matrix diff, each device's plan or rollout step, failed probes.
    static func show(_ changeset: Components.Schemas.NetworkObject, _ global: GlobalOptions) throws {
        guard global.output == .table else {
            return Terminal.write(global.output == .json ? try Render.json(changeset) : try Render.yaml(changeset))
        }
        let values = try InventoryValue.dictionary(changeset)
        var lines = ["changeset \(InventoryValue.cell(values["id"])) (\(InventoryValue.cell(values["kind"]))): \(InventoryValue.cell(values["status"]))"
                     + ((values["taskID"] as? String).map { "; task \($0)" } ?? "")]
        for line in values["opened"] as? [String] ?? [] { lines.append("+ opens: \(line)") }
        for line in values["closed"] as? [String] ?? [] { lines.append("- closes: \(line)") }
        let report = values["report"] as? [String: Any]
        let steps = (report?["steps"] ?? values["plan"]) as? [[String: Any]] ?? []
        for step in steps {
            let diff = step["diff"] as? [String] ?? []
            lines.append("\(InventoryValue.cell(step["device"])) (\(InventoryValue.cell(step["driver"]))): \(InventoryValue.cell(step["state"]))"
                         + (diff.isEmpty ? "" : ", \(diff.count) line\(diff.count == 1 ? "" : "s") changed")
                         + ((step["error"] as? String).map { " — \($0)" } ?? ""))
            for line in diff.prefix(40) { lines.append("    \(line)") }
            if diff.count > 40 { lines.append("    … \(diff.count - 40) more") }
        }
        if let probes = report?["probes"] as? [[String: Any]], !probes.isEmpty {
            // `ok` is the server's verdict (a blocked probe also needs what blocked it and its target answering someone);
            // reports from before it existed compare expectation and outcome.
            let failed = probes.filter { probe in
                let expect = (probe["probe"] as? [String: Any])?["expect"] as? Bool
                return (probe["ok"] as? Bool).map { !$0 } ?? (expect != probe["passed"] as? Bool)
            }
            lines.append("probes: \(probes.count - failed.count)/\(probes.count) as intended")
            for probe in failed {
                let p = probe["probe"] as? [String: Any] ?? [:]
                let expect = (p["expect"] as? Bool) == true
                let why = (probe["error"] as? String)
                    ?? (expect || probe["passed"] as? Bool == true ? nil
                        : (probe["blockedBy"] as? String).map { blocked in
                            probe["targetAnswered"] == nil ? "\(blocked), but the target answered nobody in this run" : blocked
                        } ?? "no answer, and nothing showed what blocked it")
                lines.append("  FAILED \(InventoryValue.cell(p["from"])) → \(InventoryValue.cell(p["to"])) \(InventoryValue.cell(p["flow"])): expected \(expect ? "to pass" : "to be blocked")"
                             + (why.map { " — \($0)" } ?? ""))
            }
        }
        if let failure = report?["failure"] as? String { lines.append("failure: \(failure)") }
        if let seconds = report?["seconds"] as? Double { lines.append(String(format: "took %.1f s", seconds)) }
        Terminal.write(lines.joined(separator: "\n"))
    }
}
