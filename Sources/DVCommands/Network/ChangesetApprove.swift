import ArgumentParser
import DataverketClient

/// `dvnet changeset approve ID [--wait]`
struct ChangesetApprove: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "approve", abstract: "Approve a changeset pending approval (an accepted drift); an admin other than its author.")
    @Argument(help: "Changeset ID.") var changeset: String
    @Flag(help: "Wait for its task and print the report.") var wait = false
    @OptionGroup var waitOptions: WaitOptions
    @OptionGroup var global: GlobalOptions

    func run() async throws {
        let api = try await global.api()
        let record = try await api.call { try await $0.approveNetworkChangeset(path: .init(changeset: changeset)).accepted.body.json }
        try await ChangesetText.follow(record, wait: wait, waitOptions: waitOptions, api: api, global: global)
    }
}
