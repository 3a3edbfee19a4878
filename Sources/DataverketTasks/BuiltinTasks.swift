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

    /// `saga-demo`: a three-step saga whose actions create effects in `ledger` and whose undos remove them — the
    /// engine's saga path, end to end. Each action's call to the ledger takes `stepMilliseconds` (a peer call that
    /// takes time), so a worker killed mid-step is killed inside it and the journal shows the call cut off.
    public static func sagaDemo(ledger: DemoLedger,
                                retry: RetryPolicy = RetryPolicy(maxAttempts: 4, initialDelay: .milliseconds(200), maxDelay: .seconds(5))) -> TaskKind {
        let steps = sagaDemoSteps.enumerated().map { offset, name in
            let number = offset + 1
            return SagaStep(name, action: { context in
                let parameters = try context.execution.parameters(as: SagaDemoParameters.self)
                if parameters.failAtStep == number {
                    try await Task.sleep(for: .milliseconds(parameters.stepMilliseconds))
                    throw PermanentFailure("step \(number) was told to fail")
                }
                if number == sagaDemoSteps.count, context.execution.attempt <= parameters.failAttempts {
                    try await Task.sleep(for: .milliseconds(parameters.stepMilliseconds))
                    throw DataverketError(.unavailable, "step \(number) was told to fail attempt \(context.execution.attempt)")
                }
                try await ledger.apply(context.idempotencyKey, attempt: context.execution.attempt,
                                       taking: .milliseconds(parameters.stepMilliseconds))
                return context.idempotencyKey
            }, undo: { context in
                try await ledger.revert(context.idempotencyKey, attempt: context.execution.attempt)
            })
        }
        return Saga(name: "saga-demo", steps: steps, retry: retry).taskKind
    }
}

