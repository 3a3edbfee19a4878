import DataverketStore

/// The task engine's contexts and their versioned schemas: `tasks` (tasks, the outbox, the relay lease, processed
/// messages, the saga log), `audit` (records) and `api` (idempotency keys).
public enum TaskEngineSchema {
    public static let migrations: [Migration] = [
        Migration(
            context: "tasks", version: 1, name: "tasks and the transactional outbox",
            postgresOnly: ["CREATE SCHEMA IF NOT EXISTS tasks"],
            statements: [
                """
                CREATE TABLE ${tasks.tasks} (
                    id TEXT PRIMARY KEY, kind TEXT NOT NULL, state TEXT NOT NULL, reason TEXT,
                    progress BIGINT NOT NULL, correlation_id TEXT NOT NULL,
                    resource_kind TEXT NOT NULL, resource_id TEXT NOT NULL, resource_name TEXT,
                    tenant_id TEXT, project_id TEXT, actor TEXT NOT NULL, params TEXT NOT NULL,
                    attempts BIGINT NOT NULL, cancel_requested BIGINT NOT NULL,
                    lease_owner TEXT, lease_expires_at BIGINT,
                    created_at BIGINT NOT NULL, updated_at BIGINT NOT NULL, started_at BIGINT, finished_at BIGINT,
                    version BIGINT NOT NULL)
                """,
                "CREATE INDEX tasks_state_idx ON ${tasks.tasks} (state, created_at)",
                "CREATE INDEX tasks_resource_idx ON ${tasks.tasks} (resource_id)",
                """
                CREATE TABLE ${tasks.outbox} (
                    seq ${serial}, event_id TEXT NOT NULL UNIQUE, subject TEXT NOT NULL, resource_key TEXT NOT NULL,
                    payload TEXT NOT NULL, created_at BIGINT NOT NULL, published_at BIGINT)
                """,
                "CREATE INDEX outbox_unpublished_idx ON ${tasks.outbox} (published_at, seq)",
            ]
        ),
        Migration(
            context: "tasks", version: 2, name: "outbox relay lease",
            statements: [
                """
                CREATE TABLE ${tasks.leases} (
                    name TEXT PRIMARY KEY, owner TEXT NOT NULL, expires_at BIGINT NOT NULL)
                """,
            ]
        ),
        Migration(
            context: "tasks", version: 3, name: "bus-driven task engine",
            statements: [
                "ALTER TABLE ${tasks.tasks} ADD COLUMN service TEXT NOT NULL DEFAULT 'sentral'",
                "ALTER TABLE ${tasks.tasks} ADD COLUMN deadline_at BIGINT NOT NULL DEFAULT 0",
                "ALTER TABLE ${tasks.tasks} ADD COLUMN blocked_on TEXT",
                """
                CREATE TABLE ${tasks.processed} (
                    consumer TEXT NOT NULL, message_id TEXT NOT NULL, processed_at BIGINT NOT NULL,
                    PRIMARY KEY (consumer, message_id))
                """,
                "CREATE INDEX processed_at_idx ON ${tasks.processed} (processed_at)",
            ]
        ),
        Migration(
            context: "tasks", version: 4, name: "saga log",
            statements: [
                """
                CREATE TABLE ${tasks.sagas} (
                    task_id TEXT PRIMARY KEY, saga TEXT NOT NULL, phase TEXT NOT NULL, reason TEXT,
                    created_at BIGINT NOT NULL, updated_at BIGINT NOT NULL)
                """,
                """
                CREATE TABLE ${tasks.saga_steps} (
                    task_id TEXT NOT NULL, step_index BIGINT NOT NULL, step TEXT NOT NULL, state TEXT NOT NULL,
                    output TEXT, runs BIGINT NOT NULL, updated_at BIGINT NOT NULL,
                    PRIMARY KEY (task_id, step_index))
                """,
            ]
        ),
        Migration(
            context: "audit", version: 1, name: "audit records",
            postgresOnly: ["CREATE SCHEMA IF NOT EXISTS audit"],
            statements: [
                """
                CREATE TABLE ${audit.records} (
                    id TEXT PRIMARY KEY, at BIGINT NOT NULL, actor TEXT NOT NULL, action TEXT NOT NULL,
                    resource_kind TEXT NOT NULL, resource_id TEXT NOT NULL, resource_name TEXT,
                    tenant_id TEXT, project_id TEXT, before_version BIGINT, after_version BIGINT,
                    correlation_id TEXT NOT NULL, source_address TEXT, task_id TEXT)
                """,
                "CREATE INDEX audit_resource_idx ON ${audit.records} (resource_id, id)",
                "CREATE INDEX audit_actor_idx ON ${audit.records} (actor, id)",
                "CREATE INDEX audit_at_idx ON ${audit.records} (at)",
            ]
        ),
        Migration(
            context: "api", version: 1, name: "idempotency keys",
            postgresOnly: ["CREATE SCHEMA IF NOT EXISTS api"],
            statements: [
                """
                CREATE TABLE ${api.idempotency_keys} (
                    scope TEXT NOT NULL, key TEXT NOT NULL, fingerprint TEXT NOT NULL, response TEXT NOT NULL,
                    created_at BIGINT NOT NULL, PRIMARY KEY (scope, key))
                """,
                "CREATE INDEX idempotency_created_idx ON ${api.idempotency_keys} (created_at)",
            ]
        ),
    ]
}
