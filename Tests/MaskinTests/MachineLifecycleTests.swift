import DataverketCore
import Foundation
import Testing
@testable import Maskin

/// Every state the lifecycle knows, with `failed` once per step.
let everyState: [MachineState] = [
    .enrolled, .verifying, .manageable, .inspecting, .available, .allocated, .deploying, .deployed, .releasing,
    .wiping, .rescue, .retired, .maintenance(reason: "operator"),
] + MachineStep.allCases.map { .failed(step: $0, reason: "boom") }

/// The rule table, written out independently of the implementation: the allowed actions of each state and where
/// they lead. Everything not listed must be a conflict.
let expectedTargets: [MachineState: [MachineAction.Name: MachineState]] = {
    let maintenance = MachineState.maintenance(reason: "operator")
    var table: [MachineState: [MachineAction.Name: MachineState]] = [
        .enrolled: [.verify: .verifying, .retire: .retired, .maintain: maintenance],
        .verifying: [.maintain: maintenance],
        .manageable: [.inspect: .inspecting, .provide: .wiping, .retire: .retired, .maintain: maintenance],
        .inspecting: [.maintain: maintenance],
        .available: [.manage: .manageable, .allocate: .allocated, .retire: .retired, .maintain: maintenance],
        .allocated: [.deploy: .deploying, .release: .available, .maintain: maintenance],
        .deploying: [.maintain: maintenance],
        .deployed: [.release: .releasing, .rescue: .rescue, .maintain: maintenance],
        .releasing: [.maintain: maintenance],
        .wiping: [.maintain: maintenance],
        .rescue: [.unrescue: .deployed, .maintain: maintenance],
        .retired: [:],
        maintenance: [.unmaintain: .manageable, .retire: .retired],
    ]
    let failedCommon: [MachineAction.Name: MachineState] = [.retire: .retired, .maintain: maintenance]
    table[.failed(step: .verify, reason: "boom")] = failedCommon.merging([.verify: .verifying]) { a, _ in a }
    table[.failed(step: .inspect, reason: "boom")] =
        failedCommon.merging([.inspect: .inspecting, .manage: .manageable]) { a, _ in a }
    table[.failed(step: .deploy, reason: "boom")] =
        failedCommon.merging([.deploy: .deploying, .release: .releasing]) { a, _ in a }
    table[.failed(step: .release, reason: "boom")] = failedCommon.merging([.release: .releasing]) { a, _ in a }
    table[.failed(step: .wipe, reason: "boom")] = failedCommon.merging([.release: .wiping]) { a, _ in a }
    return table
}()

let t0 = Date(timeIntervalSince1970: 1_800_000_000)

@Suite("Machine lifecycle")
struct MachineLifecycleTests {
    let lifecycle = MachineLifecycle()

    @Test("the expected table covers every state")
    func tableIsComplete() {
        #expect(everyState.count == 18)
        #expect(Set(expectedTargets.keys) == Set(everyState))
        #expect(Set(everyState.map(\.name)) == Set(MachineState.Name.allCases))
    }

