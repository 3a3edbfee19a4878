import Foundation
import DataverketClient
import ArgumentParser

/// `dv tenant delete NAME`
struct TenantDelete: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "delete", abstract: "Delete a tenant that has no projects.")
    @Argument(help: "Tenant name or ID.") var name: String
    @OptionGroup var global: GlobalOptions

    func run() async throws {
        _ = try await global.api().call { try await $0.deleteTenant(path: .init(tenant: name)).noContent }
        Terminal.write("tenant \(name) deleted")
    }
}
