import ArgumentParser
import DataverketClient

/// `dvid role unbind ID`
struct RoleUnbind: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "unbind", abstract: "Remove a role binding by its id.")
    @Argument(help: "Binding id (rb_…).") var id: String
    @OptionGroup var global: GlobalOptions

    func run() async throws {
        try await global.api().call { _ = try await $0.deleteRoleBinding(path: .init(binding: id)).noContent }
        Terminal.write("unbound \(id)")
    }
}
