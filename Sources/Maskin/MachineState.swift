import DataverketCore
import Foundation

/// The work that a machine in an in-progress state is doing; `failed` names the one that failed.
public enum MachineStep: String, Codable, Sendable, CaseIterable, CustomStringConvertible {
    /// Reaching the BMC with the enrolled credentials and reading its power state.
    case verify
    /// Pulling hardware facts (BMC, discovery environment) into the inventory.
    case inspect
    /// PXE → boot script → Talos config → install → boot from disk.
    case deploy
    /// Powering the machine off and clearing its boot override after use.
    case release
    /// Erasing the disks before the machine returns to the pool.
    case wipe

    public var description: String { rawValue }

    /// The in-progress state doing this step.
    public var state: MachineState.Name {
        switch self {
        case .verify: .verifying
        case .inspect: .inspecting
        case .deploy: .deploying
        case .release: .releasing
        case .wipe: .wiping
        }
    }
}

/// Where a machine is in its lifecycle (issue 8 §1):
/// `enrolled → verifying → manageable → inspecting → available → allocated → deploying → deployed → releasing
/// → wiping → available`, plus `rescue`, `failed(step, reason)`, `retired` (terminal) and `maintenance(reason)`.
///
/// Encodes as `{"name": "available"}`, `{"name": "failed", "step": "deploy", "reason": "…"}` or
/// `{"name": "maintenance", "reason": "…"}`; the names are stable (stored, published, shown).
public enum MachineState: Sendable, Hashable, CustomStringConvertible {
    case enrolled
    case verifying
    case manageable
    case inspecting
    case available
    case allocated
    case deploying
    case deployed
    case releasing
    case wiping
    case rescue
    case failed(step: MachineStep, reason: String)
    case retired
    case maintenance(reason: String)

    /// The state without its payload: the stable name.
    public enum Name: String, Codable, Sendable, CaseIterable, CustomStringConvertible {
        case enrolled, verifying, manageable, inspecting, available, allocated, deploying, deployed, releasing, wiping
        case rescue, failed, retired, maintenance

        public var description: String { rawValue }
    }

    public var name: Name {
        switch self {
        case .enrolled: .enrolled
        case .verifying: .verifying
        case .manageable: .manageable
        case .inspecting: .inspecting
        case .available: .available
        case .allocated: .allocated
        case .deploying: .deploying
        case .deployed: .deployed
        case .releasing: .releasing
        case .wiping: .wiping
        case .rescue: .rescue
        case .failed: .failed
        case .retired: .retired
        case .maintenance: .maintenance
        }
    }

    /// The step an in-progress state is doing; nil for steady states.
    public var step: MachineStep? {
        switch self {
        case .verifying: .verify
        case .inspecting: .inspect
        case .deploying: .deploy
        case .releasing: .release
        case .wiping: .wipe
        default: nil
        }
    }

    /// True while a task works on the machine: these states have deadlines.
    public var isInProgress: Bool { step != nil }

    /// True when nothing can leave the state.
    public var isTerminal: Bool { self == .retired }

    /// The bus subject announcing that a machine entered this state: `dv.maskin.evt.machine.<name>`.
    public var eventSubject: String { Subjects.event(service: "maskin", entity: "machine", verb: name.rawValue) }

    /// `available`, `failed(deploy): no boot script fetch within 10 min`, `maintenance: quarantined …`.
    public var description: String {
        switch self {
        case .failed(let step, let reason): "failed(\(step)): \(reason)"
        case .maintenance(let reason): "maintenance: \(reason)"
        default: name.rawValue
        }
    }
}

extension MachineState: Codable {
    private enum CodingKeys: String, CodingKey { case name, step, reason }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        let name = try container.decode(Name.self, forKey: .name)
        switch name {
        case .enrolled: self = .enrolled
        case .verifying: self = .verifying
        case .manageable: self = .manageable
        case .inspecting: self = .inspecting
        case .available: self = .available
        case .allocated: self = .allocated
        case .deploying: self = .deploying
        case .deployed: self = .deployed
        case .releasing: self = .releasing
        case .wiping: self = .wiping
        case .rescue: self = .rescue
        case .retired: self = .retired
        case .failed:
            self = .failed(step: try container.decode(MachineStep.self, forKey: .step),
                           reason: try container.decode(String.self, forKey: .reason))
        case .maintenance:
            self = .maintenance(reason: try container.decode(String.self, forKey: .reason))
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(name, forKey: .name)
        switch self {
        case .failed(let step, let reason):
            try container.encode(step, forKey: .step)
            try container.encode(reason, forKey: .reason)
        case .maintenance(let reason):
            try container.encode(reason, forKey: .reason)
        default:
            break
        }
    }
}

