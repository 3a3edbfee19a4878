import ArgumentParser

/// `dvce machine unmaintain NAME`
struct MachineUnmaintain: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "unmaintain", abstract: "Take a machine out of maintenance (quarantine) back to manageable, resetting its failed-deploy count.")
    @OptionGroup var options: MachineActionOptions
    @OptionGroup var global: GlobalOptions

    func run() async throws {
        try await MachineActionRun.run(.unmaintain, options, global)
    }
}
