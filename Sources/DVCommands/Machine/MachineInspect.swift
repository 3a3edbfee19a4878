import ArgumentParser

/// `dvce machine inspect NAME`
struct MachineInspect: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "inspect", abstract: "Read hardware facts from the BMC into the machine (manageable → inspecting → available).")
    @OptionGroup var options: MachineActionOptions
    @OptionGroup var global: GlobalOptions

    func run() async throws {
        try await MachineActionRun.run(.inspect, options, global)
    }
}
