import ArgumentParser
import DataverketClient

/// `dvnet prefix show CIDR [--vrf V]`
struct PrefixShow: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "show", abstract: "Show a prefix.")
    @Argument(help: "The prefix (CIDR or ID).") var prefix: String
    @Option(help: "VRF (default global).") var vrf: String?
    @OptionGroup var global: GlobalOptions

    func run() async throws {
        let found = try await global.api().call {
            try await $0.getNetworkPrefix(path: .init(prefix: prefix), query: .init(vrf: vrf)).ok.body.json
        }
        try NetworkIPAMText.show(found, order: ["prefix", "id", "vrf", "status", "role", "parentID", "isPool", "datacenter"],
                                 format: global.output)
    }
}