/// What an operator (through the API) asks of a machine. Enrolling is not an action: it creates the machine
/// (`Machine(enrolledAt:)`).
public enum MachineAction: Sendable, Hashable, CustomStringConvertible {
    /// Check the BMC: `enrolled` or `failed(verify)` → `verifying`.
    case verify
    /// Take a machine out of the pool or out of a failed inspection: `available`, `failed(inspect)` → `manageable`.
    case manage
    /// Pull hardware facts: `manageable`, `failed(inspect)` → `inspecting`.
    case inspect
    /// Offer a managed machine to the pool after wiping it: `manageable` → `wiping`.
    case provide
    /// Reserve for a cluster: `available` → `allocated`.
    case allocate
    /// Install: `allocated`, `failed(deploy)` (a retry) → `deploying`.
    case deploy
    /// Give back: `allocated` → `available` (nothing was written); `deployed`, `failed(deploy)`, `failed(release)`
    /// → `releasing`; `failed(wipe)` → `wiping`.
    case release
    /// Boot the rescue environment: `deployed` → `rescue`.
    case rescue
    /// Leave the rescue environment: `rescue` → `deployed`.
    case unrescue
    /// Decommission for good: steady states not holding a workload (`enrolled`, `manageable`, `available`,
    /// `failed`, `maintenance`) → `retired`.
    case retire
    /// Stop touching the machine, with the operator's reason: any state but `retired`/`maintenance` → `maintenance`.
    case maintain(reason: String)
    /// Clear maintenance (and the failed-deploy count): `maintenance` → `manageable`.
    case unmaintain

    public enum Name: String, Codable, Sendable, CaseIterable, CustomStringConvertible {
        case verify, manage, inspect, provide, allocate, deploy, release, rescue, unrescue, retire, maintain, unmaintain
        public var description: String { rawValue }
    }

    public var name: Name {
        switch self {
        case .verify: .verify
        case .manage: .manage
        case .inspect: .inspect
        case .provide: .provide
        case .allocate: .allocate
        case .deploy: .deploy
        case .release: .release
        case .rescue: .rescue
        case .unrescue: .unrescue
        case .retire: .retire
        case .maintain: .maintain
        case .unmaintain: .unmaintain
        }
    }

    /// An action with a placeholder payload, for each name (tables, tests, documentation).
    public static func example(_ name: Name) -> MachineAction {
        switch name {
        case .verify: .verify
        case .manage: .manage
        case .inspect: .inspect
        case .provide: .provide
        case .allocate: .allocate
        case .deploy: .deploy
        case .release: .release
        case .rescue: .rescue
        case .unrescue: .unrescue
        case .retire: .retire
        case .maintain: .maintain(reason: "operator")
        case .unmaintain: .unmaintain
        }
    }

    public var description: String {
        if case .maintain(let reason) = self { return "maintain(\(reason))" }
        return name.rawValue
    }
}

extension MachineAction: Codable {
    private enum CodingKeys: String, CodingKey { case name, reason }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        let name = try container.decode(Name.self, forKey: .name)
        if name == .maintain {
            self = .maintain(reason: try container.decode(String.self, forKey: .reason))
        } else {
            self = MachineAction.example(name)
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(name, forKey: .name)
        if case .maintain(let reason) = self { try container.encode(reason, forKey: .reason) }
    }
}

/// What a task reports about the step it runs. A report for a step the machine is not doing (a stale or
/// duplicated report) is a conflict.
public enum MachineTaskEvent: Sendable, Hashable, Codable, CustomStringConvertible {
    case succeeded(MachineStep)
    case failed(MachineStep, reason: String)
    /// The step's deadline passed (the sweeper reports it; see `MachineLifecycle.expire`).
    case timedOut(MachineStep)

    public var step: MachineStep {
        switch self {
        case .succeeded(let step), .failed(let step, _), .timedOut(let step): step
        }
    }

    public var description: String {
        switch self {
        case .succeeded(let step): "\(step) succeeded"
        case .failed(let step, let reason): "\(step) failed: \(reason)"
        case .timedOut(let step): "\(step) timed out"
        }
    }
}

/// An input to the lifecycle: an operator's action or a task's report.
public enum MachineEvent: Sendable, Hashable, Codable, CustomStringConvertible {
    case action(MachineAction)
    case task(MachineTaskEvent)

    public var description: String {
        switch self {
        case .action(let action): "action \(action)"
        case .task(let event): "task event: \(event)"
        }
    }
}