/// Where `saga-demo` leaves its side effects, behaving as a peer must (ADR 006): idempotent by key, so an
/// apply of an effect that is there, or an undo of one that is not, changes nothing.
///
/// Every call is journalled — two lines, `begin` when it starts and `end` with its outcome when it returns —
/// so the journal shows every action and undo the engine ran, repeats included, and which of them a killed
/// worker never finished:
///
///     apply begin <task id>/<step> attempt=<n> pid=<pid> at=<unix ms>
///     apply end <task id>/<step> attempt=<n> pid=<pid> at=<unix ms> created|existed|aborted
///     undo begin <task id>/<step> attempt=<n> pid=<pid> at=<unix ms>
///     undo end <task id>/<step> attempt=<n> pid=<pid> at=<unix ms> removed|absent|aborted
///
/// The effects are the journal: an effect is present when its last `created`/`removed` line says `created`,
/// so an apply's effect and its `end` line are one event (no "did it but did not journal it" window).
/// `aborted` ends a call that threw (cancelled) before its effect. With a directory (`DV_DEMO_LEDGER_DIR`) the
/// journal is the file `journal` there, appended with O_APPEND, one `write()` per line, and each `end` is
/// decided and written under an exclusive `flock`, so several processes share one ledger safely; without one,
/// it is kept in memory.
public actor DemoLedger {
    /// One journal line, parsed.
    public struct Entry: Sendable, Hashable {
        public enum Operation: String, Sendable { case apply, undo }
        public var operation: Operation
        /// `begin` or `end`.
        public var isEnd: Bool
        /// The effect: `<task id>/<step>` (the saga step's idempotency key).
        public var key: String
        public var attempt: Int
        public var pid: Int32
        /// Unix time in milliseconds.
        public var at: Int64
        /// On `end`: created, existed, removed, absent or aborted.
        public var outcome: String?

        public var taskID: String { key.split(separator: "/", maxSplits: 1).first.map(String.init) ?? key }
        public var step: String { key.split(separator: "/", maxSplits: 1).dropFirst().first.map(String.init) ?? "" }

        public var line: String {
            "\(operation.rawValue) \(isEnd ? "end" : "begin") \(key) attempt=\(attempt) pid=\(pid) at=\(at)"
                + (outcome.map { " " + $0 } ?? "")
        }

        public init(operation: Operation, isEnd: Bool, key: String, attempt: Int, pid: Int32, at: Int64, outcome: String? = nil) {
            self.operation = operation
            self.isEnd = isEnd
            self.key = key
            self.attempt = attempt
            self.pid = pid
            self.at = at
            self.outcome = outcome
        }

        /// Parses a journal line; nil if it is not one.
        public init?(line: String) {
            let fields = line.split(separator: " ")
            guard fields.count >= 6, let operation = Operation(rawValue: String(fields[0])),
                  fields[1] == "begin" || fields[1] == "end",
                  let attempt = Self.value(fields[3], "attempt=").flatMap({ Int($0) }),
                  let pid = Self.value(fields[4], "pid=").flatMap({ Int32($0) }),
                  let at = Self.value(fields[5], "at=").flatMap({ Int64($0) })
            else { return nil }
            let isEnd = fields[1] == "end"
            guard fields.count == (isEnd ? 7 : 6) else { return nil }
            self.init(operation: operation, isEnd: isEnd, key: String(fields[2]), attempt: attempt, pid: pid, at: at,
                      outcome: isEnd ? String(fields[6]) : nil)
        }

        private static func value(_ field: Substring, _ prefix: String) -> Substring? {
            field.hasPrefix(prefix) ? field.dropFirst(prefix.count) : nil
        }
    }

    public let directory: String?
    private var lines: [String] = []
    private var effects: Set<String> = []
    /// Directory mode: how much of the journal file `effects` reflects.
    private var offset: Int64 = 0

    public init(directory: String? = nil) {
        self.directory = directory
    }

    /// Creates the effect `key`, taking `duration` to do it; returns false if it was already there. `attempt` is
    /// journalled with the call.
    @discardableResult
    public func apply(_ key: String, attempt: Int = 1, taking duration: Duration = .zero) async throws -> Bool {
        try append(Entry(operation: .apply, isEnd: false, key: key, attempt: attempt, pid: getpid(), at: Self.now()))
        if duration > .zero {
            do {
                try await Task.sleep(for: duration)
            } catch {
                try append(Entry(operation: .apply, isEnd: true, key: key, attempt: attempt, pid: getpid(), at: Self.now(), outcome: "aborted"))
                throw error
            }
        }
        return try settle(.apply, key, attempt: attempt)
    }

    /// Removes the effect `key`; returns false if it was not there.
    @discardableResult
    public func revert(_ key: String, attempt: Int = 1) throws -> Bool {
        try append(Entry(operation: .undo, isEnd: false, key: key, attempt: attempt, pid: getpid(), at: Self.now()))
        return try settle(.undo, key, attempt: attempt)
    }

    /// The effects present now.
    public func present() throws -> Set<String> {
        try withJournal { _ in effects }
    }

    /// Every journal line, in order.
    public func journal() throws -> [String] {
        guard let directory else { return lines }
        let text = (try? String(contentsOfFile: directory + "/journal", encoding: .utf8)) ?? ""
        return text.split(separator: "\n").map(String.init)
    }

    /// Every journal line, parsed, in order (lines that do not parse are left out).
    public func entries() throws -> [Entry] {
        try journal().compactMap { Entry(line: $0) }
    }

    // MARK: the journal

    private static func now() -> Int64 { Int64((Date().timeIntervalSince1970 * 1000).rounded()) }

    /// Decides the outcome of a call against the effects present (under the journal's lock) and journals its `end`.
    private func settle(_ operation: Entry.Operation, _ key: String, attempt: Int) throws -> Bool {
        try withJournal { descriptor in
            let changed = operation == .apply ? !effects.contains(key) : effects.contains(key)
            let outcome = switch operation {
            case .apply: changed ? "created" : "existed"
            case .undo: changed ? "removed" : "absent"
            }
            let entry = Entry(operation: operation, isEnd: true, key: key, attempt: attempt, pid: getpid(), at: Self.now(), outcome: outcome)
            try put(entry, to: descriptor)
            return changed
        }
    }

    private func append(_ entry: Entry) throws {
        try withJournal { try put(entry, to: $0) }
    }

    /// Runs `body` with the journal open and locked (directory mode) and `effects` caught up with it; `body`
    /// gets the descriptor to write to (-1 in memory).
    private func withJournal<T>(_ body: (Int32) throws -> T) throws -> T {
        guard let directory else { return try body(-1) }
        let descriptor = open(directory + "/journal", O_CREAT | O_APPEND | O_RDWR, 0o644)
        guard descriptor >= 0 else { throw DataverketError(.unavailable, "ledger: cannot open the journal: errno \(errno)") }
        defer { close(descriptor) }
        guard flock(descriptor, LOCK_EX) == 0 else { throw DataverketError(.unavailable, "ledger: cannot lock the journal: errno \(errno)") }
        defer { _ = flock(descriptor, LOCK_UN) }
        try catchUp(descriptor)
        return try body(descriptor)
    }

    /// Reads the journal past `offset` (complete lines only) into `effects`.
    private func catchUp(_ descriptor: Int32) throws {
        var buffer = [UInt8](repeating: 0, count: 64 << 10)
        var pending: [UInt8] = []
        var position = offset
        while true {
            let count = buffer.withUnsafeMutableBytes { pread(descriptor, $0.baseAddress, $0.count, off_t(position)) }
            guard count >= 0 else { throw DataverketError(.unavailable, "ledger: cannot read the journal: errno \(errno)") }
            if count == 0 { break }
            position += Int64(count)
            pending.append(contentsOf: buffer[0..<count])
            guard let lastNewline = pending.lastIndex(of: UInt8(ascii: "\n")) else { continue }
            for line in pending[...lastNewline].split(separator: UInt8(ascii: "\n")) {
                if let entry = Entry(line: String(decoding: line, as: UTF8.self)) { record(entry) }
            }
            offset += Int64(lastNewline + 1)
            pending.removeSubrange(...lastNewline)
        }
    }

    private func record(_ entry: Entry) {
        switch entry.outcome {
        case "created": effects.insert(entry.key)
        case "removed": effects.remove(entry.key)
        default: break
        }
    }

    private func put(_ entry: Entry, to descriptor: Int32) throws {
        guard descriptor >= 0 else {
            lines.append(entry.line)
            record(entry)
            return
        }
        let bytes = Array((entry.line + "\n").utf8)
        let written = bytes.withUnsafeBytes { write(descriptor, $0.baseAddress, $0.count) }
        guard written == bytes.count else {
            throw DataverketError(.unavailable, "ledger: cannot write the journal: errno \(errno)")
        }
        // Our own line is part of the journal now: count it in (the lock is held, so nothing came in between).
        record(entry)
        offset += Int64(bytes.count)
    }
}
