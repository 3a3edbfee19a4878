import DataverketBus
import DataverketCore
import DataverketStore
import DataverketTasks
import Identitet
import Inventar
import Logging
import Maskin
import Nett
import Sentral
import ServiceLifecycle
import Crypto

/// The composition root's state over one database: the task engine, Sentral's tenancy and the inventory, and
/// the one ordered list of every context's migrations.
public struct ControlPlane: Sendable {
    public var engine: TaskEngine
    public let tenancy: Tenancy
    /// Datacenters, racks, devices, cabling: declared, observed, approved (its own `inventory` context).
    public let inventory: Inventory

    public var database: Database { engine.database }
    public var tasks: Tasks { engine.tasks }
    public var audit: AuditLog { engine.audit }
    public var health: HealthRegistry { engine.health }
    /// Where the built-in `saga-demo` task leaves its effects.
    public var demoLedger: DemoLedger {
        get { engine.demoLedger }
        set { engine.demoLedger = newValue }
    }

    public init(database: Database, bus: (any Bus)? = nil, health: HealthRegistry = HealthRegistry()) {
        self.engine = TaskEngine(database: database, bus: bus, health: health)
        self.tenancy = Tenancy(database: database, tasks: engine.tasks)
        self.inventory = Inventory(database: database, logger: database.logger) { session, context, entry in
            try await Audit.append(session, context: context, action: entry.action,
                                   resource: ResourceRef(kind: entry.resourceKind, id: entry.resourceID, name: entry.resourceName),
                                   tenantID: nil, projectID: nil, beforeVersion: entry.beforeVersion, afterVersion: entry.afterVersion)
        }
    }

    /// Every context's migrations, in the one order they are applied: the task engine's (`tasks`, `audit`,
    /// `api`), then the domains' (`tenancy`, `inventory`, `identity`, `maskin`, `nett`). A new service appends
    /// its own here.
    public static let migrations: [Migration] = TaskEngine.migrations + SentralSchema.migrations + InventorySchema.migrations
        + IdentitySchema.migrations + MaskinSchema.migrations + NettSchema.migrations

    /// Applies every pending migration; returns their names.
    public func migrate() async throws -> [String] {
        try await Migrator(database: database, migrations: Self.migrations).migrate()
    }

    /// The task kinds Sentral's own worker runs: tenancy's and the engine's built-ins.
    public var taskKinds: [TaskKind] {
        [tenancy.projectDeletion] + engine.builtinKinds
    }

    /// Sentral's worker (unless `worker` is false) and the services that drive the task engine, over `bus`.
    public func engineServices(bus: any Bus, logger: Logger, worker: Bool = true, ackWait: Duration = .seconds(30),
                               concurrency: Int = 8) -> [any Service] {
        var services = engine.services(bus: bus, logger: logger)
        if worker { services.append(self.worker(bus: bus, logger: logger, ackWait: ackWait, concurrency: concurrency)) }
        return services
    }

    /// A worker for Sentral's task kinds (or `kinds`), over `bus`.
    public func worker(bus: any Bus, logger: Logger, kinds: [TaskKind]? = nil, ackWait: Duration = .seconds(30),
                       concurrency: Int = 8) -> TaskWorker {
        engine.worker(service: "sentral", kinds: kinds ?? taskKinds, bus: bus, logger: logger, ackWait: ackWait,
                      concurrency: concurrency)
    }

    /// Periodic housekeeping (the engine's).
    public func housekeeping() async throws { try await engine.housekeeping() }
}

extension MaskinPlane {
    /// Maskin over the control plane's task engine, reporting hardware to its inventory.
    public init(sentral: ControlPlane, sealingKey: SymmetricKey, boot: BootConfiguration, connector: BMCConnector,
                settings: MaskinSettings = MaskinSettings(), lifecycle: MachineLifecycle = MachineLifecycle(),
                dhcpLeases: String? = nil, logger: Logger) {
        self.init(engine: sentral.engine, observer: sentral.inventory, ports: sentral.inventory, sealingKey: sealingKey, boot: boot, connector: connector,
                  settings: settings, lifecycle: lifecycle, dhcpLeases: dhcpLeases, logger: logger)
    }
}

extension NettPlane {
    /// Nett's changesets and drift over the control plane's task engine.
    public init(sentral: ControlPlane, devices: NetworkDevices?, logger: Logger) {
        self.init(engine: sentral.engine, devices: devices, logger: logger)
    }
}
