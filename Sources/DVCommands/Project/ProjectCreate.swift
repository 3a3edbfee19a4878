import Foundation
import DataverketClient
import ArgumentParser

/// `dv project create NAME --tenant T`
struct ProjectCreate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "create", abstract: "Create a project in a tenant.")
    @Argument(help: "Project name (a DNS label).") var name: String
    @OptionGroup var scope: TenantScope
    @OptionGroup var create: CreateOptions
    @OptionGroup var global: GlobalOptions

    func run() async throws {
        let body = try create.body(name: name)
        let project = try await global.api().call {
            try await $0.createProject(path: .init(tenant: scope.tenant), headers: .init(idempotencyKey: create.idempotencyKey),
                                       body: .json(body)).created.body.json
        }
        try Render.one(project, global.output)
    }
}
