import DataverketStore

/// The `nett` context's tables: IPAM.
///
/// Addresses are stored as text in canonical form (unique per VRF) and, for range queries, as two order-
/// preserving BIGINTs (`*_hi`, `*_lo`: the high and low 64 bits with the sign bit flipped), compared as row
/// values — the same SQL on PostgreSQL and SQLite.
///
/// Allocation pools (a prefix's addresses, a VLAN group's IDs, an ASN pool's numbers) have a row in `pools`
/// (bounds and `frontier`, the first slot not yet materialized) and their free slots in `free`: an allocation
/// deletes one free row (`FOR UPDATE SKIP LOCKED` on PostgreSQL) and inserts the allocated row, whose unique
/// constraint is the last guard against a double allocation. See ADR 010.
public enum NettSchema {
    static let stamps = "version BIGINT NOT NULL, created_at BIGINT NOT NULL, updated_at BIGINT NOT NULL"
    /// The VRF that always exists.
    static let globalVRFID = "vrf_00000000000000000000000000"

    public static let migrations: [Migration] = [
        Migration(
            context: "nett", version: 1, name: "IPAM: VRFs, aggregates, prefixes, ranges, addresses, VLANs, ASNs, allocation pools",
            postgresOnly: ["CREATE SCHEMA IF NOT EXISTS nett"],
            statements: [
                """
                CREATE TABLE ${nett.vrfs} (
                    id TEXT PRIMARY KEY, name TEXT NOT NULL UNIQUE, rd TEXT UNIQUE, import_targets TEXT NOT NULL,
                    export_targets TEXT NOT NULL, tenant TEXT, description TEXT, \(stamps))
                """,
                """
                INSERT INTO ${nett.vrfs} (id, name, rd, import_targets, export_targets, tenant, description, version, created_at, updated_at)
                VALUES ('\(globalVRFID)', 'global', NULL, '', '', NULL, 'the global routing table', 1, 0, 0)
                """,
                """
                CREATE TABLE ${nett.aggregates} (
                    id TEXT PRIMARY KEY, prefix TEXT NOT NULL UNIQUE, family BIGINT NOT NULL, length BIGINT NOT NULL,
                    s_hi BIGINT NOT NULL, s_lo BIGINT NOT NULL, e_hi BIGINT NOT NULL, e_lo BIGINT NOT NULL,
                    rir TEXT, description TEXT, \(stamps))
                """,
                "CREATE INDEX nett_aggregates_range_idx ON ${nett.aggregates} (family, s_hi, s_lo)",
                """
                CREATE TABLE ${nett.vlan_groups} (
                    id TEXT PRIMARY KEY, name TEXT NOT NULL UNIQUE, scope TEXT, min_vid BIGINT NOT NULL, max_vid BIGINT NOT NULL,
                    description TEXT, \(stamps))
                """,
                """
                CREATE TABLE ${nett.vlans} (
                    id TEXT PRIMARY KEY, group_id TEXT NOT NULL REFERENCES ${nett.vlan_groups}(id), group_name TEXT NOT NULL,
                    vid BIGINT NOT NULL, name TEXT NOT NULL, tenant TEXT, status TEXT NOT NULL, description TEXT,
                    idempotency_key TEXT UNIQUE, \(stamps), UNIQUE (group_id, vid), UNIQUE (group_id, name))
                """,
                """
                CREATE TABLE ${nett.prefixes} (
                    id TEXT PRIMARY KEY, vrf TEXT NOT NULL REFERENCES ${nett.vrfs}(name), prefix TEXT NOT NULL,
                    family BIGINT NOT NULL, length BIGINT NOT NULL,
                    s_hi BIGINT NOT NULL, s_lo BIGINT NOT NULL, e_hi BIGINT NOT NULL, e_lo BIGINT NOT NULL,
                    parent_id TEXT, role TEXT, status TEXT NOT NULL, vlan_id TEXT REFERENCES ${nett.vlans}(id), is_pool BIGINT NOT NULL,
                    tenant TEXT, datacenter TEXT, description TEXT, idempotency_key TEXT UNIQUE, \(stamps),
                    UNIQUE (vrf, prefix))
                """,
                "CREATE INDEX nett_prefixes_range_idx ON ${nett.prefixes} (vrf, family, s_hi, s_lo)",
                "CREATE INDEX nett_prefixes_parent_idx ON ${nett.prefixes} (parent_id)",
                """
                CREATE TABLE ${nett.ip_ranges} (
                    id TEXT PRIMARY KEY, vrf TEXT NOT NULL REFERENCES ${nett.vrfs}(name), prefix_id TEXT NOT NULL REFERENCES ${nett.prefixes}(id),
                    start_address TEXT NOT NULL, end_address TEXT NOT NULL, family BIGINT NOT NULL,
                    s_hi BIGINT NOT NULL, s_lo BIGINT NOT NULL, e_hi BIGINT NOT NULL, e_lo BIGINT NOT NULL,
                    first_slot BIGINT, last_slot BIGINT, status TEXT NOT NULL, description TEXT, \(stamps),
                    UNIQUE (vrf, start_address))
                """,
                "CREATE INDEX nett_ip_ranges_prefix_idx ON ${nett.ip_ranges} (prefix_id)",
                "CREATE INDEX nett_ip_ranges_range_idx ON ${nett.ip_ranges} (vrf, family, s_hi, s_lo)",
                """
                CREATE TABLE ${nett.addresses} (
                    id TEXT PRIMARY KEY, vrf TEXT NOT NULL REFERENCES ${nett.vrfs}(name), address TEXT NOT NULL, length BIGINT NOT NULL,
                    family BIGINT NOT NULL, a_hi BIGINT NOT NULL, a_lo BIGINT NOT NULL,
                    prefix_id TEXT NOT NULL REFERENCES ${nett.prefixes}(id), slot BIGINT, status TEXT NOT NULL,
                    dns_name TEXT, assigned_to TEXT, tenant TEXT, description TEXT, idempotency_key TEXT UNIQUE, \(stamps),
                    UNIQUE (vrf, address))
                """,
                "CREATE INDEX nett_addresses_pool_idx ON ${nett.addresses} (prefix_id, slot)",
                "CREATE INDEX nett_addresses_order_idx ON ${nett.addresses} (vrf, family, a_hi, a_lo)",
                "CREATE INDEX nett_addresses_assigned_idx ON ${nett.addresses} (assigned_to)",
                """
                CREATE TABLE ${nett.asn_pools} (
                    id TEXT PRIMARY KEY, name TEXT NOT NULL UNIQUE, first_asn BIGINT NOT NULL, last_asn BIGINT NOT NULL,
                    description TEXT, \(stamps))
                """,
                """
                CREATE TABLE ${nett.asns} (
                    id TEXT PRIMARY KEY, pool_id TEXT NOT NULL REFERENCES ${nett.asn_pools}(id), pool_name TEXT NOT NULL,
                    asn BIGINT NOT NULL, tenant TEXT, description TEXT, idempotency_key TEXT UNIQUE, \(stamps),
                    UNIQUE (pool_id, asn))
                """,
                // One row per allocation pool (its ID is the owner's: a prefix, VLAN group or ASN pool). Slots
                // first_slot...last_slot; those below `frontier` have been materialized into `free` (minus the
                // ones in use).
                """
                CREATE TABLE ${nett.pools} (
                    id TEXT PRIMARY KEY, kind TEXT NOT NULL, first_slot BIGINT NOT NULL, last_slot BIGINT NOT NULL,
                    frontier BIGINT NOT NULL)
                """,
                // An address pool's free rows carry the address (text and halves), so one statement can take
                // a row and insert the address.
                """
                CREATE TABLE ${nett.free} (
                    pool TEXT NOT NULL, slot BIGINT NOT NULL, address TEXT, a_hi BIGINT, a_lo BIGINT, PRIMARY KEY (pool, slot))
                """,
            ]
        ),
        Migration(
            context: "nett", version: 2, name: "changesets: intents applied as tasks, with their plans and rollout reports",
            statements: [
                """
                CREATE TABLE ${nett.changesets} (
                    id TEXT PRIMARY KEY, status TEXT NOT NULL, idempotency_key TEXT UNIQUE, body TEXT NOT NULL, created_at BIGINT NOT NULL)
                """,
                "CREATE INDEX nett_changesets_status_idx ON ${nett.changesets} (status, id)",
            ]
        ),
    ]
}
