import DataverketStore

/// The `inventory` context's tables (version 1 is the empty schema boundary, kept for stores that ran it).
///
/// Objects refer to each other by name (names are immutable: a rename is a delete and a create), so a row
/// carries the names of its datacenter, failure domain and rack, and every filter is one indexed column.
/// Every row has an opaque `id`, an optimistic `version`, and `managed_by` (site | api | discovery).
public enum InventorySchema {
    static let common = "managed_by TEXT NOT NULL, version BIGINT NOT NULL, created_at BIGINT NOT NULL, updated_at BIGINT NOT NULL"

    public static let migrations: [Migration] = [
        Migration(
            context: "inventory", version: 1, name: "schema boundary",
            postgresOnly: ["CREATE SCHEMA IF NOT EXISTS inventory"],
            statements: []
        ),
        Migration(
            context: "inventory", version: 2, name: "datacenters, racks, devices, interfaces, links, approvals, observations",
            postgresOnly: ["CREATE SCHEMA IF NOT EXISTS inventory"],
            statements: [
                """
                CREATE TABLE ${inventory.datacenters} (
                    id TEXT PRIMARY KEY, name TEXT NOT NULL UNIQUE, display_name TEXT, country TEXT NOT NULL,
                    jurisdiction TEXT NOT NULL, region_role TEXT NOT NULL, \(common))
                """,
                """
                CREATE TABLE ${inventory.failure_domains} (
                    id TEXT PRIMARY KEY, datacenter TEXT NOT NULL REFERENCES ${inventory.datacenters}(name), name TEXT NOT NULL,
                    description TEXT, \(common), UNIQUE (datacenter, name))
                """,
                """
                CREATE TABLE ${inventory.rooms} (
                    id TEXT PRIMARY KEY, datacenter TEXT NOT NULL REFERENCES ${inventory.datacenters}(name), name TEXT NOT NULL,
                    description TEXT, \(common), UNIQUE (datacenter, name))
                """,
                """
                CREATE TABLE ${inventory.networks} (
                    id TEXT PRIMARY KEY, name TEXT NOT NULL UNIQUE, datacenter TEXT NOT NULL REFERENCES ${inventory.datacenters}(name),
                    role TEXT NOT NULL, vlan BIGINT, description TEXT, \(common))
                """,
                "CREATE INDEX inventory_networks_dc_idx ON ${inventory.networks} (datacenter, name)",
                """
                CREATE TABLE ${inventory.racks} (
                    id TEXT PRIMARY KEY, name TEXT NOT NULL UNIQUE, datacenter TEXT NOT NULL REFERENCES ${inventory.datacenters}(name),
                    room TEXT NOT NULL, failure_domain TEXT NOT NULL, units BIGINT NOT NULL, feed_a TEXT, feed_b TEXT, \(common),
                    FOREIGN KEY (datacenter, room) REFERENCES ${inventory.rooms}(datacenter, name),
                    FOREIGN KEY (datacenter, failure_domain) REFERENCES ${inventory.failure_domains}(datacenter, name))
                """,
                "CREATE INDEX inventory_racks_dc_idx ON ${inventory.racks} (datacenter, failure_domain, name)",
                """
                CREATE TABLE ${inventory.devices} (
                    id TEXT PRIMARY KEY, name TEXT NOT NULL UNIQUE, kind TEXT NOT NULL, role TEXT, vendor TEXT, model TEXT,
                    serial TEXT, asset_tag TEXT, datacenter TEXT NOT NULL REFERENCES ${inventory.datacenters}(name),
                    failure_domain TEXT NOT NULL, rack TEXT REFERENCES ${inventory.racks}(name), position BIGINT, height BIGINT NOT NULL,
                    pool TEXT, tags TEXT NOT NULL, power_feeds TEXT NOT NULL, hardware TEXT NOT NULL,
                    cpu_cores BIGINT NOT NULL, memory_gib BIGINT NOT NULL, gpu_count BIGINT NOT NULL, storage_gb BIGINT NOT NULL,
                    bmc_protocol TEXT, bmc_address TEXT, bmc_credentials_ref TEXT, allocated_to TEXT, \(common),
                    FOREIGN KEY (datacenter, failure_domain) REFERENCES ${inventory.failure_domains}(datacenter, name))
                """,
                "CREATE INDEX inventory_devices_dc_idx ON ${inventory.devices} (datacenter, name)",
                "CREATE INDEX inventory_devices_fd_idx ON ${inventory.devices} (datacenter, failure_domain, name)",
                "CREATE INDEX inventory_devices_rack_idx ON ${inventory.devices} (rack, position)",
                "CREATE INDEX inventory_devices_role_idx ON ${inventory.devices} (role, name)",
                "CREATE INDEX inventory_devices_kind_idx ON ${inventory.devices} (kind, name)",
                "CREATE INDEX inventory_devices_pool_idx ON ${inventory.devices} (pool, name)",
                "CREATE INDEX inventory_devices_free_idx ON ${inventory.devices} (allocated_to, name)",
                "CREATE INDEX inventory_devices_serial_idx ON ${inventory.devices} (serial)",
                """
                CREATE TABLE ${inventory.device_tags} (
                    device TEXT NOT NULL REFERENCES ${inventory.devices}(name), tag TEXT NOT NULL, PRIMARY KEY (tag, device))
                """,
                "CREATE INDEX inventory_device_tags_device_idx ON ${inventory.device_tags} (device)",
                """
                CREATE TABLE ${inventory.interfaces} (
                    id TEXT PRIMARY KEY, device TEXT NOT NULL REFERENCES ${inventory.devices}(name), name TEXT NOT NULL,
                    mac TEXT, speed_mbps BIGINT, kind TEXT NOT NULL, network TEXT REFERENCES ${inventory.networks}(name),
                    datacenter TEXT NOT NULL, \(common), UNIQUE (device, name))
                """,
                "CREATE INDEX inventory_interfaces_mac_idx ON ${inventory.interfaces} (mac)",
                "CREATE INDEX inventory_interfaces_dc_idx ON ${inventory.interfaces} (datacenter)",
                """
                CREATE TABLE ${inventory.links} (
                    id TEXT PRIMARY KEY, a_device TEXT NOT NULL, a_interface TEXT NOT NULL, b_device TEXT NOT NULL,
                    b_interface TEXT NOT NULL, cable TEXT, label TEXT, datacenter TEXT NOT NULL, \(common),
                    UNIQUE (a_device, a_interface, b_device, b_interface),
                    FOREIGN KEY (a_device, a_interface) REFERENCES ${inventory.interfaces}(device, name),
                    FOREIGN KEY (b_device, b_interface) REFERENCES ${inventory.interfaces}(device, name))
                """,
                "CREATE INDEX inventory_links_dc_idx ON ${inventory.links} (datacenter)",
                // One row per cabled interface: the primary key is the "at most one link per interface" rule,
                // and a trace from either end is one indexed lookup.
                """
                CREATE TABLE ${inventory.link_ends} (
                    device TEXT NOT NULL, interface TEXT NOT NULL, link_id TEXT NOT NULL REFERENCES ${inventory.links}(id),
                    far_device TEXT NOT NULL, far_interface TEXT NOT NULL, PRIMARY KEY (device, interface))
                """,
                "CREATE INDEX inventory_link_ends_link_idx ON ${inventory.link_ends} (link_id)",
                """
                CREATE TABLE ${inventory.approvals} (
                    id TEXT PRIMARY KEY, status TEXT NOT NULL, summary TEXT NOT NULL, reason TEXT, changes TEXT NOT NULL,
                    fingerprint TEXT NOT NULL, requested_by TEXT NOT NULL, correlation_id TEXT NOT NULL, created_at BIGINT NOT NULL,
                    decided_by TEXT, decided_at BIGINT, decision_note TEXT, version BIGINT NOT NULL)
                """,
                "CREATE INDEX inventory_approvals_status_idx ON ${inventory.approvals} (status, id)",
                """
                CREATE TABLE ${inventory.observations} (
                    id TEXT PRIMARY KEY, source TEXT NOT NULL, device TEXT, identity TEXT NOT NULL, serial TEXT,
                    facts TEXT NOT NULL, observed_at BIGINT NOT NULL, received_at BIGINT NOT NULL)
                """,
                "CREATE INDEX inventory_observations_device_idx ON ${inventory.observations} (device, source, observed_at)",
                "CREATE INDEX inventory_observations_identity_idx ON ${inventory.observations} (identity, source, observed_at)",
            ]
        ),
    ]
}
