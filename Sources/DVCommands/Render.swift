import Foundation
import DataverketClient
import DataverketCore
import Yams

/// A value that can be shown as a table row.
protocol TableRow: Encodable {
    static var headers: [String] { get }
    var cells: [String] { get }
}

enum Render {
    static func json(_ value: some Encodable) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        encoder.dateEncodingStrategy = .custom { date, encoder in
            var container = encoder.singleValueContainer()
            try container.encode(timestamp(date))
        }
        return String(decoding: try encoder.encode(value), as: UTF8.self)
    }

    static func yaml(_ value: some Encodable) throws -> String {
        // Through JSON so dates and labels render exactly as in `-o json`; decoded as JSON values (not through
        // JSONSerialization, whose numbers would print as `1e+0`) so integers stay integers and booleans booleans.
        let tree = try JSONDecoder().decode(JSONValue.self, from: Data(try json(value).utf8))
        return try Yams.dump(object: tree.plain, sortKeys: true)
    }

    static func table<Row: TableRow>(_ rows: [Row]) -> String {
        table(rows.map(\.cells), headers: Row.headers)
    }

    static func table(_ rows: [[String]], headers: [String]) -> String {
        let matrix = [headers] + rows
        var widths = Array(repeating: 0, count: headers.count)
        for row in matrix {
            for (index, cell) in row.enumerated() { widths[index] = max(widths[index], cell.count) }
        }
        return matrix.map { row in
            row.enumerated().map { index, cell in
                index == row.count - 1 ? cell : cell.padding(toLength: widths[index], withPad: " ", startingAt: 0)
            }.joined(separator: "   ")
        }.joined(separator: "\n")
    }

    /// Prints one resource in the chosen format (a table of one row for `table`).
    static func one<Row: TableRow>(_ row: Row, _ format: OutputFormat) throws {
        switch format {
        case .table: Terminal.write(table([row]))
        case .json: Terminal.write(try json(row))
        case .yaml: Terminal.write(try yaml(row))
        }
    }

    /// Prints a list: a JSON/YAML array, or a table.
    static func many<Row: TableRow>(_ rows: [Row], _ format: OutputFormat) throws {
        switch format {
        case .table: Terminal.write(rows.isEmpty ? "No resources found." : table(rows))
        case .json: Terminal.write(try json(rows))
        case .yaml: Terminal.write(try yaml(rows))
        }
    }

    static func timestamp(_ date: Date) -> String {
        date.formatted(Date.ISO8601FormatStyle(includingFractionalSeconds: false))
    }

    static func age(_ date: Date, now: Date = Date()) -> String {
        let seconds = max(0, Int(now.timeIntervalSince(date)))
        switch seconds {
        case ..<120: return "\(seconds)s"
        case ..<7200: return "\(seconds / 60)m"
        case ..<172_800: return "\(seconds / 3600)h"
        default: return "\(seconds / 86400)d"
        }
    }

    static func labels(_ labels: Components.Schemas.Labels) -> String {
        let pairs = labels.additionalProperties.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }
        return pairs.isEmpty ? "-" : pairs.joined(separator: ",")
    }

    static func problem(_ problem: APIProblem) -> String {
        var text = "error: \(problem.detail ?? problem.title)"
        for violation in problem.errors ?? [] { text += "\n  - \(violation.field): \(violation.message)" }
        if let total = problem.errorsTotal, let shown = problem.errors?.count, total > shown {
            text += "\n  … and \(total - shown) more (\(total) in all)"
        }
        var facts = ["\(problem.status) \(problem.code)"]
        if let correlation = problem.correlationId { facts.append("correlation \(correlation)") }
        return text + "\n  (" + facts.joined(separator: ", ") + ")"
    }
}

extension Components.Schemas.Tenant: TableRow {
    static var headers: [String] { ["NAME", "ID", "LABELS", "VERSION", "AGE"] }
    var cells: [String] { [name, id, Render.labels(labels), String(version), Render.age(createdAt)] }
}

extension Components.Schemas.Project: TableRow {
    static var headers: [String] { ["NAME", "TENANT", "PHASE", "ID", "LABELS", "VERSION", "AGE"] }
    var cells: [String] { [name, tenant, phase, id, Render.labels(labels), String(version), Render.age(createdAt)] }
}

extension Components.Schemas.Environment: TableRow {
    static var headers: [String] { ["NAME", "PROJECT", "TENANT", "ID", "LABELS", "VERSION", "AGE"] }
    var cells: [String] { [name, project, tenant, id, Render.labels(labels), String(version), Render.age(createdAt)] }
}

extension Components.Schemas.Task: TableRow {
    static var headers: [String] { ["ID", "KIND", "STATE", "PROGRESS", "RESOURCE", "AGE", "RUNBOOK", "REASON"] }
    var cells: [String] {
        [id, kind, state.rawValue, "\(progress)%", "\(resource.kind)/\(resource.name ?? resource.id)", Render.age(createdAt),
         runbook ?? "-", reason ?? ""]
    }
}

/// One step of a saga task's log, as `dv task get` lists them under the task.
struct SagaStepRow: TableRow {
    let step: Components.Schemas.SagaLog.StepsPayloadPayload
    static var headers: [String] { ["STEP", "STATE", "RUNS"] }
    var cells: [String] { [step.name, step.state.rawValue, String(step.runs)] }
    func encode(to encoder: any Encoder) throws { try step.encode(to: encoder) }
}

extension Components.Schemas.AuditRecord: TableRow {
    static var headers: [String] { ["TIME", "ACTOR", "ACTION", "RESOURCE", "VERSION", "SOURCE", "CORRELATION"] }
    var cells: [String] {
        let versions = "\(beforeVersion.map(String.init) ?? "-")→\(afterVersion.map(String.init) ?? "-")"
        return [Render.timestamp(time), actor, action, "\(resource.kind)/\(resource.name ?? resource.id)", versions,
                sourceAddress ?? "-", correlationId]
    }
}

extension JSONValue {
    /// The value as Swift's own types (`Int`, `Bool`, `String`, arrays, dictionaries, `NSNull`; other numbers as
    /// ``YAMLFloat``), which the YAML writer renders by type.
    var plain: Any {
        switch self {
        case .null: NSNull()
        case .bool(let value): value
        case .int(let value): Int(value)
        case .number(let value): YAMLFloat(value: value)
        case .string(let value): value
        case .array(let values): values.map(\.plain)
        case .object(let values): values.mapValues(\.plain)
        }
    }
}

/// A fractional number written as Swift prints it (`0.5`, not Yams' default `5e-1`).
struct YAMLFloat: NodeRepresentable {
    let value: Double
    func represented() throws -> Node { Node("\(value)", Tag(.float)) }
}
