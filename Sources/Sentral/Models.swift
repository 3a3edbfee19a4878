#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import DataverketCore
import DataverketTasks

/// The fields every Sentral resource has.
public struct ResourceFields: Codable, Sendable, Hashable {
    public var id: String
    public var name: String
    public var displayName: String?
    public var description: String?
    public var labels: [String: String]
    public var createdAt: Date
    public var updatedAt: Date
    public var version: Int64
}

public struct Tenant: Codable, Sendable, Hashable {
    public var fields: ResourceFields
}

public struct Project: Codable, Sendable, Hashable {
    public var fields: ResourceFields
    public var tenantID: String
    public var tenantName: String
    /// `active`, or `deleting` while its delete task runs.
    public var phase: String
}

public struct Environment: Codable, Sendable, Hashable {
    public var fields: ResourceFields
    public var tenantID: String
    public var tenantName: String
    public var projectID: String
    public var projectName: String
}

/// What a create request asks for.
public struct ResourceSpec: Codable, Sendable, Hashable {
    public var name: String
    public var displayName: String?
    public var description: String?
    public var labels: [String: String]

    public init(name: String, displayName: String? = nil, description: String? = nil, labels: [String: String] = [:]) {
        self.name = name
        self.displayName = displayName
        self.description = description
        self.labels = labels
    }

    func validate() throws(DataverketError) {
        var violations: [DataverketError.FieldViolation] = []
        do throws(DataverketError) { try Validation.checkName(name) } catch { violations += error.violations }
        do throws(DataverketError) { try Validation.checkLabels(labels) } catch { violations += error.violations }
        do throws(DataverketError) { try Validation.checkText(displayName, field: "displayName", max: 256) } catch { violations += error.violations }
        do throws(DataverketError) { try Validation.checkText(description, field: "description", max: 4096) } catch { violations += error.violations }
        if !violations.isEmpty {
            throw DataverketError(.invalidArgument, violations.map { "\($0.field): \($0.message)" }.joined(separator: "; "), violations: violations)
        }
    }
}

/// What an update request changes; nil fields are kept.
public struct ResourceChange: Sendable, Hashable {
    public var displayName: String?
    public var description: String?
    public var labels: [String: String]?

    public init(displayName: String? = nil, description: String? = nil, labels: [String: String]? = nil) {
        self.displayName = displayName
        self.description = description
        self.labels = labels
    }

    func validate() throws(DataverketError) {
        if let labels { try Validation.checkLabels(labels) }
        try Validation.checkText(displayName, field: "displayName", max: 256)
        try Validation.checkText(description, field: "description", max: 4096)
    }
}

/// The version a change is conditioned on (from `If-Match`); `nil` means unconditional.
public typealias ExpectedVersion = Int64?
