import ArgumentParser
import DataverketClient

/// `dv approval approve ID [--note TEXT]`
struct ApprovalApprove: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "approve", abstract: "Apply a pending request's changes (re-checked against the inventory as it is now).")
    @Argument(help: "Approval request ID.") var id: String
    @Option(help: "Why (kept with the decision).") var note: String?
    @OptionGroup var global: GlobalOptions

    func run() async throws {
        let decided = try await global.api().call {
            try await $0.approveInventoryChange(path: .init(approval: id), body: .json(.init(note: note))).ok.body.json
        }
        try ApprovalDecided.print(decided, global.output)
    }
}

enum ApprovalDecided {
    static func print(_ decided: Components.Schemas.InventoryObject, _ format: OutputFormat) throws {
        guard format == .table else { return Terminal.write(format == .json ? try Render.json(decided) : try Render.yaml(decided)) }
        let values = try InventoryValue.dictionary(decided)
        Terminal.write("approval \(InventoryValue.cell(values["id"])) \(InventoryValue.cell(values["status"])): \(InventoryValue.cell(values["summary"]))")
    }
}
