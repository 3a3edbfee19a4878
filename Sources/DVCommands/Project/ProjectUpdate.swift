import Foundation
import DataverketClient
import ArgumentParser

/// `dv project update NAME --tenant T --label k=v …`
struct ProjectUpdate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "update", abstract: "Change a project's display name, description or labels (guarded by its version).")
    @Argument(help: "Project name or ID.") var name: String
    @OptionGroup var scope: TenantScope
    @OptionGroup var update: UpdateOptions
    @OptionGroup var global: GlobalOptions

    func run() async throws {
        let api = try await global.api()
        let path = Operations.GetProject.Input.Path(tenant: scope.tenant, project: name)
        let current = try await api.call { try await $0.getProject(path: path).ok.body.json }
        let body = try update.body(current: current.labels.additionalProperties)
        let project = try await api.call {
            try await $0.updateProject(path: .init(tenant: scope.tenant, project: name),
                                       headers: .init(ifMatch: "\"\(current.version)\""), body: .json(body)).ok.body.json
        }
        try Render.one(project, global.output)
    }
}
