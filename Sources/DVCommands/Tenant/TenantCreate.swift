import Foundation
import DataverketClient
import ArgumentParser

/// `dv tenant create NAME`
struct TenantCreate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "create", abstract: "Create a tenant.")
    @Argument(help: "Tenant name (a DNS label).") var name: String
    @OptionGroup var create: CreateOptions
    @OptionGroup var global: GlobalOptions

    func run() async throws {
        let body = try create.body(name: name)
        let tenant = try await global.api().call { client in
            try await client.createTenant(headers: .init(idempotencyKey: create.idempotencyKey), body: .json(body)).created.body.json
        }
        try Render.one(tenant, global.output)
    }
}
