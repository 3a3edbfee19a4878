import DataverketCore
import Foundation

/// Task kinds for exercising and benchmarking the engine without hardware (operator-only in the API).
public enum BuiltinTasks {
    /// Parameters of `sleep`.
    public struct SleepParameters: Codable, Sendable {
        /// How long each attempt sleeps, in milliseconds (0–600000).
        public var milliseconds: Int
        /// The first this-many attempts fail (to exercise retries and dead-lettering).
        public var failAttempts: Int
        public init(milliseconds: Int = 0, failAttempts: Int = 0) {
            self.milliseconds = milliseconds
            self.failAttempts = failAttempts
        }

        public init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            self.milliseconds = try container.decodeIfPresent(Int.self, forKey: .milliseconds) ?? 0
            self.failAttempts = try container.decodeIfPresent(Int.self, forKey: .failAttempts) ?? 0
        }
    }

    /// `noop`: succeeds at once.
    public static let noop = TaskKind(name: "noop") { _ in }

    /// `sleep`: sleeps in steps, reporting progress; fails its first `failAttempts` attempts.
    public static func sleep(retry: RetryPolicy = RetryPolicy(maxAttempts: 3, initialDelay: .milliseconds(200), maxDelay: .seconds(5)),
                             dependencies: [String: DependencyClass] = [:]) -> TaskKind {
        TaskKind(name: "sleep", dependencies: dependencies, retry: retry) { execution in
            let parameters = try execution.parameters(as: SleepParameters.self)
            let steps = 4
            for step in 0..<steps {
                try await execution.progress(step * 100 / steps)
                try await Task.sleep(for: .milliseconds(parameters.milliseconds / steps))
            }
            if execution.attempt <= parameters.failAttempts {
                throw DataverketError(.unavailable, "sleep was told to fail attempt \(execution.attempt)")
            }
        }
    }
}
