import ArgumentParser
import DataverketClient

/// `dvnet dns list`
struct DNSList: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "list", abstract: "List the record sets Nett keeps in PowerDNS, as PowerDNS serves them.",
        discussion: "Without --zone: the configured forward zones and the reverse zones the IPAM's addresses need.")
    @Option(help: "Only this zone (e.g. osl1.example.org or 0.80.10.in-addr.arpa).") var zone: String?
    @OptionGroup var global: GlobalOptions

    func run() async throws {
        let page = try await global.api().call { try await $0.listNetworkDNS(query: .init(zone: zone)).ok.body.json }
        if let notConfigured = page.notConfigured, global.output == .table {
            // Not an error: the feature is off on this server. Said on stderr, so -o json stays the bare page.
            Terminal.error("note: \(notConfigured)")
        }
        try InventoryValue.print(page.items, columns: NetworkDNSText.recordColumns, format: global.output)
    }
}
