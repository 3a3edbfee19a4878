import DataverketCore
import Identitet
import Sentral
import DataverketTasks

/// Access to one tenant (and project) for callers whose roles are bound at tenant or project scope
/// (platform-scoped roles are settled by `AccessMiddleware`). What a caller may not see is `404` — the same
/// answer as for a tenant or project that does not exist — and what it may see but not change is `403`.
///
/// - tenant-admin at T: everything in T except deleting T; member at T: read and write (no deletes);
///   viewer at T: read.
/// - project-admin at P: everything in P (and its environments); member at P: read and write; viewer at P:
///   read. A role in P also makes P's tenant visible (read only).
struct TenancyAccess {
    enum Need { case read, write, destructive }

    let principal: Principal
    let tenancy: Tenancy

    private func roles(_ kind: String, _ id: String) -> Set<String> {
        Set(principal.bindings.filter { $0.scopeKind == kind && $0.scopeID == id }.map(\.role))
    }

    private var boundProjects: [String] {
        principal.bindings.filter { $0.scopeKind == "project" }.map(\.scopeID)
    }

    /// Whether the tenant is visible at all (a role at it, or at one of its projects).
    func sees(_ tenant: Tenant) async throws -> Bool {
        if !roles("tenant", tenant.fields.id).isEmpty { return true }
        return try await !tenancy.projects(in: tenant.fields.id, among: boundProjects).isEmpty
    }

    /// Checks `need` on the tenant itself (`project` nil) or on a project of it (and its environments).
    /// `tenantLevel` is the tenant resource itself (update/delete of the tenant), as opposed to its children.
    func check(_ need: Need, tenant: Tenant, project: Project? = nil, tenantLevel: Bool = false) async throws {
        let atTenant = roles("tenant", tenant.fields.id)
        let atProject = project.map { roles("project", $0.fields.id) } ?? []
        let visible: Bool
        if let project {
            visible = !atTenant.isEmpty || !atProject.isEmpty
            guard visible else { throw DataverketError.notFound("project", project.fields.name) }
        } else {
            visible = try await sees(tenant)
            guard visible else { throw DataverketError.notFound("tenant", tenant.fields.name) }
        }
        let granted: Bool
        switch need {
        case .read:
            granted = true
        case .write:
            granted = tenantLevel ? atTenant.contains("tenant-admin")
                : !atTenant.isDisjoint(with: ["tenant-admin", "member"]) || !atProject.isDisjoint(with: ["project-admin", "member"])
        case .destructive:
            granted = tenantLevel ? false : atTenant.contains("tenant-admin") || atProject.contains("project-admin")
        }
        guard granted else {
            let what = project.map { "project \($0.fields.name)" } ?? "tenant \(tenant.fields.name)"
            throw DataverketError(.forbidden, "\(principal.subject) may see \(what) but its roles there do not allow this")
        }
    }

    /// Of a tenant's projects, those the caller may see: all with a role at the tenant, else those it has a role in.
    func visibleProjects(_ projects: [Project], of tenant: Tenant) -> [Project] {
        if !roles("tenant", tenant.fields.id).isEmpty { return projects }
        let bound = Set(boundProjects)
        return projects.filter { bound.contains($0.fields.id) }
    }
}
