import Foundation
import DataverketClient
import ArgumentParser

/// `dv tenant …`
struct TenantCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tenant", abstract: "Manage tenants.",
        subcommands: [TenantCreate.self, TenantGet.self, TenantList.self, TenantUpdate.self, TenantDelete.self])
}
