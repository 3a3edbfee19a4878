import DataverketCore
import DataverketTasks
import Foundation
import Logging
import NettIntent

/// Switch-port attachments (issue 16 §5): what a `network-attach` task asks of the applied intent. Pure: the new
/// intent and the port changes it makes, or why it cannot be made.
public enum AttachmentPlanner {
    /// Profiles this planner writes are named `attach-…`; one that no port uses any more is dropped.
    public static let profilePrefix = "attach-"

    /// The applied intent with each of the request's ports carrying the request's networks (one: an access port;
    /// several: a trunk) on the MTU the port has now; `changes` is empty when the intent already says so.
    public static func plan(_ request: NetworkAttachmentRequest, on applied: NetworkIntent) throws(DataverketError)
        -> (intent: NetworkIntent, changes: [String]) {
        guard !request.ports.isEmpty else { throw DataverketError.invalid("ports", "no switch port to attach") }
        guard request.ports.count <= 64 else { throw DataverketError.invalid("ports", "at most 64 ports") }
        let networks: [String]
        if request.provisioning {
            guard let provisioning = applied.networks.first(where: { $0.role == "provisioning" }) else {
                throw DataverketError.invalid("networks", "the applied intent of \(applied.datacenter) has no network with role provisioning")
            }
            networks = [provisioning.name]
        } else {
            networks = Array(Set(request.networks)).sorted()
            guard (1...64).contains(networks.count) else { throw DataverketError.invalid("networks", "name 1–64 networks") }
            let known = Set(applied.networks.map(\.name))
            let unknown = networks.filter { !known.contains($0) }
            guard unknown.isEmpty else {
                throw DataverketError.invalid("networks", "\(unknown.joined(separator: ", ")) \(unknown.count == 1 ? "is" : "are") not a network of the applied intent of \(applied.datacenter)")
            }
        }
        var intent = applied
        var ports = intent.ports ?? []
        var profiles = intent.portProfiles ?? []
        let switches = Set(ports.map(\.device))
        var changes: [String] = []
        for cable in request.ports {
            guard switches.contains(cable.device) else {
                throw DataverketError.invalid("ports", "\(cable.device) is not a switch of the applied intent (\(cable.nic) of \(request.owner) is cabled to \(cable.port))")
            }
            let index = ports.firstIndex { $0.device == cable.device && ($0.interface == cable.interface || ($0.members ?? []).contains(cable.interface)) }
            if let index, let peer = ports[index].peer {
                throw DataverketError(.conflict, "\(cable.port) is the link to \(peer), not a server port: the inventory and the intent disagree about \(cable.nic) of \(request.owner)")
            }
            let current = index.flatMap { index in profiles.first { $0.name == ports[index].profile } }
            var wanted = NetworkIntent.PortProfile(name: "", mode: networks.count == 1 ? "access" : "trunk",
                                                  network: networks.count == 1 ? networks[0] : nil,
                                                  allowed: networks.count == 1 ? nil : networks, mtu: current?.mtu ?? 1500, lacp: current?.lacp)
            if let current, carries(current, as: wanted) { continue }
            if let existing = profiles.first(where: { carries($0, as: wanted) }) {
                wanted = existing
            } else {
                wanted.name = profileName(mode: wanted.mode, networks: networks, mtu: wanted.mtu, lacp: wanted.lacp)
                profiles.append(wanted)
            }
            let port = index.map { ports[$0] }
            changes.append("\(port.map { "\($0.device):\($0.interface)" } ?? cable.port): \(current?.name ?? "not configured") → \(wanted.name)")
            if let index {
                ports[index].profile = wanted.name
                ports[index].needs = networks
            } else {
                ports.append(NetworkIntent.Port(device: cable.device, interface: cable.interface, profile: wanted.name, needs: networks))
            }
        }
        guard !changes.isEmpty else { return (applied, []) }
        let used = Set(ports.map(\.profile))
        profiles.removeAll { $0.name.hasPrefix(profilePrefix) && !used.contains($0.name) }
        intent.ports = ports
        intent.portProfiles = profiles
        return (intent, changes)
    }

