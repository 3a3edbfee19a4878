import Foundation
import DataverketClient
import ArgumentParser

/// `dv env list --tenant T --project P`
struct EnvironmentList: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "list", abstract: "List a project's environments.")
    @OptionGroup var scope: ProjectScope
    @OptionGroup var list: ListOptions
    @OptionGroup var global: GlobalOptions

    func run() async throws {
        let api = try await global.api()
        let items = try await list.collect { size, cursor in
            let page = try await api.call {
                try await $0.listEnvironments(path: .init(tenant: scope.tenant, project: scope.project),
                                              query: .init(limit: size, cursor: cursor)).ok.body.json
            }
            return (page.items, page.nextCursor)
        }
        try Render.many(items, global.output)
    }
}
