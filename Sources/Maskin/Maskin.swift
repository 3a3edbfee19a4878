import Crypto
import DataverketBus
import DataverketCore
import DataverketStore
import Logging
import DataverketTasks
import ServiceLifecycle

/// Maskin: the bare-metal lifecycle (docs/adr/009-bare-metal-provisioning.md).
///
/// - `Machine`, `MachineState`, `MachineLifecycle`: the lifecycle as one pure state machine with deadlines and the
///   quarantine rule.
/// - `BMCDriver` with `RedfishDriver` and `IPMIDriver`: power, one-shot boot device and hardware facts.
/// - `Machines`: the store (machines, boot tokens and events, discovered machines), every transition audited and
///   announced on `dv.maskin.evt.machine.<state>`.
/// - `MachineWorkflows`: the step tasks (verify, inspect, deploy and wipe sagas, release, power).
/// - `BootService` (the server runs its listener, `BootServer`): iPXE scripts by state, single-use machine configs, the installer callback, the
///   image cache; `MachineConfigs`: Talos `v1alpha1` configs with sealed per-cluster secrets.
/// - `MachineSweeper`: deadlines and power reconciliation.
public enum Maskin {
    /// The service name in bus subjects (`dv.maskin.…`) and health reports.
    public static let service = "maskin"
}

/// Where the boot listener binds (machines on the provisioning network reach it through `BootConfiguration.publicURL`).
public struct BootListener: Sendable, Hashable {
    public var host: String
    public var port: Int

    public init(host: String, port: Int) {
        self.host = host
        self.port = port
    }
}

/// Maskin's parts over one control plane, as one value.
public struct MaskinPlane: Sendable {
    public let machines: Machines
    public let workflows: MachineWorkflows
    public let boot: BootService
    public let connector: BMCConnector
    public let settings: MaskinSettings
    /// A dnsmasq lease file to read machines' DHCP leases from (`DV_MASKIN_DHCP_LEASES`).
    public var dhcpLeases: String?

    public init(engine: TaskEngine, observer: any HardwareObserver, ports: (any SwitchPortDirectory)? = nil, sealingKey: SymmetricKey,
                boot: BootConfiguration, connector: BMCConnector,
                settings: MaskinSettings = MaskinSettings(), lifecycle: MachineLifecycle = MachineLifecycle(),
                dhcpLeases: String? = nil, logger: Logger) {
        let machines = Machines(database: engine.database, tasks: engine.tasks, lifecycle: lifecycle, logger: logger)
        self.machines = machines
        self.connector = connector
        self.settings = settings
        let inventory = InventoryBridge(observer: observer)
        self.workflows = MachineWorkflows(machines: machines, connector: connector, settings: settings, inventory: inventory,
                                          ports: ports)
        self.boot = BootService(machines: machines, configuration: boot,
                                configs: MachineConfigs(database: engine.database, sealingKey: sealingKey), inventory: inventory,
                                logger: logger)
        self.dhcpLeases = dhcpLeases
    }


    /// The worker for Maskin's task kinds (commands `dv.maskin.cmd.>`).
    public func worker(engine: TaskEngine, bus: any Bus, logger: Logger, ackWait: Duration = .seconds(30),
                       concurrency: Int = 16) -> TaskWorker {
        engine.worker(service: Maskin.service, kinds: workflows.taskKinds, bus: bus, logger: logger, ackWait: ackWait,
                      concurrency: concurrency)
    }

    /// The sweeper and the worker (unless `worker` is false); the server runs the boot service's listener.
    public func services(engine: TaskEngine, bus: any Bus, logger: Logger, worker: Bool = true) -> [any Service] {
        var services: [any Service] = [MachineSweeper(machines: machines, connector: connector, settings: settings, logger: logger)]
        if worker { services.append(self.worker(engine: engine, bus: bus, logger: logger)) }
        return services
    }
}
