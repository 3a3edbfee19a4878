import Foundation
import DataverketClient
import ArgumentParser

/// `dv env delete NAME --tenant T --project P`
struct EnvironmentDelete: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "delete", abstract: "Delete an environment.")
    @Argument(help: "Environment name or ID.") var name: String
    @OptionGroup var scope: ProjectScope
    @OptionGroup var global: GlobalOptions

    func run() async throws {
        _ = try await global.api().call {
            try await $0.deleteEnvironment(path: .init(tenant: scope.tenant, project: scope.project, environment: name)).noContent
        }
        Terminal.write("environment \(scope.tenant)/\(scope.project)/\(name) deleted")
    }
}
