import Foundation
import DataverketClient
import ArgumentParser

/// `dv env …`
struct EnvironmentCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "env", abstract: "Manage environments.",
        subcommands: [EnvironmentCreate.self, EnvironmentGet.self, EnvironmentList.self, EnvironmentUpdate.self, EnvironmentDelete.self])
}
