import ArgumentParser
import DataverketClient

/// `dvnet drift accept DEVICE`
struct DriftAccept: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "accept", abstract: "Fold the device's realized state into the intent, as a changeset an admin must approve (dvnet changeset approve).")
    @Argument(help: "Device name.") var device: String
    @OptionGroup var global: GlobalOptions

    func run() async throws {
        let record = try await global.api().call { try await $0.acceptNetworkDrift(path: .init(device: device)).accepted.body.json }
        try ChangesetText.show(record, global)
    }
}
