import AsyncHTTPClient
import Foundation
import NIOCore
import Synchronization
import Testing
import DataverketTestSupport

/// The real `dataverket` binary: the contract's log line, JSON logs with correlation IDs, graceful shutdown.
@Suite("dataverket serve (process)")
struct ServerProcessTests {
    /// The built executables sit next to the test bundle in .build/<config>/.
    static var binDirectory: URL {
        var url = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        while !FileManager.default.fileExists(atPath: url.appendingPathComponent("dataverket").path), url.path != "/" {
            url.deleteLastPathComponent()
        }
        return url
    }

    @Test("serve logs `listening on`, answers, logs JSON with correlation IDs, and stops cleanly on SIGTERM")
    func serveAndStop() async throws {
        let dataDirectory = FileManager.default.temporaryDirectory.appendingPathComponent("dvproc-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: dataDirectory) }
        let process = Process()
        process.executableURL = Self.binDirectory.appendingPathComponent("dataverket")
        process.arguments = ["serve", "--listen", "127.0.0.1:0", "--data-dir", dataDirectory.path]
        var environment = ProcessInfo.processInfo.environment
        environment["DV_DATABASE_URL"] = nil
        process.environment = environment
        let stderr = Pipe()
        process.standardError = stderr
        try process.run()
        defer { if process.isRunning { process.terminate() } }

        // Read log lines until the listening line (bounded by a deadline).
        let capture = LineCapture(handle: stderr.fileHandleForReading)
        #expect(await capture.waitFor { $0.contains { $0.contains("listening on http://127.0.0.1:") } })
        let listening = try #require(capture.lines.withLock { $0.first { $0.contains("listening on http://127.0.0.1:") } })
        let range = try #require(listening.range(of: "listening on http://127.0.0.1:"))
        let bound = try #require(Int(listening[range.upperBound...].prefix { $0.isNumber }))

        // A fresh store: the one-time bootstrap credential is in a 0600 file and said once on stderr.
        let credentialPath = dataDirectory.appendingPathComponent("bootstrap-token").path
        let attributes = try FileManager.default.attributesOfItem(atPath: credentialPath)
        #expect((attributes[.posixPermissions] as? NSNumber)?.intValue == 0o600)
        let credential = try String(contentsOfFile: credentialPath, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(await capture.waitFor { $0.contains { $0.contains("dvid login --bootstrap-token-file \(credentialPath)") } })
        func exchange() async throws -> (Int, [String: Any]) {
            var login = HTTPClientRequest(url: "http://127.0.0.1:\(bound)/v1/identity/token")
            login.method = .POST
            login.headers.add(name: "Content-Type", value: "application/json")
            login.body = .bytes(ByteBuffer(string: #"{"grantType":"bootstrap","token":"\#(credential)"}"#))
            let answer = try await HTTPClient.shared.execute(login, timeout: .seconds(10))
            let body = try await answer.body.collect(upTo: 1 << 16)
            return (Int(answer.status.code), try JSONSerialization.jsonObject(with: Data(body.readableBytesView)) as? [String: Any] ?? [:])
        }
        let (status, session) = try await exchange()
        #expect(status == 200)
        #expect(session["subject"] as? String == "user:admin")
        let accessToken = try #require(session["accessToken"] as? String)
        #expect(try await exchange().0 == 401, "a bootstrap credential is good for one login only")

        var request = HTTPClientRequest(url: "http://127.0.0.1:\(bound)/v1/tenants")
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/json")
        request.headers.add(name: "Authorization", value: "Bearer \(accessToken)")
        request.headers.add(name: "X-Correlation-ID", value: "proc-test-1")
        request.body = .bytes(ByteBuffer(string: #"{"name":"acme"}"#))
        let response = try await HTTPClient.shared.execute(request, timeout: .seconds(10))
        #expect(response.status.code == 201)
        #expect(FileManager.default.fileExists(atPath: dataDirectory.appendingPathComponent("dataverket.sqlite").path))

        process.interrupt()  // SIGINT: graceful shutdown, same path as SIGTERM
        for _ in 0..<300 where process.isRunning { try await Task.sleep(for: .milliseconds(50)) }
        #expect(!process.isRunning, "the server did not stop within 15 s of SIGINT")
        #expect(await capture.waitFor(attempts: 40) { $0.contains { $0.contains("\"msg\":\"stopped\"") } })
        #expect(process.terminationStatus == 0)
        let lines = capture.lines.withLock { $0 }
        let requestLine = try #require(lines.first { $0.contains("\"msg\":\"request\"") && $0.contains("proc-test-1") })
        let object = try #require(try JSONSerialization.jsonObject(with: Data(requestLine.utf8)) as? [String: String])
        #expect(object["correlation_id"] == "proc-test-1")
        #expect(object["status"] == "201")
    }
}

extension ServerProcessTests {
    /// Runs the `dataverket` binary to completion (bounded) and returns its exit code and stdout.
    static func runCapturingOutput(_ arguments: [String]) async throws -> (code: Int32, out: String) {
        let process = Process()
        process.executableURL = binDirectory.appendingPathComponent("dataverket")
        process.arguments = arguments
        let stdout = Pipe()
        process.standardOutput = stdout
        process.standardError = FileHandle.nullDevice
        try process.run()
        let data = stdout.fileHandleForReading.readDataToEndOfFile()
        for _ in 0..<300 where process.isRunning { try await Task.sleep(for: .milliseconds(50)) }
        if process.isRunning { process.terminate() }
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: data, as: UTF8.self))
    }

    /// Runs the `dataverket` binary to completion (bounded) and returns its exit code and stderr.
    static func run(_ arguments: [String], environment overrides: [String: String?] = [:]) async throws -> (code: Int32, err: String) {
        let process = Process()
        process.executableURL = binDirectory.appendingPathComponent("dataverket")
        process.arguments = arguments
        var environment = ProcessInfo.processInfo.environment
        for (name, value) in overrides { environment[name] = value }
        process.environment = environment
        let stderr = Pipe()
        process.standardError = stderr
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        for _ in 0..<300 where process.isRunning { try await Task.sleep(for: .milliseconds(50)) }
        if process.isRunning { process.terminate() }
        process.waitUntilExit()
        let err = String(decoding: stderr.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        return (process.terminationStatus, err)
    }

    @Test("keys rotate activates a new key each time, with the data directory's master key; a malformed master key is refused")
    func keysRotate() async throws {
        let dataDirectory = FileManager.default.temporaryDirectory.appendingPathComponent("dvkeys-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: dataDirectory) }
        let noDatabase: [String: String?] = ["DV_DATABASE_URL": nil, "DV_MASTER_KEY": nil]
        let first = try await Self.run(["keys", "rotate", "--data-dir", dataDirectory], environment: noDatabase)
        let second = try await Self.run(["keys", "rotate", "--data-dir", dataDirectory], environment: noDatabase)
        #expect(first.code == 0 && second.code == 0, "\(first.err) \(second.err)")
        let mode = try FileManager.default.attributesOfItem(atPath: dataDirectory + "/master.key")[.posixPermissions] as? NSNumber
        #expect(mode?.intValue == 0o600)
        let bad = try await Self.run(["keys", "rotate", "--data-dir", dataDirectory], environment: ["DV_DATABASE_URL": nil, "DV_MASTER_KEY": "short"])
        #expect(bad.code != 0 && bad.err.contains("master key must be 32 bytes"))
        #expect(try await Self.run(["keys", "rotate", "--log-level", "loud", "--data-dir", dataDirectory]).code == 64)
    }

    @Test("nats-config prints the committed configuration; bad service lists are usage errors")
    func natsConfig() async throws {
        let printed = try await Self.runCapturingOutput(["nats-config"])
        #expect(printed.code == 0)
        #expect(printed.out == (try String(contentsOfFile: repositoryPath("deploy/nats/dataverket.conf"), encoding: .utf8)))
        #expect(try await Self.run(["nats-config", "--services", "maskin,nett"]).code == 64, "sentral is required")
        #expect(try await Self.run(["nats-config", "--services", "sentral,Bad Name"]).code == 64)
        #expect(try await Self.run(["nats-config", "--services", ""]).code == 64)
    }

    @Test("worker and serve --no-worker refuse configurations that could never run a task")
    func workerRefusesBadConfiguration() async throws {
        let noBus = try await Self.run(["worker"], environment: ["DV_NATS_URL": nil, "DV_DATABASE_URL": nil])
        #expect(noBus.code != 0)
        #expect(noBus.err.contains("set DV_NATS_URL"))
        let orphan = try await Self.run(["serve", "--no-worker", "--listen", "127.0.0.1:0"], environment: ["DV_NATS_URL": nil])
        #expect(orphan.code == 64)
        #expect(orphan.err.contains("--no-worker needs DV_NATS_URL"))
        for arguments in [["worker", "--ack-wait", "0"], ["worker", "--concurrency", "100000"], ["worker", "--ack-wait", "soon"]] {
            let refused = try await Self.run(arguments)
            #expect(refused.code == 64, "\(arguments)")
        }
        for limits in ["reads=0/1", "reads", "bogus=1/1", "writes=10/-1", "tenant-destructive=x"] {
            let refused = try await Self.run(["serve", "--listen", "127.0.0.1:0"], environment: ["DV_RATE_LIMITS": limits])
            #expect(refused.code == 64 && refused.err.contains("DV_RATE_LIMITS"), "\(limits): \(refused.err)")
        }
    }
}

/// Collects a pipe's lines as they arrive.
final class LineCapture: Sendable {
    let lines = Mutex<[String]>([])
    let eof = Mutex(false)
    private let pending = Mutex(Data())

    init(handle: FileHandle) {
        handle.readabilityHandler = { [self] handle in
            let chunk = handle.availableData
            if chunk.isEmpty {
                handle.readabilityHandler = nil
                eof.withLock { $0 = true }
                return
            }
            let complete: [String] = pending.withLock { buffer in
                buffer.append(chunk)
                var out: [String] = []
                while let newline = buffer.firstIndex(of: 0x0A) {
                    out.append(String(decoding: buffer[buffer.startIndex..<newline], as: UTF8.self))
                    buffer.removeSubrange(buffer.startIndex...newline)
                }
                return out
            }
            lines.withLock { $0 += complete }
        }
    }

    /// Polls (every 50 ms, at most `attempts` times) until `condition` holds for the lines so far.
    func waitFor(attempts: Int = 300, _ condition: ([String]) -> Bool) async -> Bool {
        for _ in 0..<attempts {
            if lines.withLock({ condition($0) }) { return true }
            try? await Task.sleep(for: .milliseconds(50))
        }
        return false
    }
}
