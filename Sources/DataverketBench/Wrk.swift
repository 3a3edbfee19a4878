import ArgumentParser
import DataverketTestSupport
import Foundation

/// A program the benchmark runs beside itself (`dataverket serve`, the floor server): started with its output in a
/// log file, stopped with SIGTERM (SIGKILL after 10 s). `Process` is thread-safe for what is used here.
final class ChildProcess: @unchecked Sendable {
    let name: String
    let log: String
    private let process: Process

    init(_ name: String, executable: String, arguments: [String], environment: [String: String], log: String) throws {
        self.name = name
        self.log = log
        _ = FileManager.default.createFile(atPath: log, contents: nil)
        let output = try FileHandle(forWritingTo: URL(fileURLWithPath: log))
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        process.environment = ProcessInfo.processInfo.environment.merging(environment) { _, new in new }
        process.standardOutput = output
        process.standardError = output
        try process.run()
        self.process = process
    }

    var pid: Int32 { process.processIdentifier }

    /// Resident memory now (VmRSS of /proc/PID/status), in bytes.
    func residentBytes() -> Int? {
        guard let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8),
              let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmRSS:") }) else { return nil }
        let fields = line.split(separator: " ", omittingEmptySubsequences: true)
        guard fields.count >= 2, let kilobytes = Int(fields[1]) else { return nil }
        return kilobytes * 1024
    }

    /// Waits (at most `timeout`) until `port` on loopback accepts connections; fails with the log's tail if the
    /// program exits or the time runs out.
    func waitListening(_ port: Int, timeout: Duration = .seconds(60)) async throws {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if portAcceptsConnections(port) { return }
            guard process.isRunning else { break }
            try await Task.sleep(for: .milliseconds(20))
        }
        let tail = (try? String(contentsOfFile: log, encoding: .utf8))?.split(separator: "\n").suffix(20).joined(separator: "\n") ?? ""
        throw ValidationError("\(name) did not listen on 127.0.0.1:\(port) (log \(log)):\n\(tail)")
    }

    func stop() async {
        guard process.isRunning else { return }
        process.terminate()
        let deadline = ContinuousClock.now + .seconds(10)
        while process.isRunning, ContinuousClock.now < deadline { try? await Task.sleep(for: .milliseconds(20)) }
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        process.waitUntilExit()
    }
}

/// One `wrk` run (an HTTP load generator in its own process: it does not share the server's runtime): requests per
/// second and latency percentiles as wrk reports them.
struct WrkResult: Sendable {
    var name: String
    var perSecond: Double
    var p50: Duration
    var p99: Duration
    var requests: Int
    /// Responses that were not 2xx/3xx, and socket errors: a run with any is not a measurement.
    var failures: Int
}

struct Wrk: Sendable {
    var executable: String
    var threads: Int
    var duration: Int

    /// Runs wrk against `url` with `connections`; `script` is a Lua script's text (for requests that differ).
    func run(_ name: String, url: String, connections: Int, headers: [String] = [], script: String? = nil,
             seconds: Int? = nil) async throws -> WrkResult {
        var arguments = ["-t", String(min(threads, connections)), "-c", String(connections), "-d", "\(seconds ?? duration)s", "--latency"]
        for header in headers { arguments += ["-H", header] }
        var scriptFile: String?
        if let script {
            let path = NSTemporaryDirectory() + "dv-bench-\(UUID().uuidString).lua"
            try script.write(toFile: path, atomically: true, encoding: .utf8)
            arguments += ["-s", path]
            scriptFile = path
        }
        defer { if let scriptFile { try? FileManager.default.removeItem(atPath: scriptFile) } }
        arguments.append(url)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = [executable] + arguments
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        try process.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        let output = String(decoding: data, as: UTF8.self)
        guard process.terminationStatus == 0 else {
            throw ValidationError("wrk failed (\(process.terminationStatus)) on \(url):\n\(output)")
        }
        return try Self.parse(output, name: name)
    }

    /// Reads wrk's `--latency` report: `Requests/sec:`, the 50% and 99% lines, `Non-2xx or 3xx responses:` and
    /// `Socket errors:`.
    static func parse(_ output: String, name: String) throws -> WrkResult {
        var perSecond: Double?
        var p50: Duration?
        var p99: Duration?
        var requests = 0
        var failures = 0
        for line in output.split(separator: "\n").map({ $0.trimmingCharacters(in: .whitespaces) }) {
            let words = line.split(separator: " ", omittingEmptySubsequences: true).map(String.init)
            if line.hasPrefix("Requests/sec:"), words.count >= 2 { perSecond = Double(words[1]) }
            if line.hasPrefix("50%"), words.count >= 2 { p50 = duration(words[1]) }
            if line.hasPrefix("99%"), words.count >= 2 { p99 = duration(words[1]) }
            if words.count >= 3, words[1] == "requests", words[2] == "in" { requests = Int(words[0]) ?? 0 }
            if line.hasPrefix("Non-2xx or 3xx responses:"), let count = words.last.flatMap(Int.init) { failures += count }
            if line.hasPrefix("Socket errors:") {
                // Socket errors: connect 0, read 0, write 0, timeout 0
                failures += words.compactMap { Int($0.trimmingCharacters(in: CharacterSet(charactersIn: ","))) }.reduce(0, +)
            }
        }
        guard let perSecond, let p50, let p99 else { throw ValidationError("could not read wrk's report:\n\(output)") }
        return WrkResult(name: name, perSecond: perSecond, p50: p50, p99: p99, requests: requests, failures: failures)
    }

    /// `812.00us`, `1.23ms`, `2.00s`, `1.00m` as a duration.
    static func duration(_ text: String) -> Duration? {
        let units: [(String, Double)] = [("us", 1e-6), ("ms", 1e-3), ("s", 1), ("m", 60)]
        for (suffix, scale) in units where text.hasSuffix(suffix) {
            guard let value = Double(text.dropLast(suffix.count)) else { return nil }
            return .nanoseconds(Int64(value * scale * 1e9))
        }
        return nil
    }
}
