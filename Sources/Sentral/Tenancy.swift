#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import DataverketCore
import DataverketTasks
import DataverketStore
import Logging
import SQLKit

/// Tenants → projects → environments: Sentral's tenancy bounded context.
public struct Tenancy: Sendable {
    public let database: Database
    public let tasks: Tasks

    public init(database: Database, tasks: Tasks) {
        self.database = database
        self.tasks = tasks
    }

    // MARK: tenants

    public func createTenant(_ spec: ResourceSpec, context: OperationContext) async throws -> (Tenant, replayed: Bool) {
        try spec.validate()
        return try await database.transaction { session in
            try await Idempotency.once(session, scope: "\(context.actor) POST tenants", key: context.idempotencyKey, fingerprint: spec) {
                let fields = ResourceFields.new(prefix: "ten", spec: spec)
                try await insert(session, table: session.table("tenancy", "tenants"), fields: fields, extra: [:], kind: "tenant")
                let tenant = Tenant(fields: fields)
                try await MutationRecord(service: "sentral",
                    action: "tenant.create", resource: ResourceRef(kind: "tenant", id: fields.id, name: fields.name),
                    tenantID: fields.id, projectID: nil, beforeVersion: nil, afterVersion: fields.version
                ).write(session, context: context, verb: "created", payload: tenant)
                return tenant
            }
        }
    }

    /// Which of `projectIDs` belong to the tenant `tenantID` (for access checks of project-scoped roles).
    public func projects(in tenantID: String, among projectIDs: [String]) async throws -> Set<String> {
        guard !projectIDs.isEmpty else { return [] }
        return try await database.read { session in
            var query: SQLQueryString = "SELECT id FROM \(session.table("tenancy", "projects")) WHERE tenant_id = \(bind: tenantID) AND id IN ("
            for (index, id) in projectIDs.enumerated() {
                if index > 0 { query.appendInterpolation(unsafeRaw: ", ") }
                query.appendInterpolation(bind: id)
            }
            query.appendInterpolation(unsafeRaw: ")")
            return Set(try await session.all(query).map { try $0.decode(column: "id", as: String.self) })
        }
    }

    public func getTenant(_ ref: String) async throws -> Tenant {
        try await database.read { try await findTenant($0, ref) }
    }

    public func listTenants(limit: Int?, cursor: String?) async throws -> Page<Tenant> {
        let limit = try Paging.limit(limit)
        let after = try Paging.decodeID(cursor) ?? ""
        return try await database.read { session in
            let rows = try await session.all("""
                SELECT \(unsafeRaw: ResourceFields.columns("t")) FROM \(session.table("tenancy", "tenants")) t
                WHERE t.id > \(bind: after) ORDER BY t.id LIMIT \(bind: limit + 1)
                """)
            return Paging.page(try rows.map { Tenant(fields: try ResourceFields(row: $0)) }, limit: limit) { $0.fields.id }
        }
    }

    public func updateTenant(_ ref: String, change: ResourceChange, expected: ExpectedVersion, context: OperationContext) async throws -> Tenant {
        try change.validate()
        return try await database.transaction { session in
            let current = try await findTenant(session, ref)
            let fields = try await update(session, table: session.table("tenancy", "tenants"), current: current.fields, change: change, expected: expected, kind: "tenant")
            let tenant = Tenant(fields: fields)
            try await MutationRecord(service: "sentral",
                action: "tenant.update", resource: ResourceRef(kind: "tenant", id: fields.id, name: fields.name),
                tenantID: fields.id, projectID: nil, beforeVersion: current.fields.version, afterVersion: fields.version
            ).write(session, context: context, verb: "updated", payload: tenant)
            return tenant
        }
    }

    /// Deletes a tenant that has no projects (a tenant with projects is a conflict: delete those first).
    public func deleteTenant(_ ref: String, expected: ExpectedVersion, context: OperationContext) async throws {
        try await database.transaction { session in
            let tenant = try await findTenant(session, ref)
            try checkPrecondition(expected, current: tenant.fields.version, kind: "tenant", name: tenant.fields.name)
            let count = try await session.first("""
                SELECT COUNT(*) AS n FROM \(session.table("tenancy", "projects")) WHERE tenant_id = \(bind: tenant.fields.id)
                """)?.decode(column: "n", as: Int.self) ?? 0
            if count > 0 {
                throw DataverketError(.conflict, "tenant '\(tenant.fields.name)' still has \(count) project(s): delete them first")
            }
            try await deleteRow(session, table: session.table("tenancy", "tenants"), fields: tenant.fields, kind: "tenant")
            try await MutationRecord(service: "sentral",
                action: "tenant.delete", resource: ResourceRef(kind: "tenant", id: tenant.fields.id, name: tenant.fields.name),
                tenantID: tenant.fields.id, projectID: nil, beforeVersion: tenant.fields.version, afterVersion: nil
            ).write(session, context: context, verb: "deleted", payload: tenant)
        }
    }

