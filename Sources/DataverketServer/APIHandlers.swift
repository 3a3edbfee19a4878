#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Identitet
import Maskin
import Nett
import DataverketAPI
import DataverketCore
import OpenAPIRuntime
import DataverketStore
import Sentral
import DataverketTasks

/// The generated `APIProtocol` implemented over Sentral. Handlers translate and delegate; errors are
/// thrown as `DataverketError` and rendered as problem+json by `ProblemMiddleware`.
///
/// A class: the generated server keeps one handler value in every operation's closure, and a request then costs a
/// retain rather than a copy of the planes' fields.
final class APIHandlers: APIProtocol, Sendable {
    let sentral: ControlPlane
    let identity: Identitet
    let metrics: ServerMetrics
    /// Bare metal; nil where Maskin does not run (its operations answer 503).
    let maskin: MaskinPlane?
    /// Nett's DNS records in PowerDNS; nil where DNS is not configured (`/v1/network/dns` answers 503).
    let dns: DNSSyncService?
    /// Nett's changesets and drift; nil where they do not run (their operations answer 503).
    let nett: NettPlane?

    init(sentral: ControlPlane, identity: Identitet, metrics: ServerMetrics, maskin: MaskinPlane? = nil, dns: DNSSyncService? = nil,
         nett: NettPlane? = nil) {
        self.sentral = sentral
        self.identity = identity
        self.metrics = metrics
        self.maskin = maskin
        self.dns = dns
        self.nett = nett
    }

    var scope: RequestScope {
        RequestScope.current ?? RequestScope(correlationID: ULID.make(), sourceAddress: nil, actor: OperationContext.anonymousActor,
                                             logger: sentral.database.logger, path: "")
    }

    // MARK: identity

    func getOpenIDConfiguration(_ input: Operations.GetOpenIDConfiguration.Input) async throws -> Operations.GetOpenIDConfiguration.Output {
        let issuer = identity.issuer
        return .ok(.init(body: .json(.init(
            issuer: issuer, jwksUri: issuer + "/v1/identity/jwks", tokenEndpoint: issuer + "/v1/identity/token",
            revocationEndpoint: issuer + "/v1/identity/revoke",
            deviceAuthorizationEndpoint: identity.acceptsDeviceLogin ? issuer + "/v1/identity/device" : nil,
            grantTypesSupported: ["bootstrap", "refresh_token"] + (identity.acceptsDeviceLogin ? ["device_code"] : []),
            idTokenSigningAlgValuesSupported: ["ES256"]))))
    }

    func getJWKS(_ input: Operations.GetJWKS.Input) async throws -> Operations.GetJWKS.Output {
        let keys = try await identity.jwks()
        return .ok(.init(body: .json(.init(keys: keys.map {
            .init(kty: $0.kty, crv: $0.crv, alg: $0.alg, use: $0.use, kid: $0.kid, x: $0.x, y: $0.y)
        }))))
    }

    func createToken(_ input: Operations.CreateToken.Input) async throws -> Operations.CreateToken.Output {
        guard case .json(let body) = input.body else { throw unsupportedBody }
        guard (1...512).contains(body.token.utf8.count) else { throw DataverketError.invalid("token", "must be 1–512 characters") }
        let tokens: SessionTokens
        switch body.grantType {
        case .bootstrap:
            tokens = try await identity.exchangeBootstrap(body.token, audit: scope.operation())
        case .refreshToken:
            tokens = try await identity.refresh(body.token)
        case .deviceCode:
            tokens = try await identity.pollDeviceAuthorization(deviceCode: body.token, audit: scope.operation())
        }
        return .ok(.init(body: .json(.init(accessToken: tokens.accessToken, refreshToken: tokens.refreshToken, tokenType: "Bearer",
                                           expiresIn: tokens.expiresIn, subject: tokens.subject))))
    }

    func revokeToken(_ input: Operations.RevokeToken.Input) async throws -> Operations.RevokeToken.Output {
        guard case .json(let body) = input.body else { throw unsupportedBody }
        guard (1...512).contains(body.token.utf8.count) else { throw DataverketError.invalid("token", "must be 1–512 characters") }
        try await identity.revoke(refreshToken: body.token)
        return .noContent(.init())
    }

