import DataverketCore
import Foundation

/// A machine as the lifecycle sees it: its state, how many deploys failed in a row, and when it last moved
/// (the start of its current state's deadline). A value: the store keeps it, the lifecycle computes the next.
public struct Machine: Sendable, Hashable, Codable {
    public internal(set) var state: MachineState
    /// Deploys that failed (or timed out) since the last successful one or the last `unmaintain`.
    public internal(set) var failedDeploys: Int
    public internal(set) var lastTransition: Date

    /// A newly enrolled machine.
    public init(enrolledAt: Date) {
        self.init(state: .enrolled, failedDeploys: 0, lastTransition: enrolledAt)
    }

    /// A machine as stored.
    public init(state: MachineState, failedDeploys: Int, lastTransition: Date) {
        self.state = state
        self.failedDeploys = max(0, failedDeploys)
        self.lastTransition = lastTransition
    }

    /// Applies `event` with `lifecycle`'s rules, or throws `conflict` (listing the allowed actions) and stays.
    @discardableResult
    public mutating func apply(_ event: MachineEvent, at time: Date,
                               lifecycle: MachineLifecycle = MachineLifecycle()) throws(DataverketError) -> MachineTransition {
        let transition = try lifecycle.apply(event, to: self, at: time)
        self = transition.machine
        return transition
    }
}

/// One applied event: what the store writes, the audit records and the bus announces (on `subject`).
public struct MachineTransition: Sendable, Hashable {
    public var from: MachineState
    public var to: MachineState
    public var event: MachineEvent
    public var at: Date
    /// The machine after the transition.
    public var machine: Machine
    /// True when this transition quarantined the machine (the deploy failure limit was reached).
    public var quarantined: Bool

    /// `dv.maskin.evt.machine.<state>` of the state entered.
    public var subject: String { to.eventSubject }
}

/// How long each in-progress state may last before the sweeper times it out.
public struct MachineDeadlines: Sendable, Hashable, Codable {
    public var verify: Duration
    public var inspect: Duration
    public var deploy: Duration
    public var release: Duration
    public var wipe: Duration

    public init(verify: Duration = .seconds(5 * 60), inspect: Duration = .seconds(30 * 60),
                deploy: Duration = .seconds(60 * 60), release: Duration = .seconds(15 * 60),
                wipe: Duration = .seconds(60 * 60)) {
        self.verify = verify
        self.inspect = inspect
        self.deploy = deploy
        self.release = release
        self.wipe = wipe
    }

    /// verify 5 min, inspect 30 min, deploy 1 h, release 15 min, wipe 1 h.
    public static let standard = MachineDeadlines()

    public func duration(for step: MachineStep) -> Duration {
        switch step {
        case .verify: verify
        case .inspect: inspect
        case .deploy: deploy
        case .release: release
        case .wipe: wipe
        }
    }
}

/// The rules of the machine lifecycle: one pure type, no I/O. Actions come from the API, task events from the
/// workers (and the deadline sweeper); anything else is a `conflict` that lists the actions allowed from the
/// current state.
public struct MachineLifecycle: Sendable, Hashable {
    public var deadlines: MachineDeadlines
    /// A machine whose deploy fails this many times in a row is quarantined (`maintenance`) instead of `failed`.
    public var quarantineAfterFailedDeploys: Int

    /// Reasons are kept to one line of at most this many characters.
    public static let maxReasonLength = 500

    public init(deadlines: MachineDeadlines = .standard, quarantineAfterFailedDeploys: Int = 2) {
        self.deadlines = deadlines
        self.quarantineAfterFailedDeploys = max(1, quarantineAfterFailedDeploys)
    }

    // MARK: - The rule table

    /// Where `action` takes a machine in `state`, or nil when it is not allowed there.
    public func target(of action: MachineAction, from state: MachineState) -> MachineState? {
        switch (action, state) {
        case (.verify, .enrolled), (.verify, .failed(.verify, _)):
            return .verifying
        case (.manage, .available), (.manage, .failed(.inspect, _)):
            return .manageable
        case (.inspect, .manageable), (.inspect, .failed(.inspect, _)):
            return .inspecting
        case (.provide, .manageable):
            return .wiping
        case (.allocate, .available):
            return .allocated
        case (.deploy, .allocated), (.deploy, .failed(.deploy, _)):
            return .deploying
        case (.release, .allocated):
            return .available
        case (.release, .deployed), (.release, .failed(.deploy, _)), (.release, .failed(.release, _)):
            return .releasing
        case (.release, .failed(.wipe, _)):
            return .wiping
        case (.rescue, .deployed):
            return .rescue
        case (.unrescue, .rescue):
            return .deployed
        case (.retire, .enrolled), (.retire, .manageable), (.retire, .available), (.retire, .failed),
             (.retire, .maintenance):
            return .retired
        case (.maintain(let reason), _):
            switch state {
            case .retired, .maintenance: return nil
            default: return .maintenance(reason: Self.oneLine(reason))
            }
        case (.unmaintain, .maintenance):
            return .manageable
        default:
            return nil
        }
    }

