import ArgumentParser
import DataverketClient

/// `dvnet vrf list`
struct VRFList: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "list", abstract: "List VRFs.")
    @Option(help: "Page size (1–500).") var limit: Int?
    @Option(help: "Continue after this cursor.") var cursor: String?
    @OptionGroup var global: GlobalOptions

    func run() async throws {
        let page = try await global.api().call { try await $0.listNetworkVRFs(query: .init(limit: limit, cursor: cursor)).ok.body.json }
        try InventoryValue.print(page.items, columns: NetworkIPAMText.vrfColumns, format: global.output)
        if let next = page.nextCursor, global.output == .table { Terminal.write("more: --cursor \(next)") }
    }
}
