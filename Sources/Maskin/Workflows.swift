import DataverketCore
import DataverketStore
import Foundation
import Logging
import DataverketTasks
import SQLKit

/// How long the deploy and wipe steps wait for the machine, and how often Maskin sweeps.
public struct MaskinSettings: Sendable, Hashable {
    /// From power-on to the iPXE script fetch.
    public var scriptWait: Duration
    /// From the script fetch to the config fetch.
    public var configWait: Duration
    /// From the config fetch to the installer's callback.
    public var installWait: Duration
    public var pollInterval: Duration
    /// How often overdue machines are timed out.
    public var sweepInterval: Duration
    /// How often every BMC's power state is read (a BMC that returns is reconciled within this plus `bmcTimeout`).
    public var powerInterval: Duration
    public var bmcTimeout: Duration
    /// How many BMCs one power sweep reads at a time.
    public var bmcConcurrency: Int
    /// How long a step waits for Nett to attach the machine's ports once Nett has taken the request (its changeset:
    /// verification, confirmed commits, probes).
    public var attachWait: Duration

    public init(scriptWait: Duration = .seconds(300), configWait: Duration = .seconds(300), installWait: Duration = .seconds(1800),
                pollInterval: Duration = .seconds(1), sweepInterval: Duration = .seconds(5), powerInterval: Duration = .seconds(15),
                bmcTimeout: Duration = .seconds(5), bmcConcurrency: Int = 16, attachWait: Duration = .seconds(1200)) {
        self.attachWait = attachWait
        self.scriptWait = scriptWait
        self.configWait = configWait
        self.installWait = installWait
        self.pollInterval = pollInterval
        self.sweepInterval = sweepInterval
        self.powerInterval = powerInterval
        self.bmcTimeout = bmcTimeout
        self.bmcConcurrency = max(1, bmcConcurrency)
    }
}

/// The task kinds that do the machine steps (`dv.maskin.cmd.machine-*`): each reports its outcome to the machine's
/// lifecycle; the deploy and wipe workflows are sagas whose undo powers off and clears the boot override.
public struct MachineWorkflows: Sendable {
    public let machines: Machines
    public let connector: BMCConnector
    public let settings: MaskinSettings
    /// Inspected facts are reported to the inventory.
    public let inventory: InventoryBridge?
    /// Where the machine's NICs are cabled to (the inventory), for the switch-port attachments Nett makes.
    public let ports: (any SwitchPortDirectory)?

    public init(machines: Machines, connector: BMCConnector, settings: MaskinSettings = MaskinSettings(),
                inventory: InventoryBridge? = nil, ports: (any SwitchPortDirectory)? = nil) {
        self.machines = machines
        self.connector = connector
        self.settings = settings
        self.inventory = inventory
        self.ports = ports
    }

    public var taskKinds: [TaskKind] { [verify, inspect, deploy, release, wipe, power] }

    // MARK: - Steps without a saga

    var verify: TaskKind {
        let machines = self.machines
        let connector = self.connector
        return reporting(TaskKind(name: Machines.Kind.verify, retry: RetryPolicy(maxAttempts: 3, initialDelay: .seconds(2)),
                                  timeout: .seconds(120), handler: { execution in
            let machine = try await Self.machine(execution, machines)
            let state = try await Self.bmc(machine, connector, machines) { try await $0.powerState() }
            try await machines.observePower(machine.id, state)
            try await machines.report(machine.id, .succeeded(.verify), context: execution.context)
        }), step: .verify)
    }

    var inspect: TaskKind {
        let machines = self.machines
        let connector = self.connector
        let inventory = self.inventory
        return reporting(TaskKind(name: Machines.Kind.inspect, retry: RetryPolicy(maxAttempts: 3, initialDelay: .seconds(2)),
                                  timeout: .seconds(300), handler: { execution in
            let machine = try await Self.machine(execution, machines)
            let facts = try await Self.bmc(machine, connector, machines) { try await $0.systemFacts() }
            if let uuid = facts.uuid.flatMap(MachineIdentity.normalizeUUID), let known = machine.uuid, uuid != known {
                throw PermanentFailure("the BMC reports system UUID \(uuid), but the machine was enrolled with \(known): wrong BMC?")
            }
            try await machines.recordFacts(machine.id, facts)
            try await machines.setInstallDisk(machine.id, MachineConfigs.installTarget(facts).description)
            try await inventory?.inspected(machine, facts: facts, context: execution.context)
            try await machines.report(machine.id, .succeeded(.inspect), context: execution.context)
        }), step: .inspect)
    }