    func whoAmI(_ input: Operations.WhoAmI.Input) async throws -> Operations.WhoAmI.Output {
        guard let principal = scope.principal else { throw DataverketError(.unauthenticated, "no credential") }
        return .ok(.init(body: .json(.init(subject: principal.subject, roles: principal.bindings.map {
            .init(role: $0.role, scopeKind: .init(rawValue: $0.scopeKind) ?? .platform, scopeId: $0.scopeID)
        }))))
    }

    func listRoleBindings(_ input: Operations.ListRoleBindings.Input) async throws -> Operations.ListRoleBindings.Output {
        try Validation.checkLength(input.query.subject, field: "subject", max: 128)
        let bindings = try await identity.allBindings(subject: input.query.subject)
        return .ok(.init(body: .json(.init(items: bindings.map(Components.Schemas.RoleBinding.init)))))
    }

    func createRoleBinding(_ input: Operations.CreateRoleBinding.Input) async throws -> Operations.CreateRoleBinding.Output {
        guard case .json(let body) = input.body else { throw unsupportedBody }
        guard let role = Role(named: body.role.rawValue) else { throw DataverketError.invalid("role", "unknown role") }
        let scopeKind = body.scopeKind?.rawValue ?? "platform"
        let scopeID = try await resolveScope(scopeKind, body.scopeId)
        let binding = try await identity.bind(body.subject, role, scopeKind: scopeKind, scopeID: scopeID,
                                              by: scope.actor, audit: scope.operation())
        return .created(.init(body: .json(.init(binding))))
    }

    /// The scope a binding names, as the ID it is stored under: a tenant by ID or name, a project by ID; one that
    /// does not exist is 404 (a binding to it would grant nothing). Identitet checks the shape; tenancy is
    /// Sentral's, so the server — which wires both — resolves it.
    func resolveScope(_ kind: String, _ reference: String?) async throws -> String {
        guard let reference, !reference.isEmpty else { return kind == "platform" ? "*" : "" }
        switch kind {
        case "tenant":
            guard reference.utf8.count <= 64 else { return reference }
            return try await sentral.tenancy.getTenant(reference).fields.id
        case "project":
            guard ResourceID.looksLikeID(reference) else {
                throw DataverketError.invalid("scopeId", "a project binding names the project by its id (project names are unique only within a tenant)")
            }
            return try await sentral.tenancy.project(id: reference).fields.id
        default:
            return reference
        }
    }

    func deleteRoleBinding(_ input: Operations.DeleteRoleBinding.Input) async throws -> Operations.DeleteRoleBinding.Output {
        try await identity.unbind(input.path.binding, audit: scope.operation())
        return .noContent(.init())
    }

    func listServiceAccounts(_ input: Operations.ListServiceAccounts.Input) async throws -> Operations.ListServiceAccounts.Output {
        let accounts = try await identity.serviceAccounts()
        return .ok(.init(body: .json(.init(items: accounts.map(Components.Schemas.ServiceAccount.init)))))
    }

    func createServiceAccount(_ input: Operations.CreateServiceAccount.Input) async throws -> Operations.CreateServiceAccount.Output {
        guard case .json(let body) = input.body else { throw unsupportedBody }
        let account = try await identity.createServiceAccount(body.name, description: body.description, by: scope.actor,
                                                              audit: scope.operation())
        return .created(.init(body: .json(.init(account))))
    }

    func createAPIKey(_ input: Operations.CreateAPIKey.Input) async throws -> Operations.CreateAPIKey.Output {
        guard case .json(let body) = input.body else { throw unsupportedBody }
        let (key, record) = try await identity.createAPIKey(account: input.path.account, lifetime: .seconds(body.ttlSeconds),
                                                            by: scope.actor, audit: scope.operation())
        return .created(.init(body: .json(.init(id: record.id, key: key, account: record.account, expiresAt: record.expiresAt))))
    }

    func revokeAPIKey(_ input: Operations.RevokeAPIKey.Input) async throws -> Operations.RevokeAPIKey.Output {
        try await identity.revokeAPIKey(input.path.key, audit: scope.operation())
        return .noContent(.init())
    }

    // MARK: operations

