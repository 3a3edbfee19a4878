import ArgumentParser

/// `dvce machine release NAME`
struct MachineRelease: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "release", abstract: "Release a machine: allocated → available; deployed → releasing (power off) → wiping → available.")
    @OptionGroup var options: MachineActionOptions
    @OptionGroup var global: GlobalOptions

    func run() async throws {
        try await MachineActionRun.run(.release, options, global)
    }
}
