import DataverketCore
import DataverketStore
import Foundation
import JWTKit
import SQLKit
import AsyncHTTPClient

/// Role bindings: who holds which role at which scope.
extension Identitet {
    /// Binds `role` to `subject` at a scope (idempotent).
    @discardableResult
    public func bind(_ subject: String, _ role: Role, scopeKind: String = "platform", scopeID: String = "*", by actor: String,
                     audit: OperationContext? = nil) async throws -> RoleBinding {
        try Self.validate(subject: subject, scopeKind: scopeKind, scopeID: scopeID)
        defer { forgetVerified() }
        return try await database.transaction { session in
            try await Self.insertBinding(session, subject: subject, role: role, scopeKind: scopeKind, scopeID: scopeID, by: actor)
            let binding = try await Self.bindings(session, subject: subject).first {
                $0.role == role.name && $0.scopeKind == scopeKind && $0.scopeID == scopeID
            }!
            try await Self.audit(session, audit, "role.bind", id: binding.id,
                                 name: "\(binding.subject) \(binding.role) \(binding.scopeKind)/\(binding.scopeID)")
            return binding
        }
    }

    public func bindings(of subject: String) async throws -> [RoleBinding] {
        try await database.read { try await Self.bindings($0, subject: subject) }
    }

    /// Subjects are `user:`, `sa:`, `group:` or `service:` plus a name; scopes are `platform` (`*`), or
    /// `tenant`/`project` with an id.
    static func validate(subject: String, scopeKind: String, scopeID: String) throws {
        let parts = subject.split(separator: ":", maxSplits: 1)
        guard parts.count == 2, ["user", "sa", "group", "service"].contains(parts[0]), !parts[1].isEmpty, subject.utf8.count <= 128,
              parts[1].allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || "-_.@".contains($0)) })
        else {
            throw DataverketError(.invalidArgument, "subject must be user:NAME, sa:NAME, group:NAME or service:NAME, got '\(subject)'")
        }
        switch scopeKind {
        case "platform":
            guard scopeID == "*" else { throw DataverketError(.invalidArgument, "a platform binding has scope id '*'") }
        case "tenant", "project":
            guard !scopeID.isEmpty, scopeID.utf8.count <= 64, scopeID != "*" else {
                throw DataverketError(.invalidArgument, "a \(scopeKind) binding needs the \(scopeKind)'s id")
            }
        default:
            throw DataverketError(.invalidArgument, "scope must be platform, tenant or project, got '\(scopeKind)'")
        }
    }

    static func insertBinding(_ session: Session, subject: String, role: Role, scopeKind: String, scopeID: String, by actor: String) async throws {
        try await session.run("""
            INSERT INTO \(session.table("identity", "role_bindings")) (id, subject, role, scope_kind, scope_id, created_at, created_by)
            VALUES (\(bind: "rb_" + ULID.make()), \(bind: subject), \(bind: role.name), \(bind: scopeKind), \(bind: scopeID),
                \(bind: StoreTime.now()), \(bind: actor))
            ON CONFLICT (subject, role, scope_kind, scope_id) DO NOTHING
            """)
    }

    static func bindings(_ session: Session, subject: String) async throws -> [RoleBinding] {
        try await session.all("""
            SELECT id, subject, role, scope_kind, scope_id FROM \(session.table("identity", "role_bindings"))
            WHERE subject = \(bind: subject) ORDER BY id
            """).map { row in
            RoleBinding(id: try row.decode(column: "id", as: String.self), subject: try row.decode(column: "subject", as: String.self),
                        role: try row.decode(column: "role", as: String.self), scopeKind: try row.decode(column: "scope_kind", as: String.self),
                        scopeID: try row.decode(column: "scope_id", as: String.self))
        }
    }

    /// All bindings (optionally of one subject), for `dvid role list`.
    public func allBindings(subject: String? = nil) async throws -> [RoleBinding] {
        try await database.read { session in
            var query: SQLQueryString = "SELECT id, subject, role, scope_kind, scope_id FROM \(session.table("identity", "role_bindings"))"
            if let subject {
                query.appendInterpolation(unsafeRaw: " WHERE subject = ")
                query.appendInterpolation(bind: subject)
            }
            query.appendInterpolation(unsafeRaw: " ORDER BY subject, role, id")
            return try await session.all(query).map { row in
                RoleBinding(id: try row.decode(column: "id", as: String.self), subject: try row.decode(column: "subject", as: String.self),
                            role: try row.decode(column: "role", as: String.self), scopeKind: try row.decode(column: "scope_kind", as: String.self),
                            scopeID: try row.decode(column: "scope_id", as: String.self))
            }
        }
    }

    /// Removes a binding. The last platform-admin binding cannot be removed (nobody could administer the platform).
    public func unbind(_ id: String, audit: OperationContext? = nil) async throws {
        defer { forgetVerified() }
        try await database.transaction { session in
            let table = session.table("identity", "role_bindings")
            guard let row = try await session.first("SELECT role, scope_kind FROM \(table) WHERE id = \(bind: id)") else {
                throw DataverketError.notFound("role binding", id)
            }
            if try row.decode(column: "role", as: String.self) == Role.platformAdmin.name,
               try row.decode(column: "scope_kind", as: String.self) == "platform" {
                let admins = try await session.all("""
                    SELECT id FROM \(table) WHERE role = 'platform-admin' AND scope_kind = 'platform'
                    """).count
                if admins <= 1 { throw DataverketError(.conflict, "\(id) is the last platform-admin binding; bind another admin first") }
            }
            try await session.run("DELETE FROM \(table) WHERE id = \(bind: id)")
            try await Self.audit(session, audit, "role.unbind", id: id, name: nil)
        }
    }
}
