import ArgumentParser

/// `dvce machine retire NAME`
struct MachineRetire: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "retire", abstract: "Retire a machine for good (terminal).")
    @OptionGroup var options: MachineActionOptions
    @OptionGroup var global: GlobalOptions

    func run() async throws {
        try await MachineActionRun.run(.retire, options, global)
    }
}
