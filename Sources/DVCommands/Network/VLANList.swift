import ArgumentParser
import DataverketClient

/// `dvnet vlan list [--group G]` or `dvnet vlan list --groups`
struct VLANList: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "list", abstract: "List VLANs (of one group), or the VLAN groups.")
    @Option(help: "Only VLANs of this group.") var group: String?
    @Flag(help: "List the VLAN groups instead.") var groups = false
    @Option(help: "Page size (1–500).") var limit: Int?
    @Option(help: "Continue after this cursor.") var cursor: String?
    @OptionGroup var global: GlobalOptions

    func run() async throws {
        let page = try await global.api().call { client in
            groups ? try await client.listNetworkVLANGroups(query: .init(limit: limit, cursor: cursor)).ok.body.json
                : try await client.listNetworkVLANs(query: .init(group: group, limit: limit, cursor: cursor)).ok.body.json
        }
        try InventoryValue.print(page.items, columns: groups ? NetworkIPAMText.vlanGroupColumns : NetworkIPAMText.vlanColumns, format: global.output)
        if let next = page.nextCursor, global.output == .table { Terminal.write("more: --cursor \(next)") }
    }
}
