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
        if let date = try? Date(text, strategy: Date.ISO8601FormatStyle(includingFractionalSeconds: true)) { return date }
        if let date = try? Date(text, strategy: Date.ISO8601FormatStyle()) { return date }
        throw DecodingError.dataCorrupted(.init(codingPath: [], debugDescription: "'\(text)' is not an RFC 3339 timestamp"))
    }
}

extension Configuration {
    /// The configuration server and client share.
    public static var dataverket: Configuration { Configuration(dateTranscoder: RFC3339DateTranscoder()) }
}
