import Foundation
import NIOCore
import Testing
@testable import NATS
import DataverketTestSupport

/// Integration tests against a real nats-server (scripts/start-nats.sh all). They FAIL when it is unreachable.
@Suite struct CoreIntegrationTests {
    @Test func publishSubscribeWithHeaders() async throws {
        let client = try await TestEnv.connect()
        let subject = TestEnv.unique("ps")
        let sub = try await client.subscribe("\(subject).*")
        try await client.flush()
        var h = NATSHeaders()
        h.append("X-Multi", "1")
        h.append("X-Multi", "2")
        for i in 0..<10 {
            try await client.publish("\(subject).\(i)", payload: "m\(i)", headers: i == 0 ? h : nil, reply: i == 1 ? "the.reply" : nil)
        }
        try await client.flush()
        let got = await collect(sub, count: 10, timeout: .seconds(3))
        #expect(got.map(\.payloadString) == (0..<10).map { "m\($0)" })
        #expect(got.first?.headers?.values(for: "X-Multi") == ["1", "2"])
        #expect(got.dropFirst().first?.replyTo == "the.reply")
        #expect(got.last?.subject == "\(subject).9")
        await client.close()
    }

    @Test func unsubscribeEndsSequenceAndAutoUnsubMax() async throws {
        let client = try await TestEnv.connect()
        let subject = TestEnv.unique("unsub")
        let sub = try await client.subscribe(subject)
        try await sub.unsubscribe(max: 3)
        try await client.flush()
        for i in 0..<10 { try await client.publish(subject, payload: "\(i)") }
        try await client.flush()
        // Sequence ends by itself after 3 messages.
        let got = await collect(sub, count: 100, timeout: .seconds(3))
        #expect(got.count == 3)
        let sub2 = try await client.subscribe(subject)
        try await sub2.unsubscribe()
        let none = await collect(sub2, count: 1, timeout: .seconds(1))
        #expect(none.isEmpty)
        await client.close()
    }

    @Test func queueGroupsDeliverOnce() async throws {
        let client = try await TestEnv.connect()
        let subject = TestEnv.unique("queue")
        let a = try await client.subscribe(subject, queue: "workers")
        let b = try await client.subscribe(subject, queue: "workers")
        let plain = try await client.subscribe(subject)
        try await client.flush()
        for i in 0..<100 { try await client.publish(subject, payload: "\(i)") }
        try await client.flush()
        async let gotPlain = collect(plain, count: 100, timeout: .seconds(3))
        try await Task.sleep(for: .milliseconds(300))
        try await a.unsubscribe()
        try await b.unsubscribe()
        let gotA = await collect(a, count: 1000, timeout: .seconds(2))
        let gotB = await collect(b, count: 1000, timeout: .seconds(2))
        #expect(gotA.count + gotB.count == 100)
        #expect(Set((gotA + gotB).map(\.payloadString)).count == 100)
        #expect(await gotPlain.count == 100)
        await client.close()
    }

    @Test func requestReplyNoRespondersAndTimeout() async throws {
        let client = try await TestEnv.connect()
        let subject = TestEnv.unique("svc")
        let service = try await client.subscribe(subject)
        try await client.flush()
        let responder = Task {
            for await msg in service {
                guard let reply = msg.replyTo else { continue }
                var h = NATSHeaders()
                h["Echo"] = "yes"
                try? await client.publish(reply, payload: "re:" + msg.payloadString, headers: h)
            }
        }
        // Generous timeouts: on a loaded 2-core CI machine a round trip can take seconds.
        async let r1 = client.request(subject, payload: "a", timeout: .seconds(10))
        async let r2 = client.request(subject, payload: "b", timeout: .seconds(10))
        let (m1, m2) = try await (r1, r2)
        #expect(m1.payloadString == "re:a")
        #expect(m2.payloadString == "re:b")
        #expect(m1.headers?["Echo"] == "yes")

        // No responders -> 503 -> .noResponders (fast, well before the timeout).
        let start = ContinuousClock.now
        await #expect(throws: NATSError.self) {
            do {
                _ = try await client.request(TestEnv.unique("nobody"), payload: "x", timeout: .seconds(10))
            } catch let e as NATSError {
                #expect(e.code == .noResponders)
                throw e
            }
        }
        #expect(ContinuousClock.now - start < .seconds(5))

