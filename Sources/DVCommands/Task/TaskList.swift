import Foundation
import DataverketClient
import ArgumentParser

/// `dv task list [--state S] [--kind K] [--resource ID]`
struct TaskList: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "list", abstract: "List tasks, newest first.")
    @Option(help: "Only tasks in this state (queued, running, blocked, succeeded, failed, cancelled).") var state: String?
    @Option(help: "Only tasks of this kind.") var kind: String?
    @Option(help: "Only tasks on this resource ID.") var resource: String?
    @OptionGroup var list: ListOptions
    @OptionGroup var global: GlobalOptions

    func run() async throws {
        var wanted: Components.Schemas.TaskState?
        if let state {
            guard let parsed = Components.Schemas.TaskState(rawValue: state) else {
                throw ValidationError("unknown state '\(state)'; one of queued, running, blocked, succeeded, failed, cancelled")
            }
            wanted = parsed
        }
        let api = try await global.api()
        let items = try await list.collect { size, cursor in
            let page = try await api.call {
                try await $0.listTasks(query: .init(limit: size, cursor: cursor, state: wanted, kind: kind, resource: resource)).ok.body.json
            }
            return (page.items, page.nextCursor)
        }
        try Render.many(items, global.output)
    }
}