    // MARK: projects

    public func createProject(tenant tenantRef: String, _ spec: ResourceSpec, context: OperationContext) async throws -> (Project, replayed: Bool) {
        try spec.validate()
        return try await database.transaction { session in
            let tenant = try await findTenant(session, tenantRef)
            return try await Idempotency.once(session, scope: "\(context.actor) POST \(tenant.fields.id)/projects", key: context.idempotencyKey, fingerprint: spec) {
                let fields = ResourceFields.new(prefix: "prj", spec: spec)
                try await insert(session, table: session.table("tenancy", "projects"), fields: fields,
                                 extra: ["tenant_id": tenant.fields.id, "phase": "active"], kind: "project")
                let project = Project(fields: fields, tenantID: tenant.fields.id, tenantName: tenant.fields.name, phase: "active")
                try await MutationRecord(service: "sentral",
                    action: "project.create", resource: ResourceRef(kind: "project", id: fields.id, name: fields.name),
                    tenantID: tenant.fields.id, projectID: fields.id, beforeVersion: nil, afterVersion: fields.version
                ).write(session, context: context, verb: "created", payload: project)
                return project
            }
        }
    }

    /// A project by its ID alone (project names are unique only within their tenant).
    public func project(id: String) async throws -> Project {
        try await database.read { session in
            guard ResourceID.looksLikeID(id), let row = try await session.first("""
                SELECT \(unsafeRaw: ResourceFields.columns("p")), p.phase, p.tenant_id, t.name AS tenant_name
                FROM \(session.table("tenancy", "projects")) p JOIN \(session.table("tenancy", "tenants")) t ON t.id = p.tenant_id
                WHERE p.id = \(bind: id)
                """) else { throw DataverketError.notFound("project", id) }
            return Project(fields: try ResourceFields(row: row), tenantID: try row.decode(column: "tenant_id", as: String.self),
                           tenantName: try row.decode(column: "tenant_name", as: String.self),
                           phase: try row.decode(column: "phase", as: String.self))
        }
    }

    /// One statement when both exist (the tenant joined to its project); a miss is then told apart — no such tenant, or
    /// no such project in it — by looking the tenant up alone.
    public func getProject(tenant: String, _ ref: String) async throws -> Project {
        try await database.read { session in
            let tenantColumn = ResourceID.looksLikeID(tenant) ? "id" : "name"
            let projectColumn = ResourceID.looksLikeID(ref) ? "id" : "name"
            guard let row = try await session.first("""
                SELECT \(unsafeRaw: ResourceFields.columns("p")), p.phase, t.id AS tenant_id, t.name AS tenant_name
                FROM \(session.table("tenancy", "projects")) p JOIN \(session.table("tenancy", "tenants")) t ON t.id = p.tenant_id
                WHERE t.\(unsafeRaw: tenantColumn) = \(bind: tenant) AND p.\(unsafeRaw: projectColumn) = \(bind: ref)
                """) else {
                return try await findProject(session, tenant: try await findTenant(session, tenant), ref)
            }
            return Project(fields: try ResourceFields(row: row), tenantID: try row.decode(column: "tenant_id", as: String.self),
                           tenantName: try row.decode(column: "tenant_name", as: String.self),
                           phase: try row.decode(column: "phase", as: String.self))
        }
    }

    public func listProjects(tenant tenantRef: String, limit: Int?, cursor: String?) async throws -> Page<Project> {
        let limit = try Paging.limit(limit)
        let after = try Paging.decodeID(cursor) ?? ""
        return try await database.read { session in
            let tenant = try await findTenant(session, tenantRef)
            let rows = try await session.all("""
                SELECT \(unsafeRaw: ResourceFields.columns("p")), p.phase FROM \(session.table("tenancy", "projects")) p
                WHERE p.tenant_id = \(bind: tenant.fields.id) AND p.id > \(bind: after) ORDER BY p.id LIMIT \(bind: limit + 1)
                """)
            let items = try rows.map {
                Project(fields: try ResourceFields(row: $0), tenantID: tenant.fields.id, tenantName: tenant.fields.name,
                        phase: try $0.decode(column: "phase", as: String.self))
            }
            return Paging.page(items, limit: limit) { $0.fields.id }
        }
    }

