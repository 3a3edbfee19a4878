import Foundation
import DataverketClient
import ArgumentParser

/// `dv audit list [--resource ID] [--actor A] [--action X] [--since T] [--until T]`
struct AuditList: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "list", abstract: "List audit records, newest first.")
    @Option(help: "Only records about this resource ID.") var resource: String?
    @Option(help: "Only records by this actor.") var actor: String?
    @Option(help: "Only records of this action, e.g. project.create.") var action: String?
    @Option(help: "Only records at or after this time (RFC 3339, or a duration like 15m, 2h, 7d ago).") var since: String?
    @Option(help: "Only records before this time (RFC 3339 or a duration ago).") var until: String?
    @OptionGroup var list: ListOptions
    @OptionGroup var global: GlobalOptions

    func run() async throws {
        let since = try self.since.map { try Self.time($0, option: "--since") }
        let until = try self.until.map { try Self.time($0, option: "--until") }
        let api = try await global.api()
        let items = try await list.collect { size, cursor in
            let page = try await api.call {
                try await $0.listAudit(query: .init(limit: size, cursor: cursor, resource: resource, actor: actor,
                                                    action: action, since: since, until: until)).ok.body.json
            }
            return (page.items, page.nextCursor)
        }
        try Render.many(items, global.output)
    }

    /// RFC 3339, or `<n>s|m|h|d` meaning that long ago.
    static func time(_ text: String, option: String, now: Date = Date()) throws -> Date {
        if let date = try? Date(text, strategy: Date.ISO8601FormatStyle()) { return date }
        if let date = try? Date(text, strategy: Date.ISO8601FormatStyle(includingFractionalSeconds: true)) { return date }
        let units: [Character: Double] = ["s": 1, "m": 60, "h": 3600, "d": 86400]
        if let unit = text.last, let scale = units[unit], let amount = Double(text.dropLast()), amount >= 0 {
            return now.addingTimeInterval(-amount * scale)
        }
        throw ValidationError("\(option) must be an RFC 3339 time (2026-11-23T10:00:00Z) or a duration like 15m, 2h, 7d")
    }
}