    func getHealth(_ input: Operations.GetHealth.Input) async throws -> Operations.GetHealth.Output {
        .ok(.init(body: .json(.init(status: "ok"))))
    }

    func getReadiness(_ input: Operations.GetReadiness.Input) async throws -> Operations.GetReadiness.Output {
        do {
            // Generous: a store that is busy (SQLite's one connection leased in turn, a full PostgreSQL pool) is not an
            // unreachable one; one that cannot run `SELECT 1` within 10 s is.
            try await sentral.database.ping(timeout: .seconds(10))
        } catch {
            throw DataverketError(.unavailable, "the store (\(sentral.database.kind)) is unreachable", cause: error)
        }
        return .ok(.init(body: .json(.init(status: "ok", checks: .init(additionalProperties: ["store": "ok"])))))
    }

    func getMetrics(_ input: Operations.GetMetrics.Input) async throws -> Operations.GetMetrics.Output {
        .ok(.init(body: .plainText(HTTPBody(try await metrics.render(tasks: sentral.tasks)))))
    }

    func listServiceHealth(_ input: Operations.ListServiceHealth.Input) async throws -> Operations.ListServiceHealth.Output {
        let items = await sentral.health.services().map { health in
            Components.Schemas.ServiceHealth(
                service: health.service, status: .init(rawValue: health.status) ?? .down, lastSeen: health.lastSeen,
                version: health.version, datacenter: health.datacenter, instance: health.instance, detail: health.detail)
        }
        return .ok(.init(body: .json(.init(items: items))))
    }

    // MARK: tenants

    func listTenants(_ input: Operations.ListTenants.Input) async throws -> Operations.ListTenants.Output {
        let page = try await sentral.tenancy.listTenants(limit: input.query.limit, cursor: input.query.cursor)
        var items = page.items
        if let access = scopedAccess("listTenants") {
            var visible: [Tenant] = []
            for tenant in items where try await access.sees(tenant) { visible.append(tenant) }
            items = visible
        }
        return .ok(.init(body: .json(.init(items: items.map(Components.Schemas.Tenant.init), nextCursor: page.nextCursor))))
    }

    func createTenant(_ input: Operations.CreateTenant.Input) async throws -> Operations.CreateTenant.Output {
        guard case .json(let body) = input.body else { throw unsupportedBody }
        let (tenant, _) = try await sentral.tenancy.createTenant(
            ResourceSpec(body), context: scope.operation(idempotencyKey: try idempotencyKey(input.headers.idempotencyKey)))
        return .created(.init(
            headers: .init(eTag: EntityTag.make(tenant.fields.version), location: "/v1/tenants/\(tenant.fields.name)"),
            body: .json(.init(tenant))))
    }

    func getTenant(_ input: Operations.GetTenant.Input) async throws -> Operations.GetTenant.Output {
        let tenant = try await sentral.tenancy.getTenant(input.path.tenant)
        try await scopedAccess("getTenant")?.check(.read, tenant: tenant)
        return .ok(.init(headers: .init(eTag: EntityTag.make(tenant.fields.version)), body: .json(.init(tenant))))
    }

    func updateTenant(_ input: Operations.UpdateTenant.Input) async throws -> Operations.UpdateTenant.Output {
        guard case .json(let body) = input.body else { throw unsupportedBody }
        let expected = try EntityTag.parse(input.headers.ifMatch, required: true)
        try await checkTenant("updateTenant", input.path.tenant, .write, tenantLevel: true)
        let tenant = try await sentral.tenancy.updateTenant(input.path.tenant, change: ResourceChange(body), expected: expected, context: scope.operation())
        return .ok(.init(headers: .init(eTag: EntityTag.make(tenant.fields.version)), body: .json(.init(tenant))))
    }

    func deleteTenant(_ input: Operations.DeleteTenant.Input) async throws -> Operations.DeleteTenant.Output {
        let expected = try EntityTag.parse(input.headers.ifMatch, required: false)
        try await checkTenant("deleteTenant", input.path.tenant, .destructive, tenantLevel: true)
        try await sentral.tenancy.deleteTenant(input.path.tenant, expected: expected, context: scope.operation())
        return .noContent(.init())
    }

