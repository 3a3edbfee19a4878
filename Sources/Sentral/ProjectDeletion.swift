import DataverketCore
import DataverketTasks
import DataverketStore

extension Tenancy {
    /// The `project.delete` task: removes the project's environments one by one (each its own audited
    /// transaction, so progress is visible and a crash resumes where it stopped), then the project.
    /// Cancelled midway, the project returns to `active` with the environments that remain.
    public var projectDeletion: TaskKind {
        TaskKind(name: "project.delete") { execution in
            let task = execution.task
            let context = execution.context
            let project = try await database.read { session -> Project in
                try await findProject(session, tenant: try await findTenant(session, task.tenantID ?? ""), task.resource.id)
            }
            let environments = try await database.read { session -> [Environment] in try await self.environments(session, project: project) }
            for (index, environment) in environments.enumerated() {
                do {
                    try await execution.progress(index * 100 / (environments.count + 1))
                } catch is TaskCancelled {
                    try await restoreActive(project.fields.id, context: context)
                    throw TaskCancelled()
                }
                try await database.transaction { session in
                    try await removeEnvironment(session, environment, context: context)
                }
            }
            try await database.transaction { session in
                let current = try await findProject(session, tenant: try await findTenant(session, project.tenantID), project.fields.id)
                let touched = try await session.affected("""
                    DELETE FROM \(session.table("tenancy", "projects")) WHERE id = \(bind: current.fields.id) RETURNING id
                    """)
                guard touched == 1 else { throw DataverketError(.conflict, "project '\(current.fields.name)' vanished during deletion") }
                try await MutationRecord(service: "sentral",
                    action: "project.delete", resource: ResourceRef(kind: "project", id: current.fields.id, name: current.fields.name),
                    tenantID: current.tenantID, projectID: current.fields.id, beforeVersion: current.fields.version, afterVersion: nil
                ).write(session, context: context, verb: "deleted", payload: current)
            }
        }
    }

    private func restoreActive(_ projectID: String, context: OperationContext) async throws {
        try await database.transaction { session in
            try await session.run("""
                UPDATE \(session.table("tenancy", "projects")) SET phase = 'active', version = version + 1, updated_at = \(bind: StoreTime.now())
                WHERE id = \(bind: projectID)
                """)
        }
    }
}
