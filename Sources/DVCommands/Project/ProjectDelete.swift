import Foundation
import DataverketClient
import ArgumentParser

/// `dv project delete NAME --tenant T [--wait]`
struct ProjectDelete: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "delete", abstract: "Delete a project and its environments (runs as a task).")
    @Argument(help: "Project name or ID.") var name: String
    @OptionGroup var scope: TenantScope
    @Flag(help: "Wait for the deletion task to finish.") var wait = false
    @OptionGroup var waitOptions: WaitOptions
    @OptionGroup var global: GlobalOptions

    func run() async throws {
        let api = try await global.api()
        let task = try await api.call {
            try await $0.deleteProject(path: .init(tenant: scope.tenant, project: name)).accepted.body.json
        }
        if wait {
            try await waitOptions.wait(for: task.id, api: api, format: global.output)
        } else if global.output == .table {
            Terminal.write("project \(scope.tenant)/\(name) is being deleted by task \(task.id) (dv task wait \(task.id))")
        } else {
            try Render.one(task, global.output)
        }
    }
}
