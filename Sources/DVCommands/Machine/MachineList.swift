import ArgumentParser
import DataverketClient

/// `dvce machine list [--state STATE]`
struct MachineList: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "list", abstract: "List machines, optionally in one state.")
    @Option(help: "Only machines in this state (available, deploying, failed, maintenance, …).") var state: String?
    @Option(help: "Page size (1–500).") var limit: Int?
    @Option(help: "Continue after this cursor.") var cursor: String?
    @OptionGroup var global: GlobalOptions

    func run() async throws {
        let filter = try state.map { text -> Operations.ListMachines.Input.Query.StatePayload in
            guard let value = Operations.ListMachines.Input.Query.StatePayload(rawValue: text) else {
                throw ValidationError("unknown state '\(text)'")
            }
            return value
        }
        let page = try await global.api().call {
            try await $0.listMachines(query: .init(state: filter, limit: limit, cursor: cursor)).ok.body.json
        }
        try InventoryValue.print(page.items, columns: MachineText.columns, format: global.output)
        if let next = page.nextCursor, global.output == .table { Terminal.write("more: --cursor \(next)") }
    }
}