    var release: TaskKind {
        let machines = self.machines
        let connector = self.connector
        let ports = self.ports
        let settings = self.settings
        return reporting(TaskKind(name: Machines.Kind.release, retry: RetryPolicy(maxAttempts: 3, initialDelay: .seconds(2)),
                                  timeout: .seconds(300), handler: { execution in
            let machine = try await Self.machine(execution, machines)
            try await Self.bmc(machine, connector, machines) { driver in
                try await driver.powerOff()
                try await driver.setOneTimeBoot(.disk)
            }
            try await machines.recordBootEvent(machineID: machine.id, mac: machine.mac, .bmc, detail: "powered off, boot from disk",
                                               taskID: execution.task.id)
            try await Self.detach(machine, execution, machines, ports, settings)
            try await machines.report(machine.id, .succeeded(.release), context: execution.context)
        }), step: .release)
    }

    /// A power action; a failure fails the task and leaves the machine as it was.
    var power: TaskKind {
        let machines = self.machines
        let connector = self.connector
        return TaskKind(name: Machines.Kind.power, retry: RetryPolicy(maxAttempts: 2, initialDelay: .seconds(2)),
                        timeout: .seconds(180), handler: { execution in
            let parameters = try execution.parameters(as: StepParameters.self)
            guard let action = parameters.power else { throw PermanentFailure("no power action given") }
            let machine = try await machines.get(parameters.machineID)
            let state = try await Self.bmc(machine, connector, machines) { driver in
                try await driver.setPower(action)
                return try? await driver.powerState()
            }
            try await machines.recordBootEvent(machineID: machine.id, mac: machine.mac, .bmc, detail: "power \(action)",
                                               taskID: execution.task.id)
            if let state { try await machines.observePower(machine.id, state) }
        })
    }

    // MARK: - Sagas

    /// Network prerequisites → one-shot PXE → power cycle → boot script fetched → config fetched → installer's
    /// callback → boot from disk → `deployed`. Undo: power off, boot from disk.
    var deploy: TaskKind {
        netboot(name: Machines.Kind.deploy, step: .deploy, purpose: "install", finalPowerOff: false)
    }

    /// PXE into the wipe environment, wait for its callback, power off → `available`.
    var wipe: TaskKind {
        netboot(name: Machines.Kind.wipe, step: .wipe, purpose: "wipe", finalPowerOff: true)
    }

