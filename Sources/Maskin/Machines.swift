import Crypto
import DataverketCore
import DataverketStore
import Foundation
import Logging
import DataverketTasks
import SQLKit

/// Maskin's system of record: machines, their lifecycle transitions (each audited and announced on
/// `dv.maskin.evt.machine.<state>` through the outbox, in the same transaction), the tasks that do their steps,
/// boot tokens, boot events and discovered machines.
public struct Machines: Sendable {
    public let database: Database
    public let tasks: Tasks
    public let lifecycle: MachineLifecycle
    let logger: Logger

    /// The task kinds that do each step (commands `dv.maskin.cmd.<kind>`).
    public enum Kind {
        public static let verify = "machine-verify"
        public static let inspect = "machine-inspect"
        public static let deploy = "machine-deploy"
        public static let release = "machine-release"
        public static let wipe = "machine-wipe"
        public static let power = "machine-power"

        static func kind(for step: MachineStep) -> String {
            switch step {
            case .verify: verify
            case .inspect: inspect
            case .deploy: deploy
            case .release: release
            case .wipe: wipe
            }
        }
    }

    public init(database: Database, tasks: Tasks, lifecycle: MachineLifecycle = MachineLifecycle(), logger: Logger) {
        self.database = database
        self.tasks = tasks
        self.lifecycle = lifecycle
        self.logger = logger
    }
}

/// The parameters of every machine task.
struct StepParameters: Codable, Sendable {
    var machineID: String
    var networks: [String]?
    var power: PowerAction?

    init(machineID: String, networks: [String]? = nil, power: PowerAction? = nil) {
        self.machineID = machineID
        self.networks = networks
        self.power = power
    }
}

/// The data of a `dv.maskin.evt.machine.<state>` event.
public struct MachineChangeEvent: Codable, Sendable, Hashable {
    public var machine: String
    public var name: String
    public var from: MachineState?
    public var to: MachineState
    public var event: String?
    public var taskID: String?
}

