#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// The bus envelope: CloudEvents 1.0 (structured JSON mode) plus Dataverket's extension attributes.
public struct CloudEvent: Codable, Sendable, Hashable {
    public var specversion: String = "1.0"
    public var id: String
    public var source: String
    public var type: String
    public var subject: String?
    public var time: Date
    public var datacontenttype: String = "application/json"
    /// The event payload as a JSON document (kept as text so the envelope is payload-agnostic).
    public var data: JSONText
    public var correlationid: String
    public var causationid: String?
    public var tenant: String?
    public var project: String?
    public var actor: String
    public var datacenter: String?

    public init(
        id: String = ULID.make(), source: String, type: String, subject: String?, time: Date = Date(),
        data: JSONText, correlationid: String, causationid: String? = nil, tenant: String? = nil,
        project: String? = nil, actor: String, datacenter: String? = nil
    ) {
        self.id = id
        self.source = source
        self.type = type
        self.subject = subject
        self.time = time
        self.data = data
        self.correlationid = correlationid
        self.causationid = causationid
        self.tenant = tenant
        self.project = project
        self.actor = actor
        self.datacenter = datacenter
    }
}

/// A JSON value carried verbatim: encodes as the JSON it holds, not as a string.
public struct JSONText: Codable, Sendable, Hashable {
    public var text: String

    public init(_ text: String) { self.text = text }

    public init(encoding value: some Encodable) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        encoder.dateEncodingStrategy = .iso8601
        self.text = String(decoding: try encoder.encode(value), as: UTF8.self)
    }

    public init(from decoder: any Decoder) throws {
        let value = try decoder.singleValueContainer().decode(AnyJSON.self)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        self.text = String(decoding: try encoder.encode(value), as: UTF8.self)
    }

    public func encode(to encoder: any Encoder) throws {
        let value = try JSONDecoder().decode(AnyJSON.self, from: Data(text.utf8))
        var container = encoder.singleValueContainer()
        try container.encode(value)
    }
}

/// Any JSON value, for passing documents through typed envelopes.
public enum AnyJSON: Codable, Sendable, Hashable {
    case null
    case bool(Bool)
    case number(Double)
    case string(String)
    case array([AnyJSON])
    case object([String: AnyJSON])

    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if container.decodeNil() { self = .null }
        else if let value = try? container.decode(Bool.self) { self = .bool(value) }
        else if let value = try? container.decode(Double.self) { self = .number(value) }
        else if let value = try? container.decode(String.self) { self = .string(value) }
        else if let value = try? container.decode([AnyJSON].self) { self = .array(value) }
        else { self = .object(try container.decode([String: AnyJSON].self)) }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        switch self {
        case .null: try container.encodeNil()
        case .bool(let value): try container.encode(value)
        case .number(let value): try container.encode(value)
        case .string(let value): try container.encode(value)
        case .array(let value): try container.encode(value)
        case .object(let value): try container.encode(value)
        }
    }
}

/// Subject names of the bus (see DESIGN.md "Work").
public enum Subjects {
    public static func event(service: String, entity: String, verb: String) -> String {
        "dv.\(service).evt.\(entity).\(verb)"
    }
    public static func command(service: String, action: String) -> String { "dv.\(service).cmd.\(action)" }
    public static func task(verb: String) -> String { "dv.task.evt.\(verb)" }
}
