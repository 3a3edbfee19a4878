import Foundation
import DataverketClient
import ArgumentParser

/// `dv tenant get NAME`
struct TenantGet: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "get", abstract: "Show a tenant.")
    @Argument(help: "Tenant name or ID.") var name: String
    @OptionGroup var global: GlobalOptions

    func run() async throws {
        let tenant = try await global.api().call { try await $0.getTenant(path: .init(tenant: name)).ok.body.json }
        try Render.one(tenant, global.output)
    }
}
