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
///
/// The streams go to temporary files, not pipes: Foundation's pipe `readabilityHandler`s are dispatch sources, and a
/// pipe closed while its source is still registered crashed the test runner inside libdispatch once the descriptor
/// was reused by the next process. Files also never block on a daemon that inherited the stream and outlives us.
public func runSubprocess(_ executable: String, _ arguments: [String], environment: [String: String], timeout: Duration,
                   maxOutputBytes: Int = 256 << 10) async throws -> SubprocessResult? {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: executable)
    process.arguments = arguments
    process.environment = environment
    let stdout = try OutputFile()
    let stderr = try OutputFile()
    defer {
        stdout.remove()
        stderr.remove()
    }
    process.standardOutput = stdout.handle
    process.standardError = stderr.handle
    process.standardInput = FileHandle.nullDevice
    let exit = ExitWaiter()
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
    guard let status else { return nil }
    return SubprocessResult(status: status, stdout: stdout.text(limit: maxOutputBytes), stderr: stderr.text(limit: maxOutputBytes))
}

/// A temporary file (mode 0600) a child writes one stream to.
private struct OutputFile {
    let path: String
    let handle: FileHandle

    init() throws {
        path = FileManager.default.temporaryDirectory.appendingPathComponent("dv-subprocess-\(ULID.make())").path
        guard FileManager.default.createFile(atPath: path, contents: nil, attributes: [.posixPermissions: 0o600]),
              let handle = FileHandle(forWritingAtPath: path) else {
            throw DataverketError(.internal, "cannot create a temporary output file in \(FileManager.default.temporaryDirectory.path)")
        }
        self.handle = handle
    }

    /// The first `limit` bytes the child wrote.
    func text(limit: Int) -> String {
        guard let reader = FileHandle(forReadingAtPath: path) else { return "" }
        defer { try? reader.close() }
        return String(decoding: (try? reader.read(upToCount: limit)) ?? Data(), as: UTF8.self)
    }

    func remove() {
        try? handle.close()
        try? FileManager.default.removeItem(atPath: path)
    }
}

/// The child's exit status, once Foundation reports it. Waiting is cancellable: Foundation reports an exit only when
/// every holder of the socket it hands the child has closed it, so a child that leaves a daemon behind (which
/// inherited the socket) is never reported — and a timed-out wait must still return.
private final class ExitWaiter: Sendable {
    private struct State {
        var status: Int32?
        var cancelled = false
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

    /// The exit status; nil if the waiting task was cancelled first.
    func wait() async -> Int32? {
        await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                let done = state.withLock { state -> Int32?? in
                    if let status = state.status { return .some(status) }
                    if state.cancelled { return .some(nil) }
                    state.waiter = continuation
                    return nil
                }
                if let done { continuation.resume(returning: done) }
            }
        } onCancel: {
            let waiter = state.withLock { state -> CheckedContinuation<Int32?, Never>? in
                state.cancelled = true
                defer { state.waiter = nil }
                return state.waiter
            }
            waiter?.resume(returning: nil)
        }
    }
}
