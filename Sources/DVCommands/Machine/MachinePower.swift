import ArgumentParser
import DataverketClient

/// `dvce machine power on|off|soft-off|cycle NAME`
struct MachinePower: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "power", abstract: "Power a machine on, off, soft-off or cycle it through its BMC (a task).")
    @Argument(help: "on, off, soft-off or cycle.") var action: String
    @OptionGroup var options: MachineActionOptions
    @OptionGroup var global: GlobalOptions

    func validate() throws {
        guard Components.Schemas.MachinePowerRequest.ActionPayload(rawValue: action) != nil else {
            throw ValidationError("power action must be on, off, soft-off or cycle, got '\(action)'")
        }
    }

    func run() async throws {
        let api = try await global.api()
        let body = Components.Schemas.MachinePowerRequest(action: .init(rawValue: action)!)
        let result = try await api.call {
            try await $0.powerMachine(path: .init(machine: options.machine), body: .json(body)).accepted.body.json
        }
        try MachineActionRun.report(result, global, options: options, api: api)
        if options.wait, let task = result.task {
            try await options.waitOptions.wait(for: task.id, api: api, format: global.output)
        }
    }
}
