/// The API contract: `openapi.yaml` here is a link to `openapi/dataverket.yaml`; the types, server stubs
/// and client in this module are generated from it by swift-openapi-generator at build time.
public enum APIContract {
    public static let version = "1.0.0"
}

import Foundation
import OpenAPIRuntime

/// RFC 3339 timestamps: written with fractional seconds, read with or without them (clients and
/// operators type `2026-11-23T10:00:00Z`).
public struct RFC3339DateTranscoder: DateTranscoder {
    public init() {}

    public func encode(_ date: Date) throws -> String {
        date.formatted(Date.ISO8601FormatStyle(includingFractionalSeconds: true))
    }

    public func decode(_ text: String) throws -> Date {
        guard let date = Self.date(text) else {
            throw DecodingError.dataCorrupted(.init(codingPath: [], debugDescription: "'\(text)' is not an RFC 3339 timestamp"))
        }
        return date
    }

    /// The whole text as an RFC 3339 timestamp (`2026-11-23T10:00:00Z`, fractional seconds and an offset allowed), as
    /// the contract's pattern says; nil otherwise. Foundation's ISO 8601 parser alone takes a valid prefix and ignores
    /// what follows (`…T03:17:34Z*` read as a date), so the shape is checked first.
    public static func date(_ text: String) -> Date? {
        guard text.wholeMatch(of: #/[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,9})?(Z|[+-](0[0-9]|1[0-4]):[0-5][0-9])/#) != nil else {
            return nil
        }
        if let date = try? Date(text, strategy: Date.ISO8601FormatStyle(includingFractionalSeconds: true)) { return date }
        return try? Date(text, strategy: Date.ISO8601FormatStyle())
    }
}

extension Configuration {
    /// The configuration server and client share.
    public static var dataverket: Configuration { Configuration(dateTranscoder: RFC3339DateTranscoder()) }
}
