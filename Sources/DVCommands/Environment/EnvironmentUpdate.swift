import Foundation
import DataverketClient
import ArgumentParser

/// `dv env update NAME --tenant T --project P --label k=v …`
struct EnvironmentUpdate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "update", abstract: "Change an environment's display name, description or labels (guarded by its version).")
    @Argument(help: "Environment name or ID.") var name: String
    @OptionGroup var scope: ProjectScope
    @OptionGroup var update: UpdateOptions
    @OptionGroup var global: GlobalOptions

    func run() async throws {
        let api = try await global.api()
        let current = try await api.call {
            try await $0.getEnvironment(path: .init(tenant: scope.tenant, project: scope.project, environment: name)).ok.body.json
        }
        let body = try update.body(current: current.labels.additionalProperties)
        let environment = try await api.call {
            try await $0.updateEnvironment(path: .init(tenant: scope.tenant, project: scope.project, environment: name),
                                           headers: .init(ifMatch: "\"\(current.version)\""), body: .json(body)).ok.body.json
        }
        try Render.one(environment, global.output)
    }
}
