import ArgumentParser

/// `dvce machine deploy NAME [--network N]… [--wait]`
struct MachineDeploy: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "deploy",
        abstract: "Deploy an allocated machine: one-shot PXE, power cycle, boot script, Talos config, install, boot from disk.",
        discussion: """
            With --network, Nett first verifies that the leaf ports the inventory cables the machine to can carry those networks \
            (the deploy is blocked while Nett is down); after the install, with the machine off, Nett moves the ports to them \
            (one network: access; several: a trunk) and the machine boots from disk there. Release and wipe put the ports back \
            on the provisioning network.
            """)
    @OptionGroup var options: MachineActionOptions
    @Option(name: .customLong("network"), help: "A network of the applied network intent the machine's switch ports carry once deployed (repeatable).") var networks: [String] = []
    @OptionGroup var global: GlobalOptions

    func run() async throws {
        try await MachineActionRun.run(.deploy, options, global, networks: networks.isEmpty ? nil : networks)
    }
}
