import ArgumentParser

/// `dvce machine provide NAME`
struct MachineProvide: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "provide", abstract: "Wipe a manageable machine and make it available (manageable → wiping → available).")
    @OptionGroup var options: MachineActionOptions
    @OptionGroup var global: GlobalOptions

    func run() async throws {
        try await MachineActionRun.run(.provide, options, global)
    }
}