    // MARK: scoped access

    /// For a caller whose platform roles do not grant `operation`: its tenant/project-scoped access (nil:
    /// the platform roles grant it, nothing more to check).
    private func scopedAccess(_ operation: String) -> TenancyAccess? {
        guard let principal = scope.principal, let rule = AccessPolicy.rules[operation], !AccessPolicy.allows(principal, rule) else {
            return nil
        }
        return TenancyAccess(principal: principal, tenancy: sentral.tenancy)
    }

    private func checkTenant(_ operation: String, _ ref: String, _ need: TenancyAccess.Need, tenantLevel: Bool = false) async throws {
        guard let access = scopedAccess(operation) else { return }
        try await access.check(need, tenant: try await sentral.tenancy.getTenant(ref), tenantLevel: tenantLevel)
    }

    private func checkProject(_ operation: String, _ tenant: String, _ project: String, _ need: TenancyAccess.Need) async throws {
        guard scopedAccess(operation) != nil else { return }
        try await checkProject(operation, try await sentral.tenancy.getProject(tenant: tenant, project), need)
    }

    private func checkProject(_ operation: String, _ project: Project, _ need: TenancyAccess.Need) async throws {
        guard let access = scopedAccess(operation) else { return }
        try await access.check(need, tenant: try await sentral.tenancy.getTenant(project.tenantID), project: project)
    }

    // MARK: projects

    func listProjects(_ input: Operations.ListProjects.Input) async throws -> Operations.ListProjects.Output {
        let page = try await sentral.tenancy.listProjects(tenant: input.path.tenant, limit: input.query.limit, cursor: input.query.cursor)
        var items = page.items
        if let access = scopedAccess("listProjects") {
            let tenant = try await sentral.tenancy.getTenant(input.path.tenant)
            try await access.check(.read, tenant: tenant)
            items = access.visibleProjects(items, of: tenant)
        }
        return .ok(.init(body: .json(.init(items: items.map(Components.Schemas.Project.init), nextCursor: page.nextCursor))))
    }

    func createProject(_ input: Operations.CreateProject.Input) async throws -> Operations.CreateProject.Output {
        guard case .json(let body) = input.body else { throw unsupportedBody }
        try await checkTenant("createProject", input.path.tenant, .write)
        let (project, _) = try await sentral.tenancy.createProject(
            tenant: input.path.tenant, ResourceSpec(body),
            context: scope.operation(idempotencyKey: try idempotencyKey(input.headers.idempotencyKey)))
        return .created(.init(
            headers: .init(eTag: EntityTag.make(project.fields.version),
                           location: "/v1/tenants/\(project.tenantName)/projects/\(project.fields.name)"),
            body: .json(.init(project))))
    }

    func getProject(_ input: Operations.GetProject.Input) async throws -> Operations.GetProject.Output {
        let project = try await sentral.tenancy.getProject(tenant: input.path.tenant, input.path.project)
        try await checkProject("getProject", project, .read)
        return .ok(.init(headers: .init(eTag: EntityTag.make(project.fields.version)), body: .json(.init(project))))
    }

    func updateProject(_ input: Operations.UpdateProject.Input) async throws -> Operations.UpdateProject.Output {
        guard case .json(let body) = input.body else { throw unsupportedBody }
        let expected = try EntityTag.parse(input.headers.ifMatch, required: true)
        try await checkProject("updateProject", input.path.tenant, input.path.project, .write)
        let project = try await sentral.tenancy.updateProject(
            tenant: input.path.tenant, input.path.project, change: ResourceChange(body), expected: expected, context: scope.operation())
        return .ok(.init(headers: .init(eTag: EntityTag.make(project.fields.version)), body: .json(.init(project))))
    }

    func deleteProject(_ input: Operations.DeleteProject.Input) async throws -> Operations.DeleteProject.Output {
        let expected = try EntityTag.parse(input.headers.ifMatch, required: false)
        try await checkProject("deleteProject", input.path.tenant, input.path.project, .destructive)
        let task = try await sentral.tenancy.deleteProject(tenant: input.path.tenant, input.path.project, expected: expected, context: scope.operation())
        return .accepted(.init(headers: .init(location: "/v1/tasks/\(task.id)"), body: .json(.init(task))))
    }

