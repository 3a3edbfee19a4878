import Foundation
import DataverketClient
import ArgumentParser

/// `dv project list --tenant T`
struct ProjectList: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "list", abstract: "List a tenant's projects.")
    @OptionGroup var scope: TenantScope
    @OptionGroup var list: ListOptions
    @OptionGroup var global: GlobalOptions

    func run() async throws {
        let api = try await global.api()
        let items = try await list.collect { size, cursor in
            let page = try await api.call {
                try await $0.listProjects(path: .init(tenant: scope.tenant), query: .init(limit: size, cursor: cursor)).ok.body.json
            }
            return (page.items, page.nextCursor)
        }
        try Render.many(items, global.output)
    }
}
