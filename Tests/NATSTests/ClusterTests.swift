import Foundation
import NIOCore
import Testing
@testable import NATS
import DataverketTestSupport

@Suite struct ClusterTests {
    /// Two-node cluster (no JetStream); the client is configured with node A only, learns B from
    /// INFO connect_urls, and fails over to B when A is killed.
    @Test func discoversClusterAndFailsOver() async throws {
        let base = TestEnv.restartPort + 5  // 14230...14233
        let a = try NATSServerProcess(port: base, extraArguments: ["--cluster_name", "dvtest", "--cluster", "nats://127.0.0.1:\(base + 1)", "--routes", "nats://127.0.0.1:\(base + 3)"])
        let b = try NATSServerProcess(port: base + 2, extraArguments: ["--cluster_name", "dvtest", "--cluster", "nats://127.0.0.1:\(base + 3)", "--routes", "nats://127.0.0.1:\(base + 1)"])
        defer { a.stop(); b.stop() }
        try await a.start()
        try await b.start()
        let client = try await TestEnv.connect("nats://127.0.0.1:\(a.port)") {
            $0.reconnect = NATSReconnectPolicy(initialDelay: .milliseconds(20), maxDelay: .milliseconds(100), maxAttempts: 100)
        }
        // Wait for the route to form and the async INFO to arrive.
        for _ in 0..<100 where await client.knownServers.count < 2 { try await Task.sleep(for: .milliseconds(50)) }
        #expect(await client.knownServers.contains("127.0.0.1:\(b.port)"))

        let subject = TestEnv.unique("cluster")
        let sub = try await client.subscribe(subject)
        try await client.flush()
        try await a.kill()
        for _ in 0..<500 where await client.reconnectCount < 1 { try await Task.sleep(for: .milliseconds(20)) }
        #expect(await client.reconnectCount == 1)
        #expect(await client.isConnected)

        // A second client on B publishes; the resubscribed subscription (now on B) receives it.
        let other = try await TestEnv.connect("nats://127.0.0.1:\(b.port)")
        try await client.flush()
        try await other.publish(subject, payload: "via-b")
        try await other.flush()
        let got = await collect(sub, count: 1, timeout: .seconds(2))
        #expect(got.first?.payloadString == "via-b")
        await other.close()
        await client.close()
    }
}