    // MARK: environments

    func listEnvironments(_ input: Operations.ListEnvironments.Input) async throws -> Operations.ListEnvironments.Output {
        try await checkProject("listEnvironments", input.path.tenant, input.path.project, .read)
        let page = try await sentral.tenancy.listEnvironments(
            tenant: input.path.tenant, project: input.path.project, limit: input.query.limit, cursor: input.query.cursor)
        return .ok(.init(body: .json(.init(items: page.items.map(Components.Schemas.Environment.init), nextCursor: page.nextCursor))))
    }

    func createEnvironment(_ input: Operations.CreateEnvironment.Input) async throws -> Operations.CreateEnvironment.Output {
        guard case .json(let body) = input.body else { throw unsupportedBody }
        try await checkProject("createEnvironment", input.path.tenant, input.path.project, .write)
        let (environment, _) = try await sentral.tenancy.createEnvironment(
            tenant: input.path.tenant, project: input.path.project, ResourceSpec(body),
            context: scope.operation(idempotencyKey: try idempotencyKey(input.headers.idempotencyKey)))
        return .created(.init(
            headers: .init(eTag: EntityTag.make(environment.fields.version),
                           location: "/v1/tenants/\(environment.tenantName)/projects/\(environment.projectName)/environments/\(environment.fields.name)"),
            body: .json(.init(environment))))
    }

    func getEnvironment(_ input: Operations.GetEnvironment.Input) async throws -> Operations.GetEnvironment.Output {
        try await checkProject("getEnvironment", input.path.tenant, input.path.project, .read)
        let environment = try await sentral.tenancy.getEnvironment(tenant: input.path.tenant, project: input.path.project, input.path.environment)
        return .ok(.init(headers: .init(eTag: EntityTag.make(environment.fields.version)), body: .json(.init(environment))))
    }

    func updateEnvironment(_ input: Operations.UpdateEnvironment.Input) async throws -> Operations.UpdateEnvironment.Output {
        guard case .json(let body) = input.body else { throw unsupportedBody }
        let expected = try EntityTag.parse(input.headers.ifMatch, required: true)
        try await checkProject("updateEnvironment", input.path.tenant, input.path.project, .write)
        let environment = try await sentral.tenancy.updateEnvironment(
            tenant: input.path.tenant, project: input.path.project, input.path.environment, change: ResourceChange(body),
            expected: expected, context: scope.operation())
        return .ok(.init(headers: .init(eTag: EntityTag.make(environment.fields.version)), body: .json(.init(environment))))
    }

    func deleteEnvironment(_ input: Operations.DeleteEnvironment.Input) async throws -> Operations.DeleteEnvironment.Output {
        let expected = try EntityTag.parse(input.headers.ifMatch, required: false)
        try await checkProject("deleteEnvironment", input.path.tenant, input.path.project, .destructive)
        try await sentral.tenancy.deleteEnvironment(
            tenant: input.path.tenant, project: input.path.project, input.path.environment, expected: expected, context: scope.operation())
        return .noContent(.init())
    }

    // MARK: tasks

    func listTasks(_ input: Operations.ListTasks.Input) async throws -> Operations.ListTasks.Output {
        try Validation.checkLength(input.query.kind, field: "kind", max: 128)
        try Validation.checkLength(input.query.resource, field: "resource", max: 64)
        let filter = TaskFilter(
            state: input.query.state.flatMap { TaskState(rawValue: $0.rawValue) }, kind: input.query.kind,
            resourceID: input.query.resource)
        let page = try await sentral.tasks.list(filter, limit: input.query.limit, cursor: input.query.cursor)
        return .ok(.init(body: .json(.init(items: page.items.map { Components.Schemas.Task($0) }, nextCursor: page.nextCursor))))
    }

