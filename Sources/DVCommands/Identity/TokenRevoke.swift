import ArgumentParser
import DataverketClient

/// `dvid token revoke ID`
struct TokenRevoke: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "revoke", abstract: "Revoke an API key by its id.")
    @Argument(help: "API key id (key_…).") var id: String
    @OptionGroup var global: GlobalOptions

    func run() async throws {
        try await global.api().call { _ = try await $0.revokeAPIKey(path: .init(key: id)).noContent }
        Terminal.write("revoked \(id)")
    }
}
