import Foundation
import NIOCore
import NIOSSL
import Testing
@testable import NATS
import DataverketTestSupport

@Suite struct MoreIntegrationTests {
    @Test func failsOverToSecondServer() async throws {
        let client = try await TestEnv.connect("nats://127.0.0.1:1") { $0.servers.append(TestEnv.url) }
        try await client.flush()
        #expect(await client.isConnected)
        await client.close()
    }

    @Test func echoOffSuppressesOwnMessages() async throws {
        let quiet = try await TestEnv.connect { $0.echo = false }
        let other = try await TestEnv.connect()
        let subject = TestEnv.unique("echo")
        let mine = try await quiet.subscribe(subject)
        let theirs = try await other.subscribe(subject)
        try await quiet.flush()
        try await other.flush()
        try await quiet.publish(subject, payload: "x")
        try await quiet.flush()
        #expect(await collect(theirs, count: 1, timeout: .seconds(2)).count == 1)
        #expect(await collect(mine, count: 1, timeout: .milliseconds(300)).isEmpty)
        await quiet.close()
        await other.close()
    }

    @Test func requestCancellationFailsFast() async throws {
        let client = try await TestEnv.connect()
        let silent = TestEnv.unique("cancel")
        let sub = try await client.subscribe(silent)
        try await client.flush()
        let task = Task { try await client.request(silent, payload: "x", timeout: .seconds(10)) }
        try await Task.sleep(for: .milliseconds(100))
        let start = ContinuousClock.now
        task.cancel()
        await #expect(throws: (any Error).self) { try await task.value }
        #expect(ContinuousClock.now - start < .seconds(2))
        try await sub.unsubscribe()
        await client.close()
    }

    @Test func tlsConnection() async throws {
        let url = ProcessInfo.processInfo.environment["DV_TEST_NATS_TLS_URL"] ?? "nats://localhost:14226"
        let ca = ProcessInfo.processInfo.environment["DV_TEST_NATS_TLS_CA"] ?? "/tmp/nats-dev-test/tls/cert.pem"
        var tls = TLSConfiguration.makeClientConfiguration()
        tls.trustRoots = .certificates(try NIOSSLCertificate.fromPEMFile(ca))
        let client = try await TestEnv.connect(url) { $0.tls = tls }
        let subject = TestEnv.unique("tls")
        let sub = try await client.subscribe(subject)
        try await client.flush()
        try await client.publish(subject, payload: "secret")
        #expect(await collect(sub, count: 1, timeout: .seconds(2)).first?.payloadString == "secret")
        await client.close()
        // Server requires TLS, no CA configured: the default trust store rejects the self-signed cert.
        do {
            _ = try await TestEnv.connect(url)
            Issue.record("untrusted self-signed certificate accepted")
        } catch let e as NATSError {
            #expect(e.message.contains("tlsFailure"), "\(e)")
        }
    }

    @Test func reconnectBufferIsBoundedAndFlushedInOrder() async throws {
        let server = try NATSServerProcess(port: TestEnv.restartPort + 2)
        defer { server.stop() }
        try await server.start()
        let client = try await TestEnv.connect("nats://127.0.0.1:\(server.port)") {
            $0.reconnectBufferSize = 2048
            $0.reconnect = NATSReconnectPolicy(initialDelay: .milliseconds(50), maxDelay: .milliseconds(100), maxAttempts: 300)
        }
        let subject = TestEnv.unique("buffered")
        let sub = try await client.subscribe(subject)
        try await client.flush()
        try await server.kill()
        for _ in 0..<500 where await client.state != .reconnecting { try await Task.sleep(for: .milliseconds(20)) }
        #expect(await client.state == .reconnecting)
        // Fill the buffer until it refuses.
        var buffered = 0
        var refused: NATSError?
        for i in 0..<1000 {
            do {
                try await client.publish(subject, payload: ByteBuffer(string: String(format: "%04d", i) + String(repeating: ".", count: 60)))
                buffered += 1
            } catch let e as NATSError {
                refused = e
                break
            }
        }
        #expect(refused?.code == .reconnectBufferFull)
        #expect(buffered > 5 && buffered < 40)
        await #expect(throws: NATSError.self) { try await client.flush() }
        try await server.start()
        // After reconnect: resubscribed first, then the buffered publishes in order.
        let got = await collect(sub, count: buffered, timeout: .seconds(5))
        #expect(got.count == buffered)
        #expect(got.map { String($0.payloadString.prefix(4)) } == (0..<buffered).map { String(format: "%04d", $0) })
        #expect(await client.reconnectCount == 1)
        try await client.flush()
        await client.close()
        let kinds = await collect(client.events, count: 100, timeout: .seconds(1)).map(\.kind)
        #expect(kinds == [.connected, .disconnected, .reconnected, .closed])
    }
}

@Suite struct LoadTests {
    /// 20k messages through one connection: all delivered, in order, no drops.
    @Test func orderedDeliveryUnderLoad() async throws {
        let client = try await TestEnv.connect()
        let subject = TestEnv.unique("load")
        let sub = try await client.subscribe(subject, bufferSize: 30_000)
        try await client.flush()
        let n = 5_000
        let start = ContinuousClock.now
        for i in 0..<n { try await client.publish(subject, payload: ByteBuffer(integer: UInt32(i))) }
        try await client.flush(timeout: .seconds(10))
        let published = ContinuousClock.now - start
        let got = await collect(sub, count: n, timeout: .seconds(10))
        let elapsed = ContinuousClock.now - start
        #expect(got.count == n)
        #expect(got.enumerated().allSatisfy { i, m in m.payload.getInteger(at: m.payload.readerIndex, as: UInt32.self) == UInt32(i) })
        #expect(sub.droppedMessages == 0)
        print("LoadTests: \(n) msgs published in \(published), received in \(elapsed)")
        await client.close()
    }

    /// Many concurrent requests over the single muxed inbox: every one gets its own answer.
    @Test func concurrentRequestsOverMuxedInbox() async throws {
        let client = try await TestEnv.connect()
        let subject = TestEnv.unique("mux")
        let service = try await client.subscribe(subject, bufferSize: 10_000)
        try await client.flush()
        let responder = Task {
            for await msg in service {
                if let reply = msg.replyTo { try? await client.publish(reply, payload: msg.payload) }
            }
        }
        let n = 300
        let answers = try await withThrowingTaskGroup(of: Bool.self) { group in
            for i in 0..<n {
                group.addTask {
                    let r = try await client.request(subject, payload: "q\(i)", timeout: .seconds(10))
                    return r.payloadString == "q\(i)"
                }
            }
            var ok = 0
            for try await good in group where good { ok += 1 }
            return ok
        }
        #expect(answers == n)
        responder.cancel()
        await client.close()
    }
}
