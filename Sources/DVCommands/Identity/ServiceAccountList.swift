import ArgumentParser
import DataverketClient

/// `dvid sa list`
struct ServiceAccountList: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "list", abstract: "List service accounts.")
    @OptionGroup var global: GlobalOptions

    func run() async throws {
        let accounts = try await global.api().call { try await $0.listServiceAccounts().ok.body.json.items }
        try Render.many(accounts, global.output)
    }
}