    public func updateProject(tenant: String, _ ref: String, change: ResourceChange, expected: ExpectedVersion, context: OperationContext) async throws -> Project {
        try change.validate()
        return try await database.transaction { session in
            let current = try await findProject(session, tenant: try await findTenant(session, tenant), ref)
            var project = current
            project.fields = try await update(session, table: session.table("tenancy", "projects"), current: current.fields, change: change, expected: expected, kind: "project")
            try await MutationRecord(service: "sentral",
                action: "project.update", resource: ResourceRef(kind: "project", id: project.fields.id, name: project.fields.name),
                tenantID: project.tenantID, projectID: project.fields.id, beforeVersion: current.fields.version, afterVersion: project.fields.version
            ).write(session, context: context, verb: "updated", payload: project)
            return project
        }
    }

    /// Marks the project `deleting` and queues a `project.delete` task that removes its environments and
    /// then the project. A delete while one is in flight returns the in-flight task.
    public func deleteProject(tenant: String, _ ref: String, expected: ExpectedVersion, context: OperationContext) async throws -> TaskRecord {
        try await database.transaction { session in
            let project = try await findProject(session, tenant: try await findTenant(session, tenant), ref)
            if project.phase == "deleting",
               let inflight = try await tasks.active(session, resourceID: project.fields.id, kind: "project.delete") {
                return inflight
            }
            try checkPrecondition(expected, current: project.fields.version, kind: "project", name: project.fields.name)
            let next = project.fields.version + 1
            let touched = try await session.affected("""
                UPDATE \(session.table("tenancy", "projects")) SET phase = 'deleting', version = \(bind: next), updated_at = \(bind: StoreTime.now())
                WHERE id = \(bind: project.fields.id) AND version = \(bind: project.fields.version) RETURNING id
                """)
            guard touched == 1 else { throw concurrentChange("project", project.fields.name) }
            let resource = ResourceRef(kind: "project", id: project.fields.id, name: project.fields.name)
            let task = try await tasks.enqueue(session, kind: "project.delete", resource: resource, tenantID: project.tenantID,
                                               projectID: project.fields.id, context: context)
            var deleting = project
            deleting.phase = "deleting"
            deleting.fields.version = next
            var taskContext = context
            taskContext.taskID = task.id
            try await MutationRecord(service: "sentral",
                action: "project.delete.requested", resource: resource, tenantID: project.tenantID, projectID: project.fields.id,
                beforeVersion: project.fields.version, afterVersion: next
            ).write(session, context: taskContext, verb: "deleting", payload: deleting)
            return task
        }
    }

    // MARK: environments

    public func createEnvironment(tenant: String, project projectRef: String, _ spec: ResourceSpec, context: OperationContext) async throws -> (Environment, replayed: Bool) {
        try spec.validate()
        return try await database.transaction { session in
            let project = try await findProject(session, tenant: try await findTenant(session, tenant), projectRef)
            return try await Idempotency.once(session, scope: "\(context.actor) POST \(project.fields.id)/environments", key: context.idempotencyKey, fingerprint: spec) {
                guard project.phase == "active" else {
                    throw DataverketError(.conflict, "project '\(project.fields.name)' is being deleted")
                }
                let fields = ResourceFields.new(prefix: "env", spec: spec)
                try await insert(session, table: session.table("tenancy", "environments"), fields: fields,
                                 extra: ["tenant_id": project.tenantID, "project_id": project.fields.id], kind: "environment")
                let environment = Environment(fields: fields, tenantID: project.tenantID, tenantName: project.tenantName,
                                              projectID: project.fields.id, projectName: project.fields.name)
                try await MutationRecord(service: "sentral",
                    action: "environment.create", resource: ResourceRef(kind: "environment", id: fields.id, name: fields.name),
                    tenantID: project.tenantID, projectID: project.fields.id, beforeVersion: nil, afterVersion: fields.version
                ).write(session, context: context, verb: "created", payload: environment)
                return environment
            }
        }
    }

