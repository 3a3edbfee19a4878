import DataverketCore
import Foundation
#if canImport(Glibc)
import Glibc
#endif

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

    /// Parameters of `saga-demo`.
    public struct SagaDemoParameters: Codable, Sendable {
        /// How long each step's action takes, in milliseconds (0–60000).
        public var stepMilliseconds: Int
        /// The action of this step (1–3) fails for good, so the saga unwinds.
        public var failAtStep: Int?
        /// The first this-many attempts fail (retryably) at the last step, so the saga resumes there.
        public var failAttempts: Int

        public init(stepMilliseconds: Int = 0, failAtStep: Int? = nil, failAttempts: Int = 0) {
            self.stepMilliseconds = stepMilliseconds
            self.failAtStep = failAtStep
            self.failAttempts = failAttempts
        }

        public init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            self.stepMilliseconds = try container.decodeIfPresent(Int.self, forKey: .stepMilliseconds) ?? 0
            self.failAtStep = try container.decodeIfPresent(Int.self, forKey: .failAtStep)
            self.failAttempts = try container.decodeIfPresent(Int.self, forKey: .failAttempts) ?? 0
            guard (0...60_000).contains(stepMilliseconds), failAttempts >= 0 else {
                throw DecodingError.dataCorrupted(.init(codingPath: [], debugDescription: "stepMilliseconds must be 0–60000, failAttempts ≥ 0"))
            }
        }
    }

    /// The steps of `saga-demo`.
    public static let sagaDemoSteps = ["allocate", "register", "activate"]

    /// `saga-demo`: a three-step saga whose actions create effects in `ledger` (keyed by task and step, so
    /// repeats change nothing) and whose undos remove them — the engine's saga path, end to end.
    public static func sagaDemo(ledger: DemoLedger,
                                retry: RetryPolicy = RetryPolicy(maxAttempts: 4, initialDelay: .milliseconds(200), maxDelay: .seconds(5))) -> TaskKind {
        let steps = sagaDemoSteps.enumerated().map { offset, name in
            let number = offset + 1
            return SagaStep(name, action: { context in
                let parameters = try context.execution.parameters(as: SagaDemoParameters.self)
                try await Task.sleep(for: .milliseconds(parameters.stepMilliseconds))
                if parameters.failAtStep == number {
                    throw PermanentFailure("step \(number) was told to fail")
                }
                if number == sagaDemoSteps.count, context.execution.attempt <= parameters.failAttempts {
                    throw DataverketError(.unavailable, "step \(number) was told to fail attempt \(context.execution.attempt)")
                }
                _ = try await ledger.apply(context.idempotencyKey)
                return context.idempotencyKey
            }, undo: { context in
                _ = try await ledger.revert(context.idempotencyKey)
            })
        }
        return Saga(name: "saga-demo", steps: steps, retry: retry).taskKind
    }
}

/// Where `saga-demo` leaves its side effects: one file per effect in a directory (created exclusively),
/// with an append-only journal of every change (`+ key` / `- key`) — or, without a directory, memory.
/// A key applied twice without a revert in between is a duplicate side effect; the journal shows it.
public actor DemoLedger {
    public let directory: String?
    private var effects: Set<String> = []
    private var entries: [String] = []

    public init(directory: String? = nil) {
        self.directory = directory
    }

    /// Creates the effect `key`; returns false if it already existed.
    public func apply(_ key: String) throws -> Bool {
        guard let directory else {
            guard effects.insert(key).inserted else { return false }
            entries.append("+ \(key)")
            return true
        }
        let descriptor = open(path(directory, key), O_CREAT | O_EXCL | O_WRONLY, 0o644)
        if descriptor < 0 {
            if errno == EEXIST { return false }
            throw DataverketError(.unavailable, "ledger: cannot create \(key): errno \(errno)")
        }
        close(descriptor)
        try journal(directory, "+ \(key)")
        return true
    }

    /// Removes the effect `key`; returns false if there was none.
    public func revert(_ key: String) throws -> Bool {
        guard let directory else {
            guard effects.remove(key) != nil else { return false }
            entries.append("- \(key)")
            return true
        }
        if unlink(path(directory, key)) != 0 {
            if errno == ENOENT { return false }
            throw DataverketError(.unavailable, "ledger: cannot remove \(key): errno \(errno)")
        }
        try journal(directory, "- \(key)")
        return true
    }

    /// The effects present now.
    public func present() throws -> Set<String> {
        guard let directory else { return effects }
        let names = try FileManager.default.contentsOfDirectory(atPath: directory).filter { $0 != "journal" }
        return Set(names.map { $0.replacingOccurrences(of: "@", with: "/") })
    }

    /// Every change, in order.
    public func journal() throws -> [String] {
        guard let directory else { return entries }
        let text = (try? String(contentsOfFile: directory + "/journal", encoding: .utf8)) ?? ""
        return text.split(separator: "\n").map(String.init)
    }

    private func path(_ directory: String, _ key: String) -> String {
        directory + "/" + key.replacingOccurrences(of: "/", with: "@")
    }

    private func journal(_ directory: String, _ line: String) throws {
        let descriptor = open(directory + "/journal", O_CREAT | O_APPEND | O_WRONLY, 0o644)
        guard descriptor >= 0 else { throw DataverketError(.unavailable, "ledger: cannot open the journal: errno \(errno)") }
        defer { close(descriptor) }
        let bytes = Array((line + "\n").utf8)
        guard write(descriptor, bytes, bytes.count) == bytes.count else {
            throw DataverketError(.unavailable, "ledger: cannot write the journal: errno \(errno)")
        }
    }
}
