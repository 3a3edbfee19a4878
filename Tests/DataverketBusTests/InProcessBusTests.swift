@testable import DataverketBus
import DataverketCore
import Foundation
import Testing
import DataverketTestSupport

@Suite("In-process bus")
struct InProcessBusTests {
    @Test func limitsStreamDropsOldestWhenFull() async throws {
        try await withBus(.inProcess, inProcess: InProcessBus.Configuration(maxMessagesPerStream: 3)) { h in
            for i in 0..<5 { try await h.bus.publish(h.message(h.evt("n"), "e\(i)")) }
            let bus = try #require(h.bus as? InProcessBus)
            #expect(await bus.messageCount(.events) == 3)
            let consumer = try await h.consumer(.events, "c", filters: [h.evt(">")])
            let got = try await consumer.fetch(batch: 10, wait: .zero)
            #expect(got.map(text) == ["e2", "e3", "e4"])
        }
    }

    @Test func droppedMessagesAreNotRedelivered() async throws {
        try await withBus(.inProcess, inProcess: InProcessBus.Configuration(maxMessagesPerStream: 2)) { h in
            let consumer = try await h.consumer(.events, "c", filters: [h.evt(">")], ackWait: .milliseconds(200))
            try await h.bus.publish(h.message(h.evt("n"), "old"))
            #expect(try await consumer.fetch(batch: 1, wait: .zero).map(text) == ["old"])
            try await h.bus.publish(h.message(h.evt("n"), "a"))
            try await h.bus.publish(h.message(h.evt("n"), "b"))  // drops "old" while it is unsettled
            try await Task.sleep(for: .milliseconds(300))
            let got = try await consumer.fetch(batch: 10, wait: .zero)
            #expect(got.map(text) == ["a", "b"])
        }
    }

    @Test func fullWorkQueueRejectsPublishes() async throws {
        try await withBus(.inProcess, inProcess: InProcessBus.Configuration(maxMessagesPerStream: 2)) { h in
            try await h.bus.publish(h.message(h.cmd("a"), "1"))
            try await h.bus.publish(h.message(h.cmd("a"), "2"))
            do {
                try await h.bus.publish(h.message(h.cmd("a"), "3"))
                Issue.record("publish to a full work queue succeeded")
            } catch let error as DataverketError {
                #expect(error.code == .unavailable)
                #expect(error.message.contains("DV_CMD"))
            }
            let consumer = try await h.consumer(.commands, "w", filters: [h.cmd(">")])
            let got = try await consumer.fetch(batch: 1, wait: .zero)
            try await got[0].ack()
            try await h.bus.publish(h.message(h.cmd("a"), "3"))
            let bus = try #require(h.bus as? InProcessBus)
            #expect(await bus.messageCount(.commands) == 2)
        }
    }

    @Test func termRemovesFromWorkQueue() async throws {
        try await withBus(.inProcess) { h in
            try await h.bus.publish(h.message(h.cmd("a"), "1"))
            let consumer = try await h.consumer(.commands, "w", filters: [h.cmd(">")])
            let got = try await consumer.fetch(batch: 1, wait: .zero)
            let bus = try #require(h.bus as? InProcessBus)
            #expect(await bus.messageCount(.commands) == 1)
            try await got[0].term()
            #expect(await bus.messageCount(.commands) == 0)
        }
    }

    @Test func duplicateWindowIsConfigurable() async throws {
        try await withBus(.inProcess, inProcess: InProcessBus.Configuration(duplicateWindow: .milliseconds(200))) { h in
            let message = h.message(h.evt("x"), "m", id: "same")
            let first = try await h.bus.publish(message)
            #expect(try await h.bus.publish(message).duplicate)
            try await Task.sleep(for: .milliseconds(300))
            let later = try await h.bus.publish(message)
            #expect(!later.duplicate)
            #expect(later.sequence == first.sequence + 1)
        }
    }

    @Test func subscriberBuffersAreBoundedDroppingNewest() async throws {
        try await withBus(.inProcess, inProcess: InProcessBus.Configuration(subscriberBufferSize: 2)) { h in
            let stream = try await h.bus.subscribe("dv.\(h.service).hb")
            for i in 0..<5 { try await h.bus.broadcast(h.message("dv.\(h.service).hb", "b\(i)")) }
            let got = await collect(stream, count: 5, timeout: .milliseconds(300))
            #expect(got.map { String(decoding: $0.payload, as: UTF8.self) } == ["b0", "b1"])
        }
    }

    @Test func closeEndsFetchesAndSubscriptions() async throws {
        let bus = InProcessBus(logger: BusTestEnv.logger)
        let consumer = try await bus.consumer(ConsumerSpec(stream: .events, name: "c", filterSubjects: ["dv.x.evt.>"]))
        let stream = try await bus.subscribe("dv.x.hb")
        let clock = ContinuousClock()
        let start = clock.now
        async let pending = consumer.fetch(batch: 1, wait: .seconds(20))
        try await Task.sleep(for: .milliseconds(100))
        await bus.close()
        #expect(try await pending.isEmpty)
        #expect(clock.now - start < .seconds(5))
        #expect(await collect(stream, count: 1, timeout: .seconds(2)).isEmpty)
        await #expect(throws: DataverketError.self) { try await bus.publish(BusMessage(subject: "dv.x.evt.y", id: "1", payload: [])) }
        await #expect(throws: DataverketError.self) { _ = try await consumer.fetch(batch: 1, wait: .seconds(5)) }
    }

