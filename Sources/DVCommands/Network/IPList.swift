import ArgumentParser
import DataverketClient

/// `dvnet ip list [--prefix P] [--vrf V]`
struct IPList: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "list", abstract: "List addresses.")
    @Option(help: "Only addresses of this prefix.") var prefix: String?
    @Option(help: "VRF.") var vrf: String?
    @Option(help: "Page size (1–500).") var limit: Int?
    @Option(help: "Continue after this cursor.") var cursor: String?
    @OptionGroup var global: GlobalOptions

    func run() async throws {
        let page = try await global.api().call {
            try await $0.listNetworkAddresses(query: .init(vrf: vrf, prefix: prefix, limit: limit, cursor: cursor)).ok.body.json
        }
        try InventoryValue.print(page.items, columns: NetworkText.addressColumns, format: global.output)
        if let next = page.nextCursor, global.output == .table { Terminal.write("more: --cursor \(next)") }
    }
}
