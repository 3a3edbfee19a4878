import Foundation
import NIOCore
import Testing
@testable import NATS
import DataverketTestSupport

@Suite struct JetStreamIntegrationTests {
    func setup(_ prefix: String, ackWait: Duration = .seconds(1), maxDeliver: Int = -1, dupWindow: Duration? = nil) async throws -> (NATSClient, JetStream, String, String, String) {
        let client = try await TestEnv.connect()
        let js = JetStream(client: client, timeout: .seconds(3))
        let stream = TestEnv.unique(prefix).uppercased()
        let subject = "js.\(stream.lowercased())"
        _ = try await js.createStream(StreamConfig(name: stream, subjects: ["\(subject).>"], storage: .memory, maxAge: .seconds(120), duplicateWindow: dupWindow))
        let consumer = "C\(NATSClient.randomToken(length: 6))"
        _ = try await js.createConsumer(stream: stream, config: ConsumerConfig(durableName: consumer, ackWait: ackWait, maxDeliver: maxDeliver, filterSubject: "\(subject).>"))
        return (client, js, stream, subject, consumer)
    }

    @Test func streamAndConsumerCRUD() async throws {
        let client = try await TestEnv.connect()
        let js = JetStream(client: client)
        let name = TestEnv.unique("CRUD")
        let created = try await js.createStream(StreamConfig(name: name, subjects: ["crud.\(name).>"], retention: .workQueue, storage: .file,
                                                             maxMsgs: 1000, maxBytes: 1 << 20, maxAge: .seconds(3600), duplicateWindow: .seconds(30), discard: .new))
        #expect(created.config.name == name)
        #expect(created.config.retention == .workQueue)
        #expect(created.config.maxAge == .seconds(3600))
        #expect(created.config.duplicateWindow == .seconds(30))
        #expect(created.config.maxMsgs == 1000)
        #expect(created.config.discard == .new)
        var updated = created.config
        updated.maxMsgs = 2000
        updated.subjects.append("crud2.\(name)")
        let after = try await js.updateStream(updated)
        #expect(after.config.maxMsgs == 2000)
        #expect(after.config.subjects.count == 2)
        let info = try await js.streamInfo(name)
        #expect(info.state.messages == 0)
        var changed = updated
        changed.maxMsgs = 3000
        do {
            _ = try await js.createStream(changed)
            Issue.record("create with a different config should fail")
        } catch let e as JetStreamError {
            #expect(e.errCode == JetStreamError.streamNameInUse)
        }
        #expect(try await js.createOrUpdateStream(changed).config.maxMsgs == 3000)

        let c = try await js.createConsumer(stream: name, config: ConsumerConfig(durableName: "worker", ackWait: .seconds(2), maxDeliver: 5,
                                                                                  filterSubject: "crud.\(name).>", backoff: [.seconds(1), .seconds(2)]))
        #expect(c.name == "worker")
        #expect(c.config.ackWait == .seconds(1))  // server sets ack_wait = backoff[0]
        #expect(c.config.maxDeliver == 5)
        #expect(c.config.backoff == [.seconds(1), .seconds(2)])
        let ci = try await js.consumerInfo(stream: name, consumer: "worker")
        #expect(ci.streamName == name)
        try await js.deleteConsumer(stream: name, consumer: "worker")
        do {
            _ = try await js.consumerInfo(stream: name, consumer: "worker")
            Issue.record("consumer still exists")
        } catch let e as JetStreamError {
            #expect(e.errCode == JetStreamError.consumerNotFound)
        }
        try await js.deleteStream(name)
        do {
            _ = try await js.streamInfo(name)
            Issue.record("stream still exists")
        } catch let e as JetStreamError {
            #expect(e.errCode == JetStreamError.streamNotFound)
            #expect(e.code == 404)
        }
        // Invalid config -> typed API error.
        do {
            _ = try await js.createStream(StreamConfig(name: TestEnv.unique("BAD"), subjects: ["a"], numReplicas: 7))
            Issue.record("accepted 7 replicas on a single server")
        } catch let e as JetStreamError {
            #expect(e.errCode != 0)
        }
        await client.close()
    }

