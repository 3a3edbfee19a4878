import ArgumentParser
import DataverketClient

/// `dvnet prefix delete CIDR [--vrf V]`
struct PrefixDelete: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "delete", abstract: "Delete a prefix that holds no prefixes or addresses.")
    @Argument(help: "The prefix (CIDR or ID).") var prefix: String
    @Option(help: "VRF (default global).") var vrf: String?
    @OptionGroup var global: GlobalOptions

    func run() async throws {
        _ = try await global.api().call { try await $0.deleteNetworkPrefix(path: .init(prefix: prefix), query: .init(vrf: vrf)).noContent }
        Terminal.write("deleted prefix \(prefix)")
    }
}
