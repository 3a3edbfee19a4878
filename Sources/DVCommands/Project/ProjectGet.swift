import Foundation
import DataverketClient
import ArgumentParser

/// `dv project get NAME --tenant T`
struct ProjectGet: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "get", abstract: "Show a project.")
    @Argument(help: "Project name or ID.") var name: String
    @OptionGroup var scope: TenantScope
    @OptionGroup var global: GlobalOptions

    func run() async throws {
        let project = try await global.api().call {
            try await $0.getProject(path: .init(tenant: scope.tenant, project: name)).ok.body.json
        }
        try Render.one(project, global.output)
    }
}
