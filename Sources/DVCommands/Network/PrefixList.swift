import ArgumentParser
import DataverketClient

/// `dvnet prefix list [--vrf V]`
struct PrefixList: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "list", abstract: "List prefixes of a VRF.")
    @Option(help: "VRF (default: all).") var vrf: String?
    @Option(help: "Page size (1–500).") var limit: Int?
    @Option(help: "Continue after this cursor.") var cursor: String?
    @OptionGroup var global: GlobalOptions

    func run() async throws {
        let page = try await global.api().call {
            try await $0.listNetworkPrefixes(query: .init(vrf: vrf, limit: limit, cursor: cursor)).ok.body.json
        }
        try InventoryValue.print(page.items, columns: NetworkText.prefixColumns, format: global.output)
        if let next = page.nextCursor, global.output == .table { Terminal.write("more: --cursor \(next)") }
    }
}