    private func netboot(name: String, step: MachineStep, purpose: String, finalPowerOff: Bool) -> TaskKind {
        let machines = self.machines
        let connector = self.connector
        let settings = self.settings
        let ports = self.ports
        // A deploy attaches the tenant networks it names; a wipe puts tenant-attached ports back on provisioning.
        let attaches = !finalPowerOff
        let steps: [SagaStep] = [
            SagaStep("network", action: { context in
                let machine = try await Self.machine(context.execution, machines)
                let parameters = try context.execution.parameters(as: StepParameters.self)
                if attaches, let networks = parameters.networks, !networks.isEmpty {
                    // Before anything is powered on: Nett verifies the attachment the deploy will ask for after the
                    // install (blocked while Nett is down; its verdict fails the deploy here).
                    let cabled = try await Self.cabledPorts(machine, ports)
                    return try await Self.attach(NetworkAttachmentRequest(owner: "machine \(machine.name)", ports: cabled, networks: networks,
                                                                          dryRun: true, requestedBy: context.execution.task.id),
                                                 machine: machine, execution: context.execution, machines: machines, settings: settings)
                }
                if !attaches, machine.networks != nil {
                    // A wipe of a machine whose ports still carry tenant networks: back to provisioning first.
                    return try await Self.detach(machine, context.execution, machines, ports, settings)
                }
                return "no new attachment needed: the machine boots on the realized provisioning network"
            }, undo: { _ in }),
            SagaStep("pxe", action: { context in
                let machine = try await Self.machine(context.execution, machines)
                try await Self.bmc(machine, connector, machines) { try await $0.setOneTimeBoot(.pxe) }
                try await machines.recordBootEvent(machineID: machine.id, mac: machine.mac, .bmc, detail: "one-shot boot: pxe",
                                                   taskID: context.execution.task.id)
                return nil
            }, undo: { context in
                let machine = try await Self.machine(context.execution, machines)
                try await Self.undoBMC(machine, connector) { try await $0.setOneTimeBoot(.disk) }
            }),
            SagaStep("power-cycle", action: { context in
                let machine = try await Self.machine(context.execution, machines)
                let state = try await Self.bmc(machine, connector, machines) { driver in
                    let state = try await driver.powerState()
                    try await driver.setPower(state == .on ? .cycle : .on)
                    return state
                }
                try await machines.recordBootEvent(machineID: machine.id, mac: machine.mac, .bmc,
                                                   detail: state == .on ? "power cycle" : "power on", taskID: context.execution.task.id)
                return nil
            }, undo: { context in
                let machine = try await Self.machine(context.execution, machines)
                guard try await Self.undoBMC(machine, connector, { try await $0.powerOff() }) else { return }
                try await machines.recordBootEvent(machineID: machine.id, mac: machine.mac, .bmc, detail: "undo: power off",
                                                   taskID: context.execution.task.id)
            }),
            SagaStep("wait-script", action: { context in
                try await Self.wait(for: .script, context, machines, settings, within: settings.scriptWait,
                                    failure: "the machine did not fetch its boot script within \(MachineLifecycle.format(settings.scriptWait)): it did not network-boot (DHCP, boot order, NIC ROM — see its boot events and console)")
            }, undo: { _ in }),
            SagaStep("wait-config", action: { context in
                try await Self.wait(for: .config, context, machines, settings, within: settings.configWait,
                                    failure: "the installer did not fetch the machine config within \(MachineLifecycle.format(settings.configWait)) of the boot script (kernel or initramfs download, installer network — see the console)")
            }, undo: { _ in }),
            SagaStep("wait-\(purpose)", action: { context in
                let detail = try await Self.wait(for: .callback, context, machines, settings, within: settings.installWait,
                                                 failure: "no \(purpose)-complete callback within \(MachineLifecycle.format(settings.installWait)) of the config fetch (see the console)")
                if detail == "install-failed" { throw PermanentFailure("the installer reported that the install failed (see the console)") }
                return detail
            }, undo: { _ in }),
            SagaStep("attach", action: { context in
                let parameters = try context.execution.parameters(as: StepParameters.self)
                guard attaches, let networks = parameters.networks, !networks.isEmpty else { return "no tenant network named" }
                // Installed on the provisioning network; now, powered off, the ports move to the tenant networks
                // (Ironic's order): the machine first boots from disk on the networks it was deployed for.
                let machine = try await Self.machine(context.execution, machines)
                try await Self.bmc(machine, connector, machines) { try await $0.powerOff() }
                try await machines.recordBootEvent(machineID: machine.id, mac: machine.mac, .bmc, detail: "power off: attaching \(networks.joined(separator: ", "))",
                                                   taskID: context.execution.task.id)
                let cabled = try await Self.cabledPorts(machine, ports)
                try await machines.setNetworks(machine.id, networks)
                return try await Self.attach(NetworkAttachmentRequest(owner: "machine \(machine.name)", ports: cabled, networks: networks,
                                                                      requestedBy: context.execution.task.id),
                                             machine: machine, execution: context.execution, machines: machines, settings: settings)
            }, undo: { context in
                // The deploy is given up after its ports moved: ask Nett to put them back (not waited for; the machine
                // keeps its `networks`, so its release or wipe makes sure of it).
                guard context.output?.hasPrefix("Nett") == true else { return }
                let machine = try await Self.machine(context.execution, machines)
                guard let cabled = try? await Self.cabledPorts(machine, ports) else { return }
                let request = NetworkAttachmentRequest(owner: "machine \(machine.name)", ports: cabled, provisioning: true,
                                                       requestedBy: context.execution.task.id)
                if try await machines.attachTask(requestedBy: context.execution.task.id, dryRun: false, provisioning: true, machineID: machine.id) == nil {
                    _ = try await machines.requestAttachment(request, machine: machine, context: context.execution.context, deadline: settings.attachWait)
                }
            }),
            SagaStep("boot-disk", action: { context in
                let machine = try await Self.machine(context.execution, machines)
                let attached = context.outputs["attach"]?.hasPrefix("Nett") == true
                try await Self.bmc(machine, connector, machines) { driver in
                    if finalPowerOff { try await driver.powerOff() }
                    try await driver.setOneTimeBoot(.disk)
                    if attached { try await driver.setPower(.on) }
                }
                try await machines.recordBootEvent(machineID: machine.id, mac: machine.mac, .bmc,
                                                   detail: finalPowerOff ? "powered off, boot from disk" : attached ? "boot from disk, power on" : "boot from disk",
                                                   taskID: context.execution.task.id)
                return nil
            }, undo: { _ in }),
            SagaStep("finish", action: { context in
                let machine = try await Self.machine(context.execution, machines)
                try await machines.report(machine.id, .succeeded(step), context: context.execution.context)
                return nil
            }, undo: { _ in }),
        ]
        let saga = Saga(name: name, steps: steps, dependencies: [:], retry: RetryPolicy(maxAttempts: 3, initialDelay: .seconds(2)),
                        timeout: settings.scriptWait + settings.configWait + settings.installWait + settings.attachWait * 2 + .seconds(300))
        return reporting(saga.taskKind, step: step)
    }

