import ArgumentParser

/// `dvce machine allocate NAME --cluster C [--role controlplane|worker]`
struct MachineAllocate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "allocate", abstract: "Allocate an available machine to a cluster, as a control-plane node or a worker.")
    @OptionGroup var options: MachineActionOptions
    @Option(help: "The cluster the machine joins.") var cluster: String
    @Option(help: "controlplane or worker (default worker).") var role: String = "worker"
    @OptionGroup var global: GlobalOptions

    func validate() throws {
        guard ["controlplane", "worker"].contains(role) else { throw ValidationError("--role must be controlplane or worker") }
    }

    func run() async throws {
        try await MachineActionRun.run(.allocate, options, global, role: .init(rawValue: role), cluster: cluster)
    }
}