    @Test func publishNoStreamGivesNoResponders() async throws {
        let client = try await TestEnv.connect()
        let js = JetStream(client: client)
        do {
            _ = try await js.publish("nostream.\(TestEnv.unique("x"))", payload: [1])
            Issue.record("expected no responders")
        } catch let e as NATSError {
            #expect(e.code == .noResponders)
        }
        await client.close()
    }

    @Test func dedupeWithMsgID() async throws {
        let (client, js, stream, subject, _) = try await setup("DEDUP", dupWindow: .seconds(10))
        let a1 = try await js.publish("\(subject).a", payload: [1], msgID: "id-1")
        let a2 = try await js.publish("\(subject).a", payload: [1], msgID: "id-1")
        let b = try await js.publish("\(subject).a", payload: [2], msgID: "id-2")
        #expect(!a1.duplicate)
        #expect(a2.duplicate)
        #expect(a2.seq == a1.seq)
        #expect(b.seq == a1.seq + 1)
        #expect(a1.stream == stream)
        #expect(try await js.streamInfo(stream).state.messages == 2)
        try await js.deleteStream(stream)
        await client.close()
    }

    @Test func fetchAckAndMetadata() async throws {
        let (client, js, stream, subject, consumer) = try await setup("FETCH")
        for i in 0..<5 { _ = try await js.publish("\(subject).\(i)", payload: Array("p\(i)".utf8)) }
        let first = try await js.fetch(stream: stream, consumer: consumer, batch: 3, expires: .seconds(3))
        #expect(first.map { String(buffer: $0.payload) } == ["p0", "p1", "p2"])
        let md = try #require(first.first?.metadata)
        #expect(md.stream == stream)
        #expect(md.consumer == consumer)
        #expect(md.numDelivered == 1)
        #expect(md.streamSequence == 1)
        #expect(md.numPending == 4)
        for m in first { try await m.ack() }
        let rest = try await js.fetch(stream: stream, consumer: consumer, batch: 10, expires: .milliseconds(500))
        #expect(rest.count == 2)
        for m in rest { try await m.ackSync() }
        // Empty: no_wait -> 404 immediately; expires -> 408 after the window.
        let t0 = ContinuousClock.now
        let none = try await js.fetch(stream: stream, consumer: consumer, batch: 5, noWait: true)
        #expect(none.isEmpty)
        #expect(ContinuousClock.now - t0 < .seconds(1))
        let none2 = try await js.fetch(stream: stream, consumer: consumer, batch: 5, expires: .milliseconds(300))
        #expect(none2.isEmpty)
        let info = try await js.consumerInfo(stream: stream, consumer: consumer)
        #expect(info.numAckPending == 0)
        try await js.deleteStream(stream)
        await client.close()
    }

    @Test func redeliveryAfterAckWait() async throws {
        let (client, js, stream, subject, consumer) = try await setup("REDELIVER", ackWait: .seconds(1))
        _ = try await js.publish("\(subject).x", payload: [7])
        let m1 = try await js.fetch(stream: stream, consumer: consumer, batch: 1, expires: .seconds(3))
        #expect(m1.count == 1)
        // Not acked: not redelivered before AckWait...
        let early = try await js.fetch(stream: stream, consumer: consumer, batch: 1, expires: .milliseconds(400))
        #expect(early.isEmpty)
        // ...but after it.
        let m2 = try await js.fetch(stream: stream, consumer: consumer, batch: 1, expires: .seconds(4))
        #expect(m2.count == 1)
        #expect(m2.first?.metadata?.numDelivered == 2)
        #expect(m2.first?.metadata?.streamSequence == m1.first?.metadata?.streamSequence)
        try await m2.first?.inProgress()
        try await m2.first?.ackSync()
        try await js.deleteStream(stream)
        await client.close()
    }

