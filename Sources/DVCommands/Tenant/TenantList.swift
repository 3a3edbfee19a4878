import Foundation
import DataverketClient
import ArgumentParser

/// `dv tenant list`
struct TenantList: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "list", abstract: "List tenants.")
    @OptionGroup var list: ListOptions
    @OptionGroup var global: GlobalOptions

    func run() async throws {
        let api = try await global.api()
        let items = try await list.collect { size, cursor in
            let page = try await api.call { try await $0.listTenants(query: .init(limit: size, cursor: cursor)).ok.body.json }
            return (page.items, page.nextCursor)
        }
        try Render.many(items, global.output)
    }
}
