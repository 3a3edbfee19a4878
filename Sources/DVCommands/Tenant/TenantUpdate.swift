import Foundation
import DataverketClient
import ArgumentParser

/// `dv tenant update NAME --label k=v …`
struct TenantUpdate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "update", abstract: "Change a tenant's display name, description or labels (guarded by its version).")
    @Argument(help: "Tenant name or ID.") var name: String
    @OptionGroup var update: UpdateOptions
    @OptionGroup var global: GlobalOptions

    func run() async throws {
        let api = try await global.api()
        let current = try await api.call { try await $0.getTenant(path: .init(tenant: name)).ok.body.json }
        let body = try update.body(current: current.labels.additionalProperties)
        let tenant = try await api.call {
            try await $0.updateTenant(path: .init(tenant: name), headers: .init(ifMatch: "\"\(current.version)\""), body: .json(body)).ok.body.json
        }
        try Render.one(tenant, global.output)
    }
}
