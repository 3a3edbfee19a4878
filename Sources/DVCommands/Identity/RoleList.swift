import ArgumentParser
import DataverketClient

/// `dvid role list [--subject S]`
struct RoleList: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "list", abstract: "List role bindings.")
    @Option(help: "Only this subject's bindings.") var subject: String?
    @OptionGroup var global: GlobalOptions

    func run() async throws {
        let bindings = try await global.api().call { try await $0.listRoleBindings(query: .init(subject: subject)).ok.body.json.items }
        try Render.many(bindings, global.output)
    }
}