    /// Whether `profile` carries exactly what `wanted` does, the same way, on the same MTU and LACP setting.
    static func carries(_ profile: NetworkIntent.PortProfile, as wanted: NetworkIntent.PortProfile) -> Bool {
        profile.mode == wanted.mode && profile.network == wanted.network && (profile.allowed ?? []).sorted() == (wanted.allowed ?? []).sorted()
            && profile.mtu == wanted.mtu && (profile.lacp ?? false) == (wanted.lacp ?? false)
    }

    /// `attach-acme-web-1500`, `attach-trunk-a_b-9000`; a name too long for a configuration word gets a digest instead.
    static func profileName(mode: String, networks: [String], mtu: Int, lacp: Bool?) -> String {
        let body = (mode == "trunk" ? "trunk-" : "") + networks.joined(separator: "_") + "-\(mtu)" + (lacp == true ? "-lacp" : "")
        let name = profilePrefix + body
        guard name.count > 64 else { return name }
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in body.utf8 { hash = (hash ^ UInt64(byte)) &* 0x100_0000_01b3 }
        return profilePrefix + "\(mode)-" + String(hash, radix: 16) + "-\(mtu)"
    }
}

extension NettPlane {
    /// `network-attach`: realizes a ``NetworkAttachmentRequest`` as a changeset of kind `attach` (verified, confirmed
    /// commits, probes — the rollout runs inside this task, since Nett's worker runs one task at a time), or says
    /// that the applied intent already realizes it (no changeset). Not retried, like `network-apply`; a lost worker's
    /// changeset is restored from its checkpoints by the compensation.
    var attachKind: TaskKind {
        let changesets = self.changesets
        let rollout = self.rollout
        let logger = self.logger
        return TaskKind(name: NetworkAttachmentRequest.kind, retry: RetryPolicy(maxAttempts: 1), timeout: .seconds(3600), handler: { execution in
            let request = try execution.parameters(as: NetworkAttachmentRequest.self)
            guard let rollout else { throw PermanentFailure("no network devices are configured (DV_NETT_DEVICES): Nett cannot attach \(request.summary)") }
            guard let applied = try await changesets.applied() else {
                throw PermanentFailure("no network intent has been applied yet (dvnet apply): Nett cannot attach \(request.summary)")
            }
            let planned: (intent: NetworkIntent, changes: [String])
            do throws(DataverketError) {
                planned = try AttachmentPlanner.plan(request, on: applied)
            } catch {
                throw PermanentFailure("Nett cannot attach \(request.summary) for \(request.owner): \(error.message)")
            }
            guard !planned.changes.isEmpty else {
                execution.outcome("relied on existing network state: the applied intent already carries \(request.summary)")
                return
            }
            let report = IntentVerifier.verify(planned.intent)
            guard report.ok else {
                throw PermanentFailure("the attachment of \(request.summary) for \(request.owner) fails verification, nothing was changed: "
                                       + report.problems.prefix(5).map(\.description).joined(separator: "; "))
            }
            if request.dryRun {
                execution.outcome("verified, not applied: " + planned.changes.joined(separator: "; "))
                return
            }
            var context = execution.context
            context.idempotencyKey = Self.attachKey(execution.task.id)
            let plan = await rollout.plan(planned.intent)
            let record = try await changesets.create(planned.intent, kind: "attach",
                                                     description: "attach \(request.summary) for \(request.owner)",
                                                     plan: plan, runBy: execution.task.id, context: context)
            guard record.status == "queued" || record.status == "applying" else {
                if record.status == "applied" { execution.outcome("changeset \(record.id) applied: " + planned.changes.joined(separator: "; ")); return }
                throw PermanentFailure("changeset \(record.id) is \(record.status): \(record.report?.failure ?? "see dvnet changeset get \(record.id)")")
            }
            try await Self.run(changeset: record.id, changesets: changesets, rollout: rollout, execution: execution, logger: logger)
            execution.outcome("changeset \(record.id) applied: " + planned.changes.joined(separator: "; "))
        }, compensation: { execution in
            guard let record = try await changesets.find(idempotencyKey: Self.attachKey(execution.task.id)) else { return nil }
            return try await Self.giveUp(record.id, reason: execution.task.reason ?? "the task was given up", changesets: changesets, rollout: rollout)
        })
    }

    static func attachKey(_ taskID: String) -> String { "network-attach:\(taskID)" }
}
