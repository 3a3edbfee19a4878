import ArgumentParser

/// `dvce machine unrescue NAME`
struct MachineUnrescue: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "unrescue", abstract: "Leave rescue: back to deployed.")
    @OptionGroup var options: MachineActionOptions
    @OptionGroup var global: GlobalOptions

    func run() async throws {
        try await MachineActionRun.run(.unrescue, options, global)
    }
}
