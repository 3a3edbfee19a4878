import ArgumentParser
import DataverketClient

/// `dv approval show ID`
struct ApprovalShow: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "show", abstract: "Show an approval request and its changes.")
    @Argument(help: "Approval request ID.") var id: String
    @OptionGroup var global: GlobalOptions

    func run() async throws {
        let approval = try await global.api().call { try await $0.getInventoryApproval(path: .init(approval: id)).ok.body.json }
        Terminal.write(global.output == .json ? try Render.json(approval) : try Render.yaml(approval))
    }
}