    @Test func nakWithDelayIsHonoured() async throws {
        let (client, js, stream, subject, consumer) = try await setup("NAK", ackWait: .seconds(10))
        _ = try await js.publish("\(subject).x", payload: [1])
        let m1 = try #require(try await js.fetch(stream: stream, consumer: consumer, batch: 1, expires: .seconds(3)).first)
        let nakAt = ContinuousClock.now
        try await m1.nak(delay: .milliseconds(1500))
        let early = try await js.fetch(stream: stream, consumer: consumer, batch: 1, expires: .milliseconds(700))
        #expect(early.isEmpty, "redelivered before the NAK delay")
        let m2 = try await js.fetch(stream: stream, consumer: consumer, batch: 1, expires: .seconds(3))
        #expect(m2.count == 1)
        #expect(ContinuousClock.now - nakAt >= .milliseconds(1400))
        #expect(m2.first?.metadata?.numDelivered == 2)
        // Plain NAK: immediate redelivery.
        try await m2.first?.nak()
        let m3 = try await js.fetch(stream: stream, consumer: consumer, batch: 1, expires: .seconds(3))
        #expect(m3.first?.metadata?.numDelivered == 3)
        try await m3.first?.ack()
        try await js.deleteStream(stream)
        await client.close()
    }

    @Test func termStopsRedelivery() async throws {
        let (client, js, stream, subject, consumer) = try await setup("TERM", ackWait: .seconds(1))
        _ = try await js.publish("\(subject).x", payload: [1])
        let m1 = try #require(try await js.fetch(stream: stream, consumer: consumer, batch: 1, expires: .seconds(3)).first)
        try await m1.term()
        let later = try await js.fetch(stream: stream, consumer: consumer, batch: 1, expires: .milliseconds(1500))
        #expect(later.isEmpty)
        let info = try await js.consumerInfo(stream: stream, consumer: consumer)
        #expect(info.numAckPending == 0)
        try await js.deleteStream(stream)
        await client.close()
    }
}

/// Owns a private nats-server process (own port and store dir) so it can be killed and restarted.
final class NATSServerProcess: @unchecked Sendable {
    let port: Int
    let storeDir: URL
    let extraArguments: [String]
    private var process: Process?

