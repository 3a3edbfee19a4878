import ArgumentParser
import DataverketClient

/// `dv approval reject ID [--note TEXT]`
struct ApprovalReject: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "reject", abstract: "Discard a pending request's changes.")
    @Argument(help: "Approval request ID.") var id: String
    @Option(help: "Why (kept with the decision).") var note: String?
    @OptionGroup var global: GlobalOptions

    func run() async throws {
        let decided = try await global.api().call {
            try await $0.rejectInventoryChange(path: .init(approval: id), body: .json(.init(note: note))).ok.body.json
        }
        try ApprovalDecided.print(decided, global.output)
    }
}
