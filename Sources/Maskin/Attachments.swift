import DataverketCore
import DataverketStore
import DataverketTasks
import Foundation
import SQLKit

/// A machine's switch-port attachments (issue 16 §5). Maskin never configures a switch: it asks Nett with a
/// `network-attach` task (`dv.nett.cmd.network-attach`, over the bus like any command) for the leaf ports the
/// inventory cables the machine's NICs to, and waits for that task. Nett is a hard dependency of these steps: while
/// it does not report healthy, the step is `blocked` (resumed when it does), never retried into a failure.
extension MachineWorkflows {
    /// The switch ports of the machine's data NICs, from the inventory's cabling.
    static func cabledPorts(_ machine: MachineRecord, _ directory: (any SwitchPortDirectory)?) async throws -> [SwitchPortCable] {
        guard let directory else {
            throw PermanentFailure("this Maskin has no inventory to read \(machine.name)'s cabling from; it cannot ask Nett to attach networks")
        }
        guard let device = machine.device else {
            throw PermanentFailure("\(machine.name) names no inventory device (enroll it with --device), so the switch ports its NICs are cabled to are unknown")
        }
        let ports: [SwitchPortCable]
        do {
            ports = try await directory.switchPorts(of: device)
        } catch let error as DataverketError where error.code == .notFound {
            throw PermanentFailure("the inventory has no device \(device) (machine \(machine.name)): its cabling is unknown")
        }
        guard !ports.isEmpty else {
            throw PermanentFailure("the inventory cables none of \(device)'s Ethernet interfaces to a switch (machine \(machine.name)); declare its links first")
        }
        return ports
    }

    /// Asks Nett for `request` and waits for its answer (the attach task's outcome). A step that runs again — the
    /// deploy resumed, or redelivered after a crash — finds the task it started and waits for it, rather than ask
    /// twice. Blocked while Nett is not healthy and the request is not taken yet; Nett's failure fails the step.
    static func attach(_ request: NetworkAttachmentRequest, machine: MachineRecord, execution: TaskExecution, machines: Machines,
                       settings: MaskinSettings) async throws -> String {
        func blocked(_ status: String?) -> DependencyBlocked {
            DependencyBlocked(dependency: NetworkAttachmentRequest.service, reason: """
                waiting for Nett to \(request.dryRun ? "verify" : "attach") \(request.summary) (hard dependency): it is \(status ?? "not reporting"); \
                resumes by itself when Nett reports healthy — runbook: docs/runbooks/dependency-blocked.md
                """)
        }
        var child = try await machines.attachTask(requestedBy: execution.task.id, dryRun: request.dryRun, provisioning: request.provisioning,
                                                  machineID: machine.id)
        if child == nil {
            let status = await execution.dependencyStatus(NetworkAttachmentRequest.service)
            guard status == "healthy" else { throw blocked(status) }
            child = try await machines.requestAttachment(request, machine: machine, context: execution.context, deadline: settings.attachWait)
        }
        guard let child else { throw PermanentFailure("no attach task") }
        let clock = ContinuousClock()
        let deadline = clock.now + settings.attachWait
        while true {
            let task = try await machines.tasks.get(child.id)
            switch task.state {
            case .succeeded:
                return "Nett (\(task.id)): \(task.reason ?? "attached \(request.summary)")"
            case .failed, .cancelled:
                throw PermanentFailure("Nett could not attach \(request.summary) (\(task.id) \(task.state)): \(task.reason ?? "no reason given")")
            case .queued, .blocked:
                let status = await execution.dependencyStatus(NetworkAttachmentRequest.service)
                if status != "healthy" { throw blocked(status) }
            default:
                break
            }
            guard clock.now < deadline else {
                throw PermanentFailure("Nett did not finish attaching \(request.summary) (\(task.id) is \(task.state)) within \(MachineLifecycle.format(settings.attachWait))")
            }
            try await Task.sleep(for: settings.pollInterval)
        }
    }
}

extension Machines {
    /// The attach task a step of `taskID` started, if any.
    func attachTask(requestedBy taskID: String, dryRun: Bool, provisioning: Bool, machineID: String) async throws -> TaskRecord? {
        let page = try await tasks.list(TaskFilter(kind: NetworkAttachmentRequest.kind, resourceID: machineID), limit: 200, cursor: nil)
        return page.items.first { task in
            guard let request = try? JSONColumn.decode(NetworkAttachmentRequest.self, task.params) else { return false }
            return request.requestedBy == taskID && request.dryRun == dryRun && request.provisioning == provisioning
        }
    }

    /// Queues Nett's attach task (its command goes out through the outbox in the same transaction).
    func requestAttachment(_ request: NetworkAttachmentRequest, machine: MachineRecord, context: OperationContext,
                           deadline: Duration) async throws -> TaskRecord {
        let tasks = self.tasks
        return try await database.transaction { session in
            try await tasks.enqueue(session, kind: NetworkAttachmentRequest.kind, service: NetworkAttachmentRequest.service,
                                    resource: Self.resource(machine), tenantID: nil, projectID: nil, context: context,
                                    params: try JSONColumn.encode(request), deadline: deadline)
        }
    }

    /// Records the tenant networks the machine's ports were last asked to carry (nil: back on provisioning).
    func setNetworks(_ machineID: String, _ networks: [String]?) async throws {
        let value = try networks.map { try JSONColumn.encode($0) }
        try await database.transaction { session in
            try await session.run("""
                UPDATE \(session.table("maskin", "machines")) SET networks = \(bind: value) WHERE id = \(bind: machineID)
                """)
        }
    }
}