    public func getEnvironment(tenant: String, project: String, _ ref: String) async throws -> Environment {
        try await database.read { session in
            let project = try await findProject(session, tenant: try await findTenant(session, tenant), project)
            return try await findEnvironment(session, project: project, ref)
        }
    }

    public func listEnvironments(tenant: String, project projectRef: String, limit: Int?, cursor: String?) async throws -> Page<Environment> {
        let limit = try Paging.limit(limit)
        let after = try Paging.decodeID(cursor) ?? ""
        return try await database.read { session in
            let project = try await findProject(session, tenant: try await findTenant(session, tenant), projectRef)
            let rows = try await session.all("""
                SELECT \(unsafeRaw: ResourceFields.columns("e")) FROM \(session.table("tenancy", "environments")) e
                WHERE e.project_id = \(bind: project.fields.id) AND e.id > \(bind: after) ORDER BY e.id LIMIT \(bind: limit + 1)
                """)
            let items = try rows.map {
                Environment(fields: try ResourceFields(row: $0), tenantID: project.tenantID, tenantName: project.tenantName,
                            projectID: project.fields.id, projectName: project.fields.name)
            }
            return Paging.page(items, limit: limit) { $0.fields.id }
        }
    }

    public func updateEnvironment(tenant: String, project: String, _ ref: String, change: ResourceChange, expected: ExpectedVersion, context: OperationContext) async throws -> Environment {
        try change.validate()
        return try await database.transaction { session in
            let project = try await findProject(session, tenant: try await findTenant(session, tenant), project)
            let current = try await findEnvironment(session, project: project, ref)
            var environment = current
            environment.fields = try await update(session, table: session.table("tenancy", "environments"), current: current.fields, change: change, expected: expected, kind: "environment")
            try await MutationRecord(service: "sentral",
                action: "environment.update", resource: ResourceRef(kind: "environment", id: environment.fields.id, name: environment.fields.name),
                tenantID: environment.tenantID, projectID: environment.projectID, beforeVersion: current.fields.version, afterVersion: environment.fields.version
            ).write(session, context: context, verb: "updated", payload: environment)
            return environment
        }
    }

    public func deleteEnvironment(tenant: String, project: String, _ ref: String, expected: ExpectedVersion, context: OperationContext) async throws {
        try await database.transaction { session in
            let project = try await findProject(session, tenant: try await findTenant(session, tenant), project)
            let environment = try await findEnvironment(session, project: project, ref)
            try checkPrecondition(expected, current: environment.fields.version, kind: "environment", name: environment.fields.name)
            try await removeEnvironment(session, environment, context: context)
        }
    }

    func removeEnvironment(_ session: Session, _ environment: Environment, context: OperationContext) async throws {
        try await deleteRow(session, table: session.table("tenancy", "environments"), fields: environment.fields, kind: "environment")
        try await MutationRecord(service: "sentral",
            action: "environment.delete", resource: ResourceRef(kind: "environment", id: environment.fields.id, name: environment.fields.name),
            tenantID: environment.tenantID, projectID: environment.projectID, beforeVersion: environment.fields.version, afterVersion: nil
        ).write(session, context: context, verb: "deleted", payload: environment)
    }

    // MARK: lookups

    func findTenant(_ session: Session, _ ref: String) async throws -> Tenant {
        let column = ResourceID.looksLikeID(ref) ? "id" : "name"
        guard let row = try await session.first("""
            SELECT \(unsafeRaw: ResourceFields.columns("t")) FROM \(session.table("tenancy", "tenants")) t WHERE t.\(unsafeRaw: column) = \(bind: ref)
            """) else { throw DataverketError.notFound("tenant", ref) }
        return Tenant(fields: try ResourceFields(row: row))
    }

    func findProject(_ session: Session, tenant: Tenant, _ ref: String) async throws -> Project {
        let column = ResourceID.looksLikeID(ref) ? "id" : "name"
        guard let row = try await session.first("""
            SELECT \(unsafeRaw: ResourceFields.columns("p")), p.phase FROM \(session.table("tenancy", "projects")) p
            WHERE p.tenant_id = \(bind: tenant.fields.id) AND p.\(unsafeRaw: column) = \(bind: ref)
            """) else { throw DataverketError.notFound("project", "\(tenant.fields.name)/\(ref)") }
        return Project(fields: try ResourceFields(row: row), tenantID: tenant.fields.id, tenantName: tenant.fields.name,
                       phase: try row.decode(column: "phase", as: String.self))
    }

