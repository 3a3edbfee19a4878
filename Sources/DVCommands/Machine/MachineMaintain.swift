import ArgumentParser

/// `dvce machine maintain NAME --reason TEXT`
struct MachineMaintain: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "maintain", abstract: "Put a machine into maintenance (out of service) with a reason.")
    @OptionGroup var options: MachineActionOptions
    @Option(help: "Why (one line, shown with the state).") var reason: String
    @OptionGroup var global: GlobalOptions

    func run() async throws {
        try await MachineActionRun.run(.maintain, options, global, reason: reason)
    }
}
