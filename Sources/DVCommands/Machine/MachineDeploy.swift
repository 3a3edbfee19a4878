import ArgumentParser

/// `dvce machine deploy NAME [--network N]… [--wait]`
struct MachineDeploy: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "deploy",
        abstract: "Deploy an allocated machine: one-shot PXE, power cycle, boot script, Talos config, install, boot from disk.",
        discussion: "With --network, the deploy waits (blocked) until Nett has attached those networks to the machine's ports.")
    @OptionGroup var options: MachineActionOptions
    @Option(name: .customLong("network"), help: "A network the machine's ports must be attached to first (repeatable).") var networks: [String] = []
    @OptionGroup var global: GlobalOptions

    func run() async throws {
        try await MachineActionRun.run(.deploy, options, global, networks: networks.isEmpty ? nil : networks)
    }
}
