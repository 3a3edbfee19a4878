import Foundation
import DataverketClient
import ArgumentParser

/// `dv env get NAME --tenant T --project P`
struct EnvironmentGet: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "get", abstract: "Show an environment.")
    @Argument(help: "Environment name or ID.") var name: String
    @OptionGroup var scope: ProjectScope
    @OptionGroup var global: GlobalOptions

    func run() async throws {
        let environment = try await global.api().call {
            try await $0.getEnvironment(path: .init(tenant: scope.tenant, project: scope.project, environment: name)).ok.body.json
        }
        try Render.one(environment, global.output)
    }
}
