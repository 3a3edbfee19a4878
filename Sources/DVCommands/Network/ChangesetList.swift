import ArgumentParser
import DataverketClient

/// `dvnet changeset list [--limit N] [--cursor C]`
struct ChangesetList: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "list", abstract: "Changesets, newest first.")
    @Option(help: "At most this many (1–500).") var limit: Int?
    @Option(help: "Continue after this cursor.") var cursor: String?
    @OptionGroup var global: GlobalOptions

    func run() async throws {
        let page = try await global.api().call { try await $0.listNetworkChangesets(query: .init(limit: limit, cursor: cursor)).ok.body.json }
        try InventoryValue.print(page.items, columns: ChangesetText.columns, format: global.output)
        if let next = page.nextCursor, global.output == .table { Terminal.write("more: --cursor \(next)") }
    }
}
