import ArgumentParser
import DataverketClient
import Foundation

/// What every lifecycle-action subcommand shares: the machine argument, `--wait`, and how the result prints.
struct MachineActionOptions: ParsableArguments {
    @Argument(help: "Machine name or ID.") var machine: String
    @Flag(help: "Wait for the step's task to finish (exits non-zero unless it succeeded).") var wait = false
    @OptionGroup var waitOptions: WaitOptions
}

enum MachineActionRun {
    typealias Action = Components.Schemas.MachineActionRequest.ActionPayload

    /// Posts the action and prints the machine's new state and its task (waiting for it with `--wait`).
    static func run(_ action: Action, _ options: MachineActionOptions, _ global: GlobalOptions,
                    role: Components.Schemas.MachineActionRequest.RolePayload? = nil, cluster: String? = nil,
                    reason: String? = nil, networks: [String]? = nil) async throws {
        let api = try await global.api()
        let request = Components.Schemas.MachineActionRequest(action: action, role: role, cluster: cluster, reason: reason,
                                                              networks: networks)
        let result = try await api.call {
            try await $0.actOnMachine(path: .init(machine: options.machine), body: .json(request)).ok.body.json
        }
        try report(result, global, options: options, api: api)
        if options.wait, let task = result.task {
            try await options.waitOptions.wait(for: task.id, api: api, format: global.output)
        }
    }

    static func report(_ result: Components.Schemas.MachineActionResult, _ global: GlobalOptions, options: MachineActionOptions?,
                       api: API) throws {
        guard global.output == .table else {
            return Terminal.write(global.output == .json ? try Render.json(result) : try Render.yaml(result))
        }
        let values = try InventoryValue.dictionary(result.machine)
        var line = "machine \(InventoryValue.cell(values["name"])) is \(MachineText.state(values["state"]))"
        if let task = result.task {
            line += "; task \(task.id) (\(task.kind))"
            if options?.wait != true { line += " — follow it with: dv task wait \(task.id)" }
        }
        Terminal.write(line)
    }
}

/// Human renderings of Maskin's JSON.
enum MachineText {
    /// `deploying`, `failed(deploy): reason`, `maintenance: reason`.
    static func state(_ value: Any?) -> String {
        guard let state = value as? [String: Any], let name = state["name"] as? String else { return InventoryValue.cell(value) }
        switch name {
        case "failed": return "failed(\(InventoryValue.cell(state["step"]))): \(InventoryValue.cell(state["reason"]))"
        case "maintenance": return "maintenance: \(InventoryValue.cell(state["reason"]))"
        default: return name
        }
    }

    static let columns: [(header: String, path: String)] = [
        ("NAME", "name"), ("STATE", "state.name"), ("POWER", "power"), ("MAC", "mac"), ("BMC", "bmc.address"),
        ("CLUSTER", "cluster"), ("ROLE", "role"), ("TASK", "taskID"),
    ]
}
