import DataverketStore

/// Identitet's context: its own PostgreSQL schema `identity` (`identity_*` tables on SQLite).
public enum IdentitySchema {
    public static let migrations: [Migration] = [
        Migration(
            context: "identity", version: 1, name: "signing keys, sessions, bootstrap credential, role bindings",
            postgresOnly: ["CREATE SCHEMA IF NOT EXISTS identity"],
            statements: [
                """
                CREATE TABLE ${identity.signing_keys} (
                    kid TEXT PRIMARY KEY, algorithm TEXT NOT NULL, sealed_private_key TEXT NOT NULL,
                    created_at BIGINT NOT NULL, retired_at BIGINT)
                """,
                """
                CREATE TABLE ${identity.refresh_tokens} (
                    id TEXT PRIMARY KEY, family TEXT NOT NULL, token_hash TEXT NOT NULL UNIQUE, subject TEXT NOT NULL,
                    created_at BIGINT NOT NULL, expires_at BIGINT NOT NULL, used_at BIGINT, revoked_at BIGINT)
                """,
                "CREATE INDEX refresh_family_idx ON ${identity.refresh_tokens} (family)",
                """
                CREATE TABLE ${identity.bootstrap_credentials} (
                    token_hash TEXT PRIMARY KEY, created_at BIGINT NOT NULL, used_at BIGINT)
                """,
                """
                CREATE TABLE ${identity.role_bindings} (
                    id TEXT PRIMARY KEY, subject TEXT NOT NULL, role TEXT NOT NULL, scope_kind TEXT NOT NULL,
                    scope_id TEXT NOT NULL, created_at BIGINT NOT NULL, created_by TEXT NOT NULL,
                    UNIQUE (subject, role, scope_kind, scope_id))
                """,
                "CREATE INDEX role_bindings_subject_idx ON ${identity.role_bindings} (subject)",
            ]
        ),
        Migration(
            context: "identity", version: 2, name: "service accounts and API keys",
            statements: [
                """
                CREATE TABLE ${identity.service_accounts} (
                    name TEXT PRIMARY KEY, description TEXT, created_at BIGINT NOT NULL, created_by TEXT NOT NULL)
                """,
                """
                CREATE TABLE ${identity.api_keys} (
                    id TEXT PRIMARY KEY, account TEXT NOT NULL, key_hash TEXT NOT NULL UNIQUE, created_at BIGINT NOT NULL,
                    expires_at BIGINT NOT NULL, revoked_at BIGINT, created_by TEXT NOT NULL)
                """,
                "CREATE INDEX api_keys_account_idx ON ${identity.api_keys} (account)",
            ]
        ),
        Migration(
            context: "identity", version: 3, name: "device logins and single sign-on users",
            statements: [
                """
                CREATE TABLE ${identity.device_authorizations} (
                    device_code_hash TEXT PRIMARY KEY, user_code TEXT NOT NULL UNIQUE, status TEXT NOT NULL,
                    state_hash TEXT UNIQUE, nonce TEXT, sealed_verifier TEXT, subject TEXT, groups TEXT, reason TEXT,
                    poll_interval BIGINT NOT NULL, last_polled_at BIGINT, client_address TEXT,
                    created_at BIGINT NOT NULL, expires_at BIGINT NOT NULL)
                """,
                "CREATE INDEX device_authorizations_expiry_idx ON ${identity.device_authorizations} (expires_at)",
                """
                CREATE TABLE ${identity.users} (
                    subject TEXT PRIMARY KEY, issuer TEXT NOT NULL, upstream_subject TEXT NOT NULL, email TEXT, name TEXT,
                    groups TEXT NOT NULL, first_login_at BIGINT NOT NULL, last_login_at BIGINT NOT NULL)
                """,
                "ALTER TABLE ${identity.refresh_tokens} ADD COLUMN groups TEXT",
            ]
        ),
    ]
}
