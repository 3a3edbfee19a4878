import ArgumentParser
import DataverketClient

/// `dvnet ip show ADDRESS [--vrf V]`
struct IPShow: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "show", abstract: "Show an address.")
    @Argument(help: "The address (or its ID).") var address: String
    @Option(help: "VRF (default global).") var vrf: String?
    @OptionGroup var global: GlobalOptions

    func run() async throws {
        let found = try await global.api().call {
            try await $0.getNetworkAddress(path: .init(address: address), query: .init(vrf: vrf)).ok.body.json
        }
        try NetworkIPAMText.show(found, order: ["address", "length", "id", "vrf", "prefixID", "status", "dnsName", "assignedTo"],
                                 format: global.output)
    }
}
