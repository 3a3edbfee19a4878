import Foundation
import DataverketClient
import ArgumentParser

/// `dv env create NAME --tenant T --project P`
struct EnvironmentCreate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "create", abstract: "Create an environment in a project.")
    @Argument(help: "Environment name (a DNS label).") var name: String
    @OptionGroup var scope: ProjectScope
    @OptionGroup var create: CreateOptions
    @OptionGroup var global: GlobalOptions

    func run() async throws {
        let body = try create.body(name: name)
        let environment = try await global.api().call {
            try await $0.createEnvironment(path: .init(tenant: scope.tenant, project: scope.project),
                                           headers: .init(idempotencyKey: create.idempotencyKey), body: .json(body)).created.body.json
        }
        try Render.one(environment, global.output)
    }
}
