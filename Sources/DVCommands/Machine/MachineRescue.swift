import ArgumentParser

/// `dvce machine rescue NAME`
struct MachineRescue: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "rescue", abstract: "Boot a deployed machine into the rescue environment.")
    @OptionGroup var options: MachineActionOptions
    @OptionGroup var global: GlobalOptions

    func run() async throws {
        try await MachineActionRun.run(.rescue, options, global)
    }
}
