import ArgumentParser
import DataverketClient

/// `dvnet asn list [--pool P]` or `dvnet asn list --pools`
struct ASNList: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "list", abstract: "List allocated ASNs (of one pool), or the ASN pools.")
    @Option(help: "Only ASNs of this pool.") var pool: String?
    @Flag(help: "List the ASN pools instead.") var pools = false
    @Option(help: "Page size (1–500).") var limit: Int?
    @Option(help: "Continue after this cursor.") var cursor: String?
    @OptionGroup var global: GlobalOptions

    func run() async throws {
        let page = try await global.api().call { client in
            pools ? try await client.listNetworkASNPools(query: .init(limit: limit, cursor: cursor)).ok.body.json
                : try await client.listNetworkASNs(query: .init(pool: pool, limit: limit, cursor: cursor)).ok.body.json
        }
        try InventoryValue.print(page.items, columns: pools ? NetworkIPAMText.asnPoolColumns : NetworkIPAMText.asnColumns, format: global.output)
        if let next = page.nextCursor, global.output == .table { Terminal.write("more: --cursor \(next)") }
    }
}
