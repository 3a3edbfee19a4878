import ArgumentParser

/// `dvnet changeset …`
struct ChangesetCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "changeset", abstract: "Changesets: list, show, approve.",
        subcommands: [ChangesetList.self, ChangesetShow.self, ChangesetApprove.self])
}

/// `dvnet drift …`
struct DriftCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "drift", abstract: "Drift between the applied intent and the devices: list, remediate, accept.",
        subcommands: [DriftList.self, DriftRemediate.self, DriftAccept.self], defaultSubcommand: DriftList.self)
}

/// `dvnet device …`
struct NetworkDeviceCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "device", abstract: "The devices Nett drives: list them, read one (facts, interfaces, VLANs, MAC table, BGP, routes).",
        subcommands: [NetworkDeviceList.self, NetworkDeviceShow.self])
}
