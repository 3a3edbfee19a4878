import Foundation
import DataverketClient
import ArgumentParser

/// `dv project …`
struct ProjectCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "project", abstract: "Manage projects.",
        subcommands: [ProjectCreate.self, ProjectGet.self, ProjectList.self, ProjectUpdate.self, ProjectDelete.self])
}

/// `--tenant T`
struct TenantScope: ParsableArguments {
    @Option(name: [.short, .long], help: "Tenant name or ID.") var tenant: String
}

/// `--tenant T --project P`
struct ProjectScope: ParsableArguments {
    @Option(name: [.short, .long], help: "Tenant name or ID.") var tenant: String
    @Option(name: [.short, .long], help: "Project name or ID.") var project: String
}
