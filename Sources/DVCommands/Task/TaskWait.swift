import Foundation
import DataverketClient
import ArgumentParser

/// `dv task wait ID [--timeout S]`
struct TaskWait: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "wait", abstract: "Wait for a task to finish; exits non-zero unless it succeeded.")
    @Argument(help: "Task ID.") var id: String
    @OptionGroup var waitOptions: WaitOptions
    @OptionGroup var global: GlobalOptions

    func run() async throws {
        try await waitOptions.wait(for: id, api: try await global.api(), format: global.output)
    }
}