    func createTask(_ input: Operations.CreateTask.Input) async throws -> Operations.CreateTask.Output {
        guard case .json(let body) = input.body else { throw unsupportedBody }
        let milliseconds = body.milliseconds ?? 0
        let failAttempts = body.failAttempts ?? 0
        guard (0...600_000).contains(milliseconds) else { throw DataverketError.invalid("milliseconds", "must be 0–600000") }
        guard (0...10).contains(failAttempts) else { throw DataverketError.invalid("failAttempts", "must be 0–10") }
        let params: String
        switch body.kind {
        case .sagaDemo:
            guard milliseconds <= 60_000 else { throw DataverketError.invalid("milliseconds", "must be 0–60000 for saga-demo") }
            if let step = body.failAtStep, !(1...BuiltinTasks.sagaDemoSteps.count).contains(step) {
                throw DataverketError.invalid("failAtStep", "must be 1–\(BuiltinTasks.sagaDemoSteps.count)")
            }
            params = try JSONText(encoding: BuiltinTasks.SagaDemoParameters(
                stepMilliseconds: milliseconds, failAtStep: body.failAtStep, failAttempts: failAttempts)).text
        case .noop, .sleep:
            guard body.failAtStep == nil else { throw DataverketError.invalid("failAtStep", "applies to saga-demo only") }
            params = try JSONText(encoding: BuiltinTasks.SleepParameters(milliseconds: milliseconds, failAttempts: failAttempts)).text
        }
        let context = scope.operation()
        let kind = body.kind.rawValue
        let task = try await sentral.database.transaction { session in
            let id = ResourceID.generate(prefix: "eng").rawValue
            let task = try await sentral.tasks.enqueue(
                session, kind: kind, resource: ResourceRef(kind: "engine", id: id, name: kind), tenantID: nil, projectID: nil,
                context: context, params: params)
            try await Audit.append(session, context: context, action: "task.create", resource: ResourceRef(kind: "task", id: task.id, name: kind),
                                   tenantID: nil, projectID: nil, beforeVersion: nil, afterVersion: 1)
            return task
        }
        return .accepted(.init(headers: .init(location: "/v1/tasks/\(task.id)"), body: .json(.init(task))))
    }

    func getTask(_ input: Operations.GetTask.Input) async throws -> Operations.GetTask.Output {
        let task = try await sentral.tasks.get(input.path.task)
        let saga = try await SagaLog(database: sentral.database, taskID: task.id).load()
        return .ok(.init(headers: .init(eTag: EntityTag.make(task.version)), body: .json(.init(task, saga: saga))))
    }

    func cancelTask(_ input: Operations.CancelTask.Input) async throws -> Operations.CancelTask.Output {
        let task = try await sentral.tasks.cancel(input.path.task, context: scope.operation())
        return .accepted(.init(body: .json(.init(task))))
    }

    // MARK: audit

    func listAudit(_ input: Operations.ListAudit.Input) async throws -> Operations.ListAudit.Output {
        try Validation.checkLength(input.query.resource, field: "resource", max: 64)
        try Validation.checkLength(input.query.actor, field: "actor", max: 256)
        try Validation.checkLength(input.query.action, field: "action", max: 128)
        let filter = AuditFilter(
            resourceID: input.query.resource, actor: input.query.actor, action: input.query.action,
            since: input.query.since, until: input.query.until)
        let page = try await sentral.audit.list(filter, limit: input.query.limit, cursor: input.query.cursor)
        return .ok(.init(body: .json(.init(items: page.items.map(Components.Schemas.AuditRecord.init), nextCursor: page.nextCursor))))
    }

    // MARK: helpers

    var unsupportedBody: DataverketError {
        DataverketError(.unsupportedMediaType, "request bodies must be application/json")
    }

    private func idempotencyKey(_ key: String?) throws(DataverketError) -> String? {
        try Self.checkIdempotencyKey(key)
    }

    /// An `Idempotency-Key` as the document allows it: 1–255 printable ASCII characters, no space and no `%` (the
    /// generated code percent-decodes header values, so a key with `%` would not be the key the client sent).
    static func checkIdempotencyKey(_ key: String?) throws(DataverketError) -> String? {
        guard let key else { return nil }
        guard !key.isEmpty, key.utf8.count <= 255, key.unicodeScalars.allSatisfy({ $0.value >= 0x21 && $0.value <= 0x7E && $0 != "%" }) else {
            throw DataverketError(.malformedRequest, "Idempotency-Key must be 1–255 printable ASCII characters, without space or %")
        }
        return key
    }
}
