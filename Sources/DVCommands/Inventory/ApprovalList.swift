import ArgumentParser
import DataverketClient

/// `dv approval list [--status pending|approved|rejected|superseded|all]`
struct ApprovalList: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "list", abstract: "List approval requests (default: pending).")
    @Option(help: "pending, approved, rejected, superseded or all.") var status: String = "pending"
    @OptionGroup var list: ListOptions
    @OptionGroup var global: GlobalOptions

    func run() async throws {
        guard let wanted = Operations.ListInventoryApprovals.Input.Query.StatusPayload(rawValue: status) else {
            throw ValidationError("unknown status '\(status)'; one of pending, approved, rejected, superseded, all")
        }
        let api = try await global.api()
        let items = try await list.collect { size, cursor in
            let page = try await api.call {
                try await $0.listInventoryApprovals(query: .init(status: wanted, limit: size, cursor: cursor)).ok.body.json
            }
            return (page.items, page.nextCursor)
        }
        try InventoryValue.print(items, columns: [("ID", "id"), ("STATUS", "status"), ("SUMMARY", "summary"), ("REQUESTED BY", "requestedBy"),
                                                  ("DECIDED BY", "decidedBy"), ("REASON", "reason")], format: global.output)
    }
}
