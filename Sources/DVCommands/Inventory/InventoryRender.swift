import Foundation
import DataverketClient

/// The inventory's free-form objects (`InventoryObject`) as plain JSON values for the CLI's tables.
enum InventoryValue {
    static func dictionary(_ object: some Encodable) throws -> [String: Any] {
        (try JSONSerialization.jsonObject(with: try JSONEncoder().encode(object)) as? [String: Any]) ?? [:]
    }

    /// A string for a table cell: `-` for nothing, lists joined, numbers as written.
    static func cell(_ value: Any?) -> String {
        switch value {
        case nil, is NSNull: "-"
        case let text as String: text.isEmpty ? "-" : text
        case let number as NSNumber: number.stringValue
        case let list as [Any]: list.isEmpty ? "-" : list.map { cell($0) }.joined(separator: ",")
        default: "\(value!)"
        }
    }

    /// Prints free-form objects: JSON or YAML as they are, or a table of the given columns (dotted paths).
    static func print<Object: Encodable>(_ objects: [Object], columns: [(header: String, path: String)], format: OutputFormat) throws {
        switch format {
        case .json: Terminal.write(try Render.json(objects))
        case .yaml: Terminal.write(try Render.yaml(objects))
        case .table:
            guard !objects.isEmpty else { return Terminal.write("No resources found.") }
            let rows = try objects.map { object in
                let values = try dictionary(object)
                return columns.map { cell(lookup(values, $0.path)) }
            }
            Terminal.write(Render.table(rows, headers: columns.map(\.header)))
        }
    }

    static func lookup(_ values: [String: Any], _ path: String) -> Any? {
        var current: Any? = values
        for key in path.split(separator: ".") {
            current = (current as? [String: Any])?[String(key)]
        }
        return current
    }
}
