import DataverketStore

/// Maskin's context: its own PostgreSQL schema `maskin` (`maskin_*` tables on SQLite).
///
/// A machine row is the lifecycle's `Machine` (state, failed deploys, last transition) plus what Maskin needs to
/// reach it: the provisioning MAC and SMBIOS UUID the boot service identifies it by, its BMC (with a credentials
/// *reference*, never a secret) and the last power state it read. `deadline_at` is indexed for the sweeper.
public enum MaskinSchema {
    public static let migrations: [Migration] = [
        Migration(
            context: "maskin", version: 1, name: "machines, boot tokens, boot events, discovered machines, cluster secrets",
            postgresOnly: ["CREATE SCHEMA IF NOT EXISTS maskin"],
            statements: [
                """
                CREATE TABLE ${maskin.machines} (
                    id TEXT PRIMARY KEY, name TEXT NOT NULL UNIQUE, device TEXT, datacenter TEXT,
                    mac TEXT NOT NULL UNIQUE, uuid TEXT UNIQUE, serial TEXT, arch TEXT,
                    bmc TEXT NOT NULL, console TEXT, role TEXT, cluster TEXT, install_disk TEXT,
                    state_name TEXT NOT NULL, state TEXT NOT NULL, failed_deploys BIGINT NOT NULL,
                    last_transition BIGINT NOT NULL, deadline_at BIGINT, task_id TEXT,
                    power_state TEXT, power_observed_at BIGINT, bmc_error TEXT, bmc_failing_since BIGINT,
                    facts TEXT, version BIGINT NOT NULL, created_at BIGINT NOT NULL, updated_at BIGINT NOT NULL)
                """,
                "CREATE INDEX maskin_machines_state_idx ON ${maskin.machines} (state_name, id)",
                "CREATE INDEX maskin_machines_deadline_idx ON ${maskin.machines} (deadline_at)",
                """
                CREATE TABLE ${maskin.boot_tokens} (
                    digest TEXT PRIMARY KEY, machine_id TEXT NOT NULL REFERENCES ${maskin.machines}(id),
                    task_id TEXT NOT NULL, purpose TEXT NOT NULL, expires_at BIGINT NOT NULL, config_served_at BIGINT,
                    completed_at BIGINT, created_at BIGINT NOT NULL)
                """,
                "CREATE INDEX maskin_boot_tokens_machine_idx ON ${maskin.boot_tokens} (machine_id, created_at)",
                """
                CREATE TABLE ${maskin.boot_events} (
                    id ${serial}, machine_id TEXT, mac TEXT, kind TEXT NOT NULL, detail TEXT, address TEXT,
                    task_id TEXT, at BIGINT NOT NULL)
                """,
                "CREATE INDEX maskin_boot_events_machine_idx ON ${maskin.boot_events} (machine_id, at)",
                """
                CREATE TABLE ${maskin.discovered} (
                    mac TEXT PRIMARY KEY, uuid TEXT, serial TEXT, arch TEXT, address TEXT, first_seen BIGINT NOT NULL,
                    last_seen BIGINT NOT NULL, boots BIGINT NOT NULL)
                """,
                """
                CREATE TABLE ${maskin.clusters} (
                    name TEXT PRIMARY KEY, endpoint TEXT NOT NULL, sealed_secrets TEXT NOT NULL, created_at BIGINT NOT NULL)
                """,
            ]
        ),
        Migration(
            context: "maskin", version: 2, name: "refused BMC credentials",
            statements: [
                // A fingerprint of the credentials the BMC refused (never the secret): nothing logs in with them again
                // until they change or an operator verifies the machine.
                "ALTER TABLE ${maskin.machines} ADD COLUMN bmc_refused TEXT",
                "ALTER TABLE ${maskin.machines} ADD COLUMN bmc_refused_at BIGINT",
            ]
        ),
        Migration(
            context: "maskin", version: 3, name: "the tenant networks of a machine's switch ports",
            statements: [
                // A JSON array of network names: what Nett was last asked to carry on the machine's ports.
                "ALTER TABLE ${maskin.machines} ADD COLUMN networks TEXT",
            ]
        ),
    ]
}
