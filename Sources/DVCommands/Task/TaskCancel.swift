import Foundation
import DataverketClient
import ArgumentParser

/// `dv task cancel ID`
struct TaskCancel: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "cancel", abstract: "Cancel a queued, blocked or running task.")
    @Argument(help: "Task ID.") var id: String
    @OptionGroup var global: GlobalOptions

    func run() async throws {
        let task = try await global.api().call { try await $0.cancelTask(path: .init(task: id)).accepted.body.json }
        try Render.one(task, global.output)
    }
}
