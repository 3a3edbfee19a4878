import DataverketCore
import Foundation
import Synchronization

/// The outcome of a finished subprocess.
public struct SubprocessResult: Sendable {
    public var status: Int32
    public var stdout: String
    public var stderr: String
}

/// Runs a program with arguments and an explicit environment (nothing inherited), with a time limit: on timeout or
/// cancellation the process gets SIGTERM, then SIGKILL a second later. Output beyond `maxOutputBytes` per stream is
/// dropped. Returns nil when the time limit passed.
public func runSubprocess(_ executable: String, _ arguments: [String], environment: [String: String], timeout: Duration,
                   maxOutputBytes: Int = 256 << 10) async throws -> SubprocessResult? {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: executable)
    process.arguments = arguments
    process.environment = environment
    let stdout = Pipe()
    let stderr = Pipe()
    process.standardOutput = stdout
    process.standardError = stderr
    process.standardInput = FileHandle.nullDevice
    let out = OutputCollector(limit: maxOutputBytes)
    let err = OutputCollector(limit: maxOutputBytes)
    let exit = ExitWaiter()
    stdout.fileHandleForReading.readabilityHandler = { handle in out.append(handle.availableData) }
    stderr.fileHandleForReading.readabilityHandler = { handle in err.append(handle.availableData) }
    process.terminationHandler = { process in exit.finish(process.terminationStatus) }
    try process.run()
    let pid = process.processIdentifier

    func stop() {
        guard exit.status == nil else { return }
        kill(pid, SIGTERM)
        Thread.sleep(forTimeInterval: 0.05)
        if exit.status == nil {
            let deadline = Date().addingTimeInterval(1)
            while exit.status == nil, Date() < deadline { Thread.sleep(forTimeInterval: 0.05) }
            if exit.status == nil { kill(pid, SIGKILL) }
        }
    }

    let status: Int32? = try await withThrowingTaskGroup(of: Int32?.self) { group in
        group.addTask { await exit.wait() }
        group.addTask {
            try await Task.sleep(for: timeout)
            return nil
        }
        let first: Int32??
        do {
            first = try await group.next()
        } catch {
            stop()
            group.cancelAll()
            throw error
        }
        group.cancelAll()
        if case .some(.some(let status)) = first { return status }
        stop()
        return nil
    }
    // Drain what the pipes still hold after exit.
    stdout.fileHandleForReading.readabilityHandler = nil
    stderr.fileHandleForReading.readabilityHandler = nil
    out.append((try? stdout.fileHandleForReading.readToEnd()) ?? Data())
    err.append((try? stderr.fileHandleForReading.readToEnd()) ?? Data())
    guard let status else { return nil }
    return SubprocessResult(status: status, stdout: out.text, stderr: err.text)
}

/// Bytes from a pipe, up to a limit.
private final class OutputCollector: Sendable {
    private let data = Mutex(Data())
    private let limit: Int
    init(limit: Int) { self.limit = limit }

    func append(_ chunk: Data) {
        data.withLock { data in
            let room = limit - data.count
            if room > 0 { data.append(chunk.prefix(room)) }
        }
    }

    var text: String { data.withLock { String(decoding: $0, as: UTF8.self) } }
}

/// The exit status of a process, awaited once.
private final class ExitWaiter: Sendable {
    private struct State {
        var status: Int32?
        var waiter: CheckedContinuation<Int32?, Never>?
    }
    private let state = Mutex(State())

    var status: Int32? { state.withLock { $0.status } }

    func finish(_ status: Int32) {
        let waiter = state.withLock { state -> CheckedContinuation<Int32?, Never>? in
            state.status = status
            defer { state.waiter = nil }
            return state.waiter
        }
        waiter?.resume(returning: status)
    }

    func wait() async -> Int32? {
        await withCheckedContinuation { continuation in
            let done = state.withLock { state -> Int32? in
                if let status = state.status { return status }
                state.waiter = continuation
                return nil
            }
            if let done { continuation.resume(returning: done) }
        }
    }
}