    /// The actions allowed from `state`, in declaration order.
    public func allowedActions(from state: MachineState) -> [MachineAction.Name] {
        MachineAction.Name.allCases.filter { target(of: .example($0), from: state) != nil }
    }

    /// How long a machine may stay in `state`; nil for steady states (they wait for an operator).
    public func deadline(for state: MachineState) -> Duration? {
        state.step.map { deadlines.duration(for: $0) }
    }

    /// When a machine's current state times out; nil for steady states.
    public func deadline(of machine: Machine) -> Date? {
        deadline(for: machine.state).map { machine.lastTransition.addingTimeInterval($0.seconds) }
    }

    // MARK: - Applying events

    public func apply(_ event: MachineEvent, to machine: Machine, at time: Date) throws(DataverketError) -> MachineTransition {
        var next = machine
        var quarantined = false
        switch event {
        case .action(let action):
            if case .maintain(let reason) = action,
               reason.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty {
                throw DataverketError.invalid("reason", "maintenance needs a reason")
            }
            guard let target = target(of: action, from: machine.state) else {
                throw conflict("cannot \(action.name)", machine.state)
            }
            next.state = target
            if case .unmaintain = action { next.failedDeploys = 0 }
        case .task(let report):
            guard machine.state.step == report.step else {
                let doing = machine.state.step.map { "the \($0) step is running" } ?? "no step is running"
                throw conflict("\(doing), so a report that \(report) does not apply", machine.state)
            }
            switch report {
            case .succeeded(let step):
                next.state = Self.successor(of: step)
                if step == .deploy { next.failedDeploys = 0 }
            case .failed(let step, let reason):
                quarantined = fail(&next, step: step, reason: Self.oneLine(reason))
            case .timedOut(let step):
                quarantined = fail(&next, step: step,
                                   reason: "timed out after \(Self.format(deadlines.duration(for: step)))")
            }
        }
        next.lastTransition = time
        return MachineTransition(from: machine.state, to: next.state, event: event, at: time, machine: next,
                                 quarantined: quarantined)
    }

    /// The `timedOut` transition for a machine whose in-progress state is past its deadline at `now`; nil otherwise.
    public func expire(_ machine: Machine, now: Date) -> MachineTransition? {
        guard let step = machine.state.step, let deadline = deadline(of: machine), now >= deadline else { return nil }
        return try? apply(.task(.timedOut(step)), to: machine, at: now)
    }

    /// Where a step's success leads.
    public static func successor(of step: MachineStep) -> MachineState {
        switch step {
        case .verify: .manageable
        case .inspect: .available
        case .deploy: .deployed
        case .release: .wiping
        case .wipe: .available
        }
    }

    /// Moves `machine` to `failed(step, reason)`, or quarantines it when this is a deploy failure that reaches the
    /// limit. Returns whether it quarantined.
    private func fail(_ machine: inout Machine, step: MachineStep, reason: String) -> Bool {
        guard step == .deploy else {
            machine.state = .failed(step: step, reason: reason)
            return false
        }
        machine.failedDeploys += 1
        if machine.failedDeploys >= quarantineAfterFailedDeploys {
            let times = machine.failedDeploys == 1 ? "once" : "\(machine.failedDeploys) times in a row"
            machine.state = .maintenance(reason: Self.oneLine("quarantined: deploy failed \(times); last: \(reason)"))
            return true
        }
        machine.state = .failed(step: step, reason: reason)
        return false
    }

    private func conflict(_ what: String, _ state: MachineState) -> DataverketError {
        let allowed = allowedActions(from: state)
        let list = allowed.isEmpty
            ? "none (\(state.name) is terminal)"
            : allowed.map(\.rawValue).joined(separator: ", ")
        return DataverketError(.conflict, "machine is \(state): \(what); allowed actions: \(list)")
    }

    /// The first line of `text`, trimmed and cut to `maxReasonLength` characters.
    public static func oneLine(_ text: String) -> String {
        let first = text.split(whereSeparator: \.isNewline).first.map(String.init) ?? ""
        let trimmed = first.trimmingCharacters(in: .whitespaces)
        if trimmed.count <= maxReasonLength { return trimmed }
        return String(trimmed.prefix(maxReasonLength - 1)) + "…"
    }

    /// `45 s`, `5 min`, `1 h`, `1 h 30 min`.
    public static func format(_ duration: Duration) -> String {
        let total = Int(duration.seconds.rounded())
        if total < 60 { return "\(total) s" }
        if total < 3600 {
            return total % 60 == 0 ? "\(total / 60) min" : "\(total / 60) min \(total % 60) s"
        }
        let minutes = (total % 3600) / 60
        return minutes == 0 ? "\(total / 3600) h" : "\(total / 3600) h \(minutes) min"
    }
}

extension Duration {
    /// The duration in seconds, as a floating-point number.
    var seconds: Double {
        let parts = components
        return Double(parts.seconds) + Double(parts.attoseconds) / 1e18
    }
}
