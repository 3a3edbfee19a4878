import ArgumentParser

/// `dvce machine verify NAME`
struct MachineVerify: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "verify", abstract: "Verify the BMC again (enrolled or failed verification → verifying).")
    @OptionGroup var options: MachineActionOptions
    @OptionGroup var global: GlobalOptions

    func run() async throws {
        try await MachineActionRun.run(.verify, options, global)
    }
}