    @Test func cancellingAFetchEndsItPromptly() async throws {
        let bus = InProcessBus(logger: BusTestEnv.logger)
        let consumer = try await bus.consumer(ConsumerSpec(stream: .events, name: "c", filterSubjects: ["dv.x.evt.>"]))
        let clock = ContinuousClock()
        let start = clock.now
        let task = Task { try await consumer.fetch(batch: 1, wait: .seconds(20)) }
        try await Task.sleep(for: .milliseconds(100))
        task.cancel()
        _ = try? await task.value
        #expect(clock.now - start < .seconds(5))
        await bus.close()
    }

    @Test func subjectPatterns() throws {
        #expect(SubjectPattern.matches("dv.*.cmd.>", "dv.compute.cmd.vm.create"))
        #expect(!SubjectPattern.matches("dv.*.cmd.>", "dv.compute.cmd"))
        #expect(!SubjectPattern.matches("dv.*.cmd.>", "dv.compute.evt.x"))
        #expect(SubjectPattern.matches("a.*.c", "a.b.c"))
        #expect(!SubjectPattern.matches("a.*.c", "a.b.c.d"))
        #expect(SubjectPattern.matches("a.b", "a.b"))
        #expect(SubjectPattern.overlaps("dv.*.cmd.>", "dv.dlq.>"))
        #expect(!SubjectPattern.overlaps("dv.*.cmd.>", "dv.dlq.dv.>"))
        #expect(!SubjectPattern.overlaps("dv.*.evt.>", "dv.dlq.dv.>"))
        #expect(SubjectPattern.overlaps("a.*", "*.b"))
        #expect(!SubjectPattern.overlaps("a.>", "a"))
        #expect(InProcessBus.streamName(for: "dv.task.evt.failed") == "DV_EVT")
        #expect(InProcessBus.streamName(for: "dv.dlq.dv.x.cmd.y") == "DV_DLQ")
        #expect(InProcessBus.streamName(for: "dv.x.cmd.y") == "DV_CMD")
        #expect(InProcessBus.streamName(for: "dv.dlq.cmd") == nil)
        #expect(throws: DataverketError.self) { try SubjectPattern.validate("a.>.b", wildcards: true) }
        #expect(throws: DataverketError.self) { try SubjectPattern.validate("a.b*", wildcards: true) }
        #expect(throws: DataverketError.self) { try SubjectPattern.validate("a b", wildcards: false) }
        #expect(throws: DataverketError.self) { try SubjectPattern.validate("a.", wildcards: false) }
        try SubjectPattern.validate("a.*.>", wildcards: true)
    }
}

@Suite("Bus configuration")
struct BusConfigurationTests {
    @Test func parsesURLsWithCredentials() throws {
        let c = try JetStreamBus.Configuration(url: "nats://u:p%40ss@h1:4222, h2:5222")
        #expect(c.servers == ["nats://h1:4222", "nats://h2:5222"])
        #expect(c.user == "u")
        #expect(c.password == "p@ss")
        #expect(c.token == nil)
        #expect(!c.tls)
        #expect(!c.description.contains("p@ss"))
        let options = c.natsOptions()
        #expect(options.user == "u" && options.password == "p@ss")
    }

    @Test func parsesTokensTLSAndDefaults() throws {
        let token = try JetStreamBus.Configuration(url: "nats://s3cr3t@localhost")
        #expect(token.token == "s3cr3t")
        #expect(token.servers == ["nats://localhost:4222"])
        let tls = try JetStreamBus.Configuration(url: "tls://a:4443,b")
        #expect(tls.tls)
        #expect(tls.servers == ["tls://a:4443", "tls://b:4222"])
        let bare = try JetStreamBus.Configuration(url: "127.0.0.1:14222")
        #expect(bare.servers == ["nats://127.0.0.1:14222"])
        let v6 = try JetStreamBus.Configuration(url: "nats://[::1]:4222/")
        #expect(v6.servers == ["nats://[::1]:4222"])
    }

    @Test(arguments: ["", " , ", "http://h:4222", "nats://h:99999", "nats://:4222", "nats://h:x", "nats://h/path"])
    func rejectsBadURLs(url: String) {
        #expect(throws: DataverketError.self) { try JetStreamBus.Configuration(url: url) }
    }

    @Test func factoryChoosesTheImplementation() async throws {
        let embedded = try await BusConfiguration.open(natsURL: nil, logger: BusTestEnv.logger)
        #expect(embedded is InProcessBus)
        await embedded.close()
        let blank = try await BusConfiguration.open(natsURL: "  ", logger: BusTestEnv.logger)
        #expect(blank is InProcessBus)
        await blank.close()
        #expect(BusConfiguration(environment: ["DV_NATS_URL": "nats://x:1"]).natsURL == "nats://x:1")
        let nats = try await BusConfiguration.open(natsURL: BusTestEnv.natsURL, logger: BusTestEnv.logger)
        #expect(nats is JetStreamBus)
        await nats.close()
    }

    @Test func unreachableServerIsUnavailable() async throws {
        do {
            let bus = try await BusConfiguration.open(natsURL: "nats://127.0.0.1:1", logger: BusTestEnv.logger)
            await bus.close()
            Issue.record("connected to a closed port")
        } catch let error as DataverketError {
            #expect(error.code == .unavailable)
        }
    }
}