    // MARK: - Helpers

    /// Puts the machine's ports back on the provisioning network if a deploy attached tenant networks to them.
    @discardableResult
    static func detach(_ machine: MachineRecord, _ execution: TaskExecution, _ machines: Machines, _ ports: (any SwitchPortDirectory)?,
                       _ settings: MaskinSettings) async throws -> String {
        guard let networks = machine.networks, !networks.isEmpty else { return "the ports carry no tenant network" }
        let cabled = try await cabledPorts(machine, ports)
        let outcome = try await attach(NetworkAttachmentRequest(owner: "machine \(machine.name)", ports: cabled, provisioning: true,
                                                                requestedBy: execution.task.id),
                                       machine: machine, execution: execution, machines: machines, settings: settings)
        try await machines.setNetworks(machine.id, nil)
        return outcome
    }

    /// `kind` with a compensation that (after the kind's own, e.g. a saga's unwind) reports the step failed to the
    /// machine, with the reason the task was given up for.
    func reporting(_ kind: TaskKind, step: MachineStep) -> TaskKind {
        let machines = self.machines
        var wrapped = kind
        let inner = kind.compensation
        wrapped.compensation = { execution in
            let summary = try await inner?(execution)
            let parameters = try execution.parameters(as: StepParameters.self)
            let reason = [execution.task.reason ?? "given up", summary].compactMap { $0 }.joined(separator: "; ")
            try await machines.report(parameters.machineID, .failed(step, reason: reason), context: execution.context)
            return summary
        }
        return wrapped
    }

    /// Runs `body` with the machine's BMC driver. A refusal of the credentials is never retried: it is recorded on
    /// the machine (so no other task or sweep logs in with them) and ends the task with the BMC's answer.
    @discardableResult
    static func bmc<T: Sendable>(_ machine: MachineRecord, _ connector: BMCConnector, _ machines: Machines,
                                 _ body: (any BMCDriver) async throws -> T) async throws -> T {
        do {
            return try await body(try connector.driver(for: machine))
        } catch let error as DataverketError where error.bmcFailure?.kind == .unauthorized {
            if error.bmcFailure?.attempts != 0, let fingerprint = try? connector.fingerprint(machine.bmc) {
                try await machines.observeBMCRefusal(machine.id, fingerprint: fingerprint, error.message)
            }
            throw PermanentFailure(error.message)
        }
    }

    /// An undo's BMC call: with refused credentials there is nothing it can do, and it says so instead of
    /// failing the unwind (which would retry the login). Returns whether the call ran.
    @discardableResult
    static func undoBMC(_ machine: MachineRecord, _ connector: BMCConnector, _ body: (any BMCDriver) async throws -> Void) async throws -> Bool {
        do {
            try await body(try connector.driver(for: machine))
            return true
        } catch let error as DataverketError where error.bmcFailure?.kind == .unauthorized {
            return false
        }
    }

    static func machine(_ execution: TaskExecution, _ machines: Machines) async throws -> MachineRecord {
        try await machines.get(try execution.parameters(as: StepParameters.self).machineID)
    }

    /// Waits until the boot service records `kind` for this task; returns its detail.
    @discardableResult
    static func wait(for kind: BootEvent.Kind, _ context: SagaStepContext, _ machines: Machines, _ settings: MaskinSettings,
                     within limit: Duration, failure: String) async throws -> String? {
        let parameters = try context.execution.parameters(as: StepParameters.self)
        let taskID = context.execution.task.id
        let clock = ContinuousClock()
        let deadline = clock.now + limit
        while true {
            let found: String?? = try await machines.database.read { session in
                guard let row = try await session.first("""
                    SELECT detail FROM \(session.table("maskin", "boot_events"))
                    WHERE machine_id = \(bind: parameters.machineID) AND task_id = \(bind: taskID) AND kind = \(bind: kind.rawValue)
                    ORDER BY at DESC LIMIT 1
                    """) else { return nil }
                return .some(try row.decode(column: "detail", as: String?.self))
            }
            if let found { return found }
            guard clock.now < deadline else { throw PermanentFailure(failure) }
            try await context.execution.progress(context.index * 100 / 8, "waiting for the machine: \(kind.rawValue)")
            try await Task.sleep(for: settings.pollInterval)
        }
    }
}
