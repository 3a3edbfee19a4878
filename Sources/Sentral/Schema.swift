import DataverketStore

/// Sentral's tenancy context and its versioned schema.
///
/// Each context owns one PostgreSQL schema; on SQLite the same tables carry the context as a name prefix.
/// Contexts never join across each other's tables except through IDs.
public enum SentralSchema {
    public static let migrations: [Migration] = [
        Migration(
            context: "tenancy", version: 1, name: "tenants, projects, environments",
            postgresOnly: ["CREATE SCHEMA IF NOT EXISTS tenancy"],
            statements: [
                """
                CREATE TABLE ${tenancy.tenants} (
                    id TEXT PRIMARY KEY, name TEXT NOT NULL UNIQUE, display_name TEXT, description TEXT,
                    labels TEXT NOT NULL, version BIGINT NOT NULL, created_at BIGINT NOT NULL, updated_at BIGINT NOT NULL)
                """,
                """
                CREATE TABLE ${tenancy.projects} (
                    id TEXT PRIMARY KEY, tenant_id TEXT NOT NULL REFERENCES ${tenancy.tenants}(id),
                    name TEXT NOT NULL, phase TEXT NOT NULL, display_name TEXT, description TEXT,
                    labels TEXT NOT NULL, version BIGINT NOT NULL, created_at BIGINT NOT NULL, updated_at BIGINT NOT NULL,
                    UNIQUE (tenant_id, name))
                """,
                """
                CREATE TABLE ${tenancy.environments} (
                    id TEXT PRIMARY KEY, tenant_id TEXT NOT NULL REFERENCES ${tenancy.tenants}(id),
                    project_id TEXT NOT NULL REFERENCES ${tenancy.projects}(id),
                    name TEXT NOT NULL, display_name TEXT, description TEXT,
                    labels TEXT NOT NULL, version BIGINT NOT NULL, created_at BIGINT NOT NULL, updated_at BIGINT NOT NULL,
                    UNIQUE (project_id, name))
                """,
            ]
        ),
    ]
}
