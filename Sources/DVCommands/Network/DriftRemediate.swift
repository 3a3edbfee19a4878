import ArgumentParser
import DataverketClient

/// `dvnet drift remediate DEVICE [--wait]`
struct DriftRemediate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "remediate", abstract: "Push the applied intent to the device again (a changeset).")
    @Argument(help: "Device name.") var device: String
    @Flag(help: "Wait for the changeset's task.") var wait = false
    @OptionGroup var waitOptions: WaitOptions
    @OptionGroup var global: GlobalOptions

    func run() async throws {
        let api = try await global.api()
        let record = try await api.call { try await $0.remediateNetworkDrift(path: .init(device: device)).accepted.body.json }
        try await ChangesetText.follow(record, wait: wait, waitOptions: waitOptions, api: api, global: global)
    }
}
