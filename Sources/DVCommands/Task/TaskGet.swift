import Foundation
import DataverketClient
import ArgumentParser

/// `dv task get ID`
struct TaskGet: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "get", abstract: "Show a task.")
    @Argument(help: "Task ID.") var id: String
    @OptionGroup var global: GlobalOptions

    func run() async throws {
        let task = try await global.api().call { try await $0.getTask(path: .init(task: id)).ok.body.json }
        try Render.one(task, global.output)
        if global.output == .table, let saga = task.saga {
            Terminal.write("\nSaga \(saga.phase.rawValue)\(saga.reason.map { ": \($0)" } ?? "")")
            Terminal.write(Render.table(saga.steps.map(SagaStepRow.init)))
        }
    }
}
