import ArgumentParser
import DataverketClient

/// `dvnet changeset show ID`
struct ChangesetShow: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "show", abstract: "One changeset: status, matrix diff, per-device diffs, probes.")
    @Argument(help: "Changeset ID.") var changeset: String
    @OptionGroup var global: GlobalOptions

    func run() async throws {
        let record = try await global.api().call { try await $0.getNetworkChangeset(path: .init(changeset: changeset)).ok.body.json }
        try ChangesetText.show(record, global)
    }
}