    @Test("every (state, action): the expected transition, or a conflict listing exactly the allowed actions",
          arguments: everyState)
    func actions(from state: MachineState) throws {
        let expected = try #require(expectedTargets[state])
        let allowedInOrder = MachineAction.Name.allCases.filter { expected[$0] != nil }
        #expect(lifecycle.allowedActions(from: state) == allowedInOrder)
        for name in MachineAction.Name.allCases {
            let machine = Machine(state: state, failedDeploys: 1, lastTransition: t0)
            let action = MachineAction.example(name)
            if let target = expected[name] {
                let transition = try lifecycle.apply(.action(action), to: machine, at: t0 + 60)
                #expect(transition.to == target, "\(state) --\(name)--> \(transition.to), expected \(target)")
                #expect(transition.from == state)
                #expect(transition.machine.state == target)
                #expect(transition.machine.lastTransition == t0 + 60)
                #expect(transition.subject == "dv.maskin.evt.machine.\(target.name.rawValue)")
                #expect(!transition.quarantined)
            } else {
                let error = #expect(throws: DataverketError.self, "\(state) --\(name)--> should conflict") {
                    try lifecycle.apply(.action(action), to: machine, at: t0 + 60)
                }
                #expect(error?.code == .conflict)
                let list = allowedInOrder.isEmpty
                    ? "none (\(state.name) is terminal)"
                    : allowedInOrder.map(\.rawValue).joined(separator: ", ")
                #expect(error?.message.hasSuffix("allowed actions: \(list)") == true, "\(error?.message ?? "")")
                #expect(error?.message.contains("cannot \(name)") == true)
            }
        }
    }

    @Test("task events apply only to the step the machine is doing", arguments: everyState)
    func taskEvents(in state: MachineState) throws {
        for step in MachineStep.allCases {
            let events: [MachineTaskEvent] = [.succeeded(step), .failed(step, reason: "disk on fire"), .timedOut(step)]
            for event in events {
                let machine = Machine(state: state, failedDeploys: 0, lastTransition: t0)
                if state.step == step {
                    let transition = try lifecycle.apply(.task(event), to: machine, at: t0 + 1)
                    switch event {
                    case .succeeded:
                        #expect(transition.to == MachineLifecycle.successor(of: step))
                    case .failed:
                        #expect(transition.to == .failed(step: step, reason: "disk on fire"))
                    case .timedOut:
                        let limit = MachineLifecycle.format(MachineDeadlines.standard.duration(for: step))
                        #expect(transition.to == .failed(step: step, reason: "timed out after \(limit)"))
                    }
                } else {
                    let error = #expect(throws: DataverketError.self, "\(event) in \(state) should conflict") {
                        try lifecycle.apply(.task(event), to: machine, at: t0 + 1)
                    }
                    #expect(error?.code == .conflict)
                    #expect(error?.message.contains("allowed actions: ") == true)
                }
            }
        }
    }

    @Test("the happy path, end to end")
    func happyPath() throws {
        var machine = Machine(enrolledAt: t0)
        let steps: [(MachineEvent, MachineState.Name)] = [
            (.action(.verify), .verifying), (.task(.succeeded(.verify)), .manageable),
            (.action(.inspect), .inspecting), (.task(.succeeded(.inspect)), .available),
            (.action(.allocate), .allocated), (.action(.deploy), .deploying),
            (.task(.succeeded(.deploy)), .deployed), (.action(.release), .releasing),
            (.task(.succeeded(.release)), .wiping), (.task(.succeeded(.wipe)), .available),
        ]
        for (index, (event, expected)) in steps.enumerated() {
            try machine.apply(event, at: t0 + Double(index))
            #expect(machine.state.name == expected, "after \(event)")
        }
    }

    @Test("each in-progress state has a deadline; steady states have none")
    func deadlines() throws {
        let expected: [MachineState.Name: Duration] = [
            .verifying: .seconds(300), .inspecting: .seconds(1800), .deploying: .seconds(3600),
            .releasing: .seconds(900), .wiping: .seconds(3600),
        ]
        for state in everyState {
            #expect(lifecycle.deadline(for: state) == expected[state.name], "\(state)")
            #expect(state.isInProgress == (expected[state.name] != nil))
        }
        let deploying = Machine(state: .deploying, failedDeploys: 0, lastTransition: t0)
        #expect(lifecycle.deadline(of: deploying) == t0 + 3600)
        #expect(lifecycle.deadline(of: Machine(state: .available, failedDeploys: 0, lastTransition: t0)) == nil)
    }

    @Test("a machine past its deadline times out into failed(step, 'timed out after …'); before it, nothing")
    func expire() throws {
        let custom = MachineLifecycle(deadlines: MachineDeadlines(inspect: .seconds(90)))
        let inspecting = Machine(state: .inspecting, failedDeploys: 0, lastTransition: t0)
        #expect(custom.expire(inspecting, now: t0 + 89) == nil)
        let transition = try #require(custom.expire(inspecting, now: t0 + 90))
        #expect(transition.to == .failed(step: .inspect, reason: "timed out after 1 min 30 s"))
        #expect(transition.event == .task(.timedOut(.inspect)))
        #expect(transition.machine.lastTransition == t0 + 90)
        #expect(custom.expire(Machine(state: .deployed, failedDeploys: 0, lastTransition: t0), now: t0 + 1e9) == nil)
    }

    @Test("a second failed deploy in a row quarantines the machine instead of failing it")
    func quarantine() throws {
        var machine = Machine(state: .allocated, failedDeploys: 0, lastTransition: t0)
        try machine.apply(.action(.deploy), at: t0)
        let first = try machine.apply(.task(.failed(.deploy, reason: "no boot script fetch within 10 min")), at: t0 + 1)
        #expect(machine.state == .failed(step: .deploy, reason: "no boot script fetch within 10 min"))
        #expect(machine.failedDeploys == 1)
        #expect(!first.quarantined)
        try machine.apply(.action(.deploy), at: t0 + 2)  // retry
        let second = try machine.apply(.task(.timedOut(.deploy)), at: t0 + 3)
        #expect(second.quarantined)
        #expect(machine.state == .maintenance(reason: "quarantined: deploy failed 2 times in a row; last: timed out after 1 h"))
        #expect(machine.failedDeploys == 2)
        #expect(second.subject == "dv.maskin.evt.machine.maintenance")
        // Not back to the pool: only unmaintain (to manageable, count cleared) or retire.
        #expect(lifecycle.allowedActions(from: machine.state) == [.retire, .unmaintain])
        try machine.apply(.action(.unmaintain), at: t0 + 4)
        #expect(machine.state == .manageable)
        #expect(machine.failedDeploys == 0)
    }

    @Test("a successful deploy clears the failure count, so failures must be in a row")
    func quarantineCountsInARow() throws {
        var machine = Machine(state: .deploying, failedDeploys: 1, lastTransition: t0)
        try machine.apply(.task(.succeeded(.deploy)), at: t0 + 1)
        #expect(machine.failedDeploys == 0)
        try machine.apply(.action(.release), at: t0 + 2)
        try machine.apply(.task(.succeeded(.release)), at: t0 + 3)
        try machine.apply(.task(.succeeded(.wipe)), at: t0 + 4)
        try machine.apply(.action(.allocate), at: t0 + 5)
        try machine.apply(.action(.deploy), at: t0 + 6)
        try machine.apply(.task(.failed(.deploy, reason: "x")), at: t0 + 7)
        #expect(machine.state == .failed(step: .deploy, reason: "x"))
    }

    @Test("failures of other steps never quarantine; failed keeps step and a one-line reason")
    func failedCarriesStepAndReason() throws {
        for step in MachineStep.allCases where step != .deploy {
            var machine = Machine(state: stateDoing(step), failedDeploys: 5, lastTransition: t0)
            let transition = try machine.apply(.task(.failed(step, reason: "BMC refused\nsecond line")), at: t0 + 1)
            #expect(transition.to == .failed(step: step, reason: "BMC refused"))
            #expect(!transition.quarantined)
            if case .failed(let failedStep, let reason) = machine.state {
                #expect(failedStep == step)
                #expect(reason == "BMC refused")
            } else {
                Issue.record("not failed: \(machine.state)")
            }
        }
        let long = String(repeating: "x", count: 2000)
        let transition = try lifecycle.apply(.task(.failed(.wipe, reason: long)),
                                             to: Machine(state: .wiping, failedDeploys: 0, lastTransition: t0), at: t0)
        guard case .failed(_, let reason) = transition.to else { Issue.record("not failed"); return }
        #expect(reason.count == MachineLifecycle.maxReasonLength)
    }

    @Test("retired is terminal: every action and event is a conflict naming no allowed action")
    func retiredIsTerminal() {
        let retired = Machine(state: .retired, failedDeploys: 0, lastTransition: t0)
        #expect(MachineState.retired.isTerminal)
        #expect(everyState.filter(\.isTerminal) == [.retired])
        #expect(lifecycle.allowedActions(from: .retired).isEmpty)
        let events = MachineAction.Name.allCases.map { MachineEvent.action(.example($0)) }
            + MachineStep.allCases.map { MachineEvent.task(.succeeded($0)) }
        for event in events {
            let error = #expect(throws: DataverketError.self) { try lifecycle.apply(event, to: retired, at: t0) }
            #expect(error?.message.hasSuffix("allowed actions: none (retired is terminal)") == true)
        }
    }

    @Test("maintenance needs a reason")
    func maintenanceReason() throws {
        let machine = Machine(state: .available, failedDeploys: 0, lastTransition: t0)
        let error = #expect(throws: DataverketError.self) {
            try lifecycle.apply(.action(.maintain(reason: "  ")), to: machine, at: t0)
        }
        #expect(error?.code == .invalidArgument)
        let transition = try lifecycle.apply(.action(.maintain(reason: "fan noise\nrack 4")), to: machine, at: t0)
        #expect(transition.to == .maintenance(reason: "fan noise"))
    }

    @Test("states, actions and events encode with stable names")
    func codable() throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        func json(_ value: some Encodable) throws -> String { String(decoding: try encoder.encode(value), as: UTF8.self) }
        #expect(try json(MachineState.available) == #"{"name":"available"}"#)
        #expect(try json(MachineState.failed(step: .deploy, reason: "no script")) ==
                #"{"name":"failed","reason":"no script","step":"deploy"}"#)
        #expect(try json(MachineState.maintenance(reason: "quarantined")) == #"{"name":"maintenance","reason":"quarantined"}"#)
        #expect(try json(MachineAction.maintain(reason: "fans")) == #"{"name":"maintain","reason":"fans"}"#)
        #expect(try json(MachineAction.provide) == #"{"name":"provide"}"#)
        for state in everyState {
            let decoded = try JSONDecoder().decode(MachineState.self, from: encoder.encode(state))
            #expect(decoded == state)
        }
        for name in MachineAction.Name.allCases {
            let action = MachineAction.example(name)
            #expect(try JSONDecoder().decode(MachineAction.self, from: encoder.encode(action)) == action)
        }
        let machine = Machine(state: .failed(step: .wipe, reason: "r"), failedDeploys: 1, lastTransition: t0)
        #expect(try JSONDecoder().decode(Machine.self, from: encoder.encode(machine)) == machine)
        let event = MachineEvent.task(.failed(.deploy, reason: "r"))
        #expect(try JSONDecoder().decode(MachineEvent.self, from: encoder.encode(event)) == event)
        #expect(throws: DecodingError.self) {
            try JSONDecoder().decode(MachineState.self, from: Data(#"{"name":"failed"}"#.utf8))
        }
        #expect(throws: DecodingError.self) {
            try JSONDecoder().decode(MachineState.self, from: Data(#"{"name":"exploded"}"#.utf8))
        }
    }

    @Test("event subjects and descriptions")
    func subjects() {
        #expect(MachineState.deploying.eventSubject == "dv.maskin.evt.machine.deploying")
        #expect(MachineState.failed(step: .inspect, reason: "x").eventSubject == "dv.maskin.evt.machine.failed")
        #expect(MachineState.failed(step: .inspect, reason: "no BMC").description == "failed(inspect): no BMC")
        #expect(MachineLifecycle.format(.seconds(45)) == "45 s")
        #expect(MachineLifecycle.format(.seconds(7200)) == "2 h")
        #expect(MachineLifecycle.format(.seconds(5400)) == "1 h 30 min")
    }

    private func stateDoing(_ step: MachineStep) -> MachineState {
        switch step {
        case .verify: .verifying
        case .inspect: .inspecting
        case .deploy: .deploying
        case .release: .releasing
        case .wipe: .wiping
        }
    }
}
