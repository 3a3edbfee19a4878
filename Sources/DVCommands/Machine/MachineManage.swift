import ArgumentParser

/// `dvce machine manage NAME`
struct MachineManage: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "manage", abstract: "Take an available machine back to manageable (to inspect it again).")
    @OptionGroup var options: MachineActionOptions
    @OptionGroup var global: GlobalOptions

    func run() async throws {
        try await MachineActionRun.run(.manage, options, global)
    }
}
