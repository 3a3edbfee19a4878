import DataverketCore
import Foundation

/// Reading loosely typed Redfish documents.
extension AnyJSON {
    subscript(key: String) -> AnyJSON? {
        if case .object(let object) = self { return object[key] }
        return nil
    }

    var string: String? {
        if case .string(let value) = self { return value }
        return nil
    }

    var number: Double? {
        if case .number(let value) = self { return value }
        return nil
    }

    var int: Int? { number.flatMap { $0.isFinite && abs($0) < 9e15 ? Int($0) : nil } }

    var array: [AnyJSON]? {
        if case .array(let value) = self { return value }
        return nil
    }

    /// `@odata.id` of a link object.
    var odataID: String? { self["@odata.id"]?.string }

    /// The `@odata.id` of each member of a collection.
    var memberIDs: [String] { (self["Members"]?.array ?? []).compactMap(\.odataID) }

    /// A non-empty, trimmed string value.
    func text(_ key: String) -> String? {
        guard let value = self[key]?.string?.trimmingCharacters(in: .whitespaces), !value.isEmpty else { return nil }
        return value
    }
}
