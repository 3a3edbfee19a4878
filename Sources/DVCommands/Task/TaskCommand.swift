import Foundation
import DataverketClient
import ArgumentParser

/// `dv task …`
struct TaskCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "task", abstract: "Follow and control asynchronous work.",
        subcommands: [TaskList.self, TaskGet.self, TaskWait.self, TaskCancel.self])
}

/// `--timeout` and `--interval` for waiting on a task.
struct WaitOptions: ParsableArguments {
    @Option(help: "Give up after this many seconds.") var timeout: Double = 300
    @Option(help: "Poll every this many seconds.") var interval: Double = 0.5

    func validate() throws {
        guard timeout > 0, timeout <= 86_400 else { throw ValidationError("--timeout must be between 0 and 86400 seconds") }
        guard interval >= 0.05, interval <= 60 else { throw ValidationError("--interval must be between 0.05 and 60 seconds") }
    }

    /// Polls until the task is finished (bounded by the timeout); fails unless it succeeded.
    func wait(for id: String, api: API, format: OutputFormat, quiet: Bool = false) async throws {
        let deadline = ContinuousClock.now + .milliseconds(Int64(timeout * 1000))
        let rounds = Int(timeout / interval) + 2
        for _ in 0..<rounds {
            let task = try await api.call { try await $0.getTask(path: .init(task: id)).ok.body.json }
            switch task.state {
            case .succeeded:
                if !quiet { try Render.one(task, format) }
                return
            case .failed, .cancelled:
                if !quiet { try Render.one(task, format) }
                throw CommandFailure(message: "task \(id) \(task.state.rawValue): \(task.reason ?? "no reason given")")
            case .queued, .running, .blocked:
                if ContinuousClock.now >= deadline { break }
                try await Task.sleep(for: .milliseconds(Int64(interval * 1000)))
            }
        }
        throw CommandFailure(message: "timed out after \(timeout)s waiting for task \(id)")
    }
}