        // A subscriber that never answers -> .timeout.
        let silent = TestEnv.unique("silent")
        let silentSub = try await client.subscribe(silent)
        try await client.flush()
        do {
            _ = try await client.request(silent, payload: "x", timeout: .milliseconds(300))
            Issue.record("expected timeout")
        } catch let e as NATSError {
            #expect(e.code == .timeout)
        }
        try await silentSub.unsubscribe()
        responder.cancel()
        await client.close()
    }

    @Test func userPasswordAuth() async throws {
        let good = try await TestEnv.connect(TestEnv.authURL) { $0.user = "u"; $0.password = "p" }
        try await good.flush()
        await good.close()
        let viaURL = try await TestEnv.connect(TestEnv.authURL.replacingOccurrences(of: "nats://", with: "nats://u:p@"))
        try await viaURL.flush()
        await viaURL.close()
        do {
            _ = try await TestEnv.connect(TestEnv.authURL) { $0.user = "u"; $0.password = "wrong" }
            Issue.record("bad password accepted")
        } catch let e as NATSError {
            #expect(e.code == .authorizationViolation)
        }
        do {
            _ = try await TestEnv.connect(TestEnv.authURL)
            Issue.record("missing credentials accepted")
        } catch let e as NATSError {
            #expect(e.code == .authorizationViolation)
        }
    }

    @Test func tokenAuth() async throws {
        let good = try await TestEnv.connect(TestEnv.tokenURL) { $0.token = "s3cr3t" }
        try await good.flush()
        await good.close()
        do {
            _ = try await TestEnv.connect(TestEnv.tokenURL) { $0.token = "nope" }
            Issue.record("bad token accepted")
        } catch let e as NATSError {
            #expect(e.code == .authorizationViolation)
        }
    }

    @Test func slowConsumerDropsAndCounts() async throws {
        let client = try await TestEnv.connect()
        let subject = TestEnv.unique("slow")
        let sub = try await client.subscribe(subject, bufferSize: 4)
        try await client.flush()
        for i in 0..<200 { try await client.publish(subject, payload: "\(i)") }
        try await client.flush()
        // Wait until the server has delivered everything.
        for _ in 0..<50 where sub.receivedMessages < 200 { try await Task.sleep(for: .milliseconds(20)) }
        #expect(sub.receivedMessages == 200)
        #expect(sub.droppedMessages == 196)
        let got = await collect(sub, count: 4, timeout: .seconds(1))
        #expect(got.map(\.payloadString) == ["0", "1", "2", "3"])
        await client.close()
        // The slow-consumer condition is also reported on the event stream.
        let events = await collect(client.events, count: 100, timeout: .seconds(1))
        let slow = events.filter { $0.kind == .slowConsumer }
        #expect(slow.first?.sid == sub.sid)
        #expect(slow.first?.droppedMessages == 1)
        #expect(events.first?.kind == .connected)
        #expect(events.last?.kind == .closed)
    }

    @Test func closeEndsSubscriptionsAndRejectsPublish() async throws {
        let client = try await TestEnv.connect()
        let sub = try await client.subscribe(TestEnv.unique("close"))
        await client.close()
        let got = await collect(sub, count: 1, timeout: .seconds(1))
        #expect(got.isEmpty)
        await #expect(throws: NATSError.self) { try await client.publish("x", payload: "y") }
        #expect(await client.state == .closed)
    }

    @Test func unreachableServerFailsFast() async throws {
        do {
            _ = try await TestEnv.connect("nats://127.0.0.1:1")
            Issue.record("connected to nothing")
        } catch let e as NATSError {
            #expect(e.code == .connectionFailed)
        }
    }

    @Test func drainDeliversBufferedMessages() async throws {
        let client = try await TestEnv.connect()
        let subject = TestEnv.unique("drain")
        let sub = try await client.subscribe(subject)
        try await client.flush()
        for i in 0..<20 { try await client.publish(subject, payload: "\(i)") }
        try await client.flush()
        await client.drain()
        let got = await collect(sub, count: 100, timeout: .seconds(2))
        #expect(got.count == 20)
    }
}