    func findEnvironment(_ session: Session, project: Project, _ ref: String) async throws -> Environment {
        let column = ResourceID.looksLikeID(ref) ? "id" : "name"
        guard let row = try await session.first("""
            SELECT \(unsafeRaw: ResourceFields.columns("e")) FROM \(session.table("tenancy", "environments")) e
            WHERE e.project_id = \(bind: project.fields.id) AND e.\(unsafeRaw: column) = \(bind: ref)
            """) else { throw DataverketError.notFound("environment", "\(project.tenantName)/\(project.fields.name)/\(ref)") }
        return Environment(fields: try ResourceFields(row: row), tenantID: project.tenantID, tenantName: project.tenantName,
                           projectID: project.fields.id, projectName: project.fields.name)
    }

    func environments(_ session: Session, project: Project) async throws -> [Environment] {
        let rows = try await session.all("""
            SELECT \(unsafeRaw: ResourceFields.columns("e")) FROM \(session.table("tenancy", "environments")) e
            WHERE e.project_id = \(bind: project.fields.id) ORDER BY e.id
            """)
        return try rows.map {
            Environment(fields: try ResourceFields(row: $0), tenantID: project.tenantID, tenantName: project.tenantName,
                        projectID: project.fields.id, projectName: project.fields.name)
        }
    }

    // MARK: shared row operations

    private func insert(_ session: Session, table: TableName, fields: ResourceFields, extra: [String: String], kind: String) async throws {
        let extraColumns = extra.keys.sorted()
        var query = SQLQueryString("INSERT INTO \(table) (id, name, display_name, description, labels, version, created_at, updated_at")
        for column in extraColumns { query.appendLiteral(", \(column)") }
        query.appendInterpolation(unsafeRaw: ") VALUES (")
        query.appendInterpolation(bind: fields.id)
        query.appendLiteral(", ")
        query.appendInterpolation(bind: fields.name)
        query.appendLiteral(", ")
        query.appendInterpolation(bind: fields.displayName)
        query.appendLiteral(", ")
        query.appendInterpolation(bind: fields.description)
        query.appendLiteral(", ")
        query.appendInterpolation(bind: try LabelCoding.encode(fields.labels))
        query.appendLiteral(", ")
        query.appendInterpolation(bind: fields.version)
        query.appendLiteral(", ")
        query.appendInterpolation(bind: StoreTime.encode(fields.createdAt))
        query.appendLiteral(", ")
        query.appendInterpolation(bind: StoreTime.encode(fields.updatedAt))
        for column in extraColumns {
            query.appendLiteral(", ")
            query.appendInterpolation(bind: extra[column]!)
        }
        query.appendLiteral(")")
        do {
            try await session.run(query)
        } catch where StoreErrors.isUniqueViolation(error) {
            throw DataverketError(.alreadyExists, "\(kind) '\(fields.name)' already exists", cause: error)
        }
    }

    private func update(_ session: Session, table: TableName, current: ResourceFields, change: ResourceChange, expected: ExpectedVersion, kind: String) async throws -> ResourceFields {
        try checkPrecondition(expected, current: current.version, kind: kind, name: current.name)
        let next = current.applying(change)
        let touched = try await session.affected("""
            UPDATE \(table) SET display_name = \(bind: next.displayName), description = \(bind: next.description),
                labels = \(bind: try LabelCoding.encode(next.labels)), version = \(bind: next.version),
                updated_at = \(bind: StoreTime.encode(next.updatedAt))
            WHERE id = \(bind: current.id) AND version = \(bind: current.version) RETURNING id
            """)
        guard touched == 1 else { throw concurrentChange(kind, current.name) }
        return next
    }

    private func deleteRow(_ session: Session, table: TableName, fields: ResourceFields, kind: String) async throws {
        let touched = try await session.affected("""
            DELETE FROM \(table) WHERE id = \(bind: fields.id) AND version = \(bind: fields.version) RETURNING id
            """)
        guard touched == 1 else { throw concurrentChange(kind, fields.name) }
    }

    private func concurrentChange(_ kind: String, _ name: String) -> DataverketError {
        DataverketError(.preconditionFailed, "\(kind) '\(name)' was changed concurrently: re-read it and retry")
    }
}