    init(port: Int, extraArguments: [String] = ["-js"]) throws {
        self.port = port
        self.extraArguments = extraArguments
        storeDir = FileManager.default.temporaryDirectory.appendingPathComponent("nats-restart-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: storeDir, withIntermediateDirectories: true)
    }

    static func executable() -> String {
        for p in ["/usr/sbin/nats-server", "/usr/bin/nats-server", "/usr/local/bin/nats-server"] where FileManager.default.isExecutableFile(atPath: p) {
            return p
        }
        return "/usr/bin/nats-server"
    }

    private var stopped = false
    private let lock = NSLock()

    func start() async throws {
        guard !lock.withLock({ stopped }) else { throw NATSError(code: .closed, message: "server helper already stopped") }
        if portAcceptsConnections(port) {
            throw NATSError(code: .connectionFailed, message: "port \(port) already in use (stray nats-server?)")
        }
        let p = Process()
        p.executableURL = URL(fileURLWithPath: Self.executable())
        p.arguments = ["-a", "127.0.0.1", "-p", "\(port)", "-sd", storeDir.path] + extraArguments
        p.standardOutput = FileHandle.nullDevice
        p.standardError = FileHandle.nullDevice
        try p.run()
        let alreadyStopped = lock.withLock { () -> Bool in
            if stopped { return true }
            process = p
            return false
        }
        if alreadyStopped {
            Foundation.kill(p.processIdentifier, SIGKILL)
            throw NATSError(code: .closed, message: "server helper stopped during start")
        }
        for _ in 0..<100 {
            if portAcceptsConnections(port) { return }
            try await Task.sleep(for: .milliseconds(50))
        }
        throw NATSError(code: .connectionFailed, message: "nats-server did not start on \(port)")
    }

    func kill() async throws {
        guard let p = lock.withLock({ () -> Process? in
            defer { process = nil }
            return process
        }) else { return }
        Foundation.kill(p.processIdentifier, SIGKILL)
        for _ in 0..<100 where p.isRunning { try await Task.sleep(for: .milliseconds(20)) }
    }

    func stop() {
        let p = lock.withLock { () -> Process? in
            stopped = true
            defer { process = nil }
            return process
        }
        if let p, p.isRunning { Foundation.kill(p.processIdentifier, SIGKILL); p.waitUntilExit() }
        try? FileManager.default.removeItem(at: storeDir)
    }
}

@Suite struct ServerRestartTests {
    @Test func reconnectAfterServerRestartLosesNoAckedPublish() async throws {
        let server = try NATSServerProcess(port: TestEnv.restartPort)
        defer { server.stop() }
        try await server.start()
        let client = try await TestEnv.connect("nats://127.0.0.1:\(server.port)") {
            $0.reconnect = NATSReconnectPolicy(initialDelay: .milliseconds(50), maxDelay: .milliseconds(200), jitter: 0.1, maxAttempts: 300)
        }
        let js = JetStream(client: client, timeout: .seconds(2))
        let stream = TestEnv.unique("RESTART")
        _ = try await js.createStream(StreamConfig(name: stream, subjects: ["rs.\(stream).>"], storage: .file, duplicateWindow: .seconds(60)))
        // A core subscription that must be resubscribed (same sid) after reconnect.
        let coreSubject = "core.\(stream)"
        let coreSub = try await client.subscribe(coreSubject)

        var acked: [String: UInt64] = [:]
        var failures = 0
        let total = 150
        var restartTask: Task<Void, any Error>?
        defer { restartTask?.cancel() }
        let deadline = ContinuousClock.now + .seconds(25)
        var i = 0
        while i < total, ContinuousClock.now < deadline {
            if i == 50 {
                try await server.kill()
                restartTask = Task {
                    try await Task.sleep(for: .milliseconds(700))
                    try Task.checkCancellation()
                    try await server.start()
                }
            }
            let id = "msg-\(i)"
            do {
                let ack = try await js.publish("rs.\(stream).\(i % 5)", payload: Array(id.utf8), msgID: id, timeout: .seconds(1))
                acked[id] = ack.seq
                i += 1
            } catch {
                failures += 1  // retry the same id (dedupe makes this safe)
                try await Task.sleep(for: .milliseconds(50))
            }
        }
        try await restartTask?.value
        #expect(acked.count == total, "published \(acked.count) of \(total), failures \(failures)")
        #expect(await client.reconnectCount >= 1)

        // Every acked publish is in the stream.
        let info = try await js.streamInfo(stream)
        #expect(info.state.messages >= UInt64(acked.count))
        _ = try await js.createConsumer(stream: stream, config: ConsumerConfig(durableName: "verify", ackPolicy: .none))
        var seen = Set<String>()
        for _ in 0..<10 where seen.count < acked.count {
            let batch = try await js.fetch(stream: stream, consumer: "verify", batch: 200, expires: .seconds(1))
            if batch.isEmpty { break }
            for m in batch { seen.insert(String(buffer: m.payload)) }
        }
        let missing = Set(acked.keys).subtracting(seen)
        #expect(missing.isEmpty, "acked but missing: \(missing.sorted().prefix(10))")

        // The old core subscription still works after the reconnect.
        try await client.publish(coreSubject, payload: "after-restart")
        let got = await collect(coreSub, count: 1, timeout: .seconds(2))
        #expect(got.first?.payloadString == "after-restart")
        await client.close()
    }
}
