#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import DataverketCore
import SQLKit

/// Reading typed values out of rows, with one error for a value the store should never hold.
public enum Column {
    public static func string(_ row: any SQLRow, _ column: String) throws -> String { try row.decode(column: column, as: String.self) }
    public static func optional(_ row: any SQLRow, _ column: String) throws -> String? { try row.decode(column: column, as: String?.self) }
    public static func int64(_ row: any SQLRow, _ column: String) throws -> Int64 { try row.decode(column: column, as: Int64.self) }
    public static func optionalInt64(_ row: any SQLRow, _ column: String) throws -> Int64? { try row.decode(column: column, as: Int64?.self) }
    public static func int(_ row: any SQLRow, _ column: String) throws -> Int { Int(try int64(row, column)) }
    public static func optionalInt(_ row: any SQLRow, _ column: String) throws -> Int? { try optionalInt64(row, column).map { Int($0) } }
    /// A ``StoreTime`` column (microseconds since 1970) as a date.
    public static func time(_ row: any SQLRow, _ column: String) throws -> Date { StoreTime.decode(try int64(row, column)) }
    public static func optionalTime(_ row: any SQLRow, _ column: String) throws -> Date? { try optionalInt64(row, column).map(StoreTime.decode) }

    /// A string column holding one of an enumeration's raw values.
    public static func enumValue<T: RawRepresentable>(_ row: any SQLRow, _ column: String) throws -> T where T.RawValue == String {
        let raw = try string(row, column)
        guard let value = T(rawValue: raw) else { throw DataverketError(.internal, "unknown \(column) '\(raw)' in the store") }
        return value
    }

    /// A comma-separated list column.
    public static func list(_ text: String) -> [String] { text.isEmpty ? [] : text.split(separator: ",").map(String.init) }
}

extension SQLQueryString {
    /// Appends SQL text as it is (never user input).
    public mutating func raw(_ text: String) { appendInterpolation(unsafeRaw: text) }
    /// Appends a bound value.
    public mutating func value(_ value: some Encodable & Sendable) { appendInterpolation(bind: value) }
}
