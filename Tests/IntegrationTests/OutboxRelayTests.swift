import DataverketBus
import DataverketClient
import DataverketCore
import DataverketStore
import Foundation
import Sentral
import DataverketTasks
import DataverketServer
import Testing
import DataverketTestSupport

/// The transactional outbox reaches the bus once per event, in order, across relay crashes.
@Suite("Outbox relay")
struct OutboxRelayTests {
    @Test("every committed event is published once, in write order, and marked published", arguments: Backend.allCases)
    func publishesInOrder(_ backend: Backend) async throws {
        try await withDatabase(backend) { database in
            let bus = InProcessBus(logger: quietLogger)
            try await bus.provision()
            let consumer = try await bus.consumer(ConsumerSpec(stream: .events, name: "relay-test", filterSubjects: ["dv.sentral.evt.>"]))
            let sentral = ControlPlane(database: database)
            _ = try await sentral.tenancy.createTenant(.init(name: "acme"), context: testContext)
            for version in 1...5 {
                _ = try await sentral.tenancy.updateTenant("acme", change: .init(description: "v\(version)"), expected: Int64(version), context: testContext)
            }
            let relay = OutboxRelay(database: database, bus: bus, logger: quietLogger)
            #expect(try await relay.acquireLease())
            #expect(try await relay.relayOnce() == 6)
            #expect(try await relay.relayOnce() == 0)
            let deliveries = try await consumer.fetch(batch: 20, wait: .milliseconds(200))
            #expect(deliveries.map(\.message.subject) == ["dv.sentral.evt.tenant.created"] + Array(repeating: "dv.sentral.evt.tenant.updated", count: 5))
            let versions = try deliveries.map { try $0.message.event() }.map { event -> Int in
                let object = try JSONSerialization.jsonObject(with: Data(event.data.text.utf8)) as? [String: Any]
                return ((object?["fields"] as? [String: Any])?["version"] as? Int) ?? -1
            }
            #expect(versions == [1, 2, 3, 4, 5, 6])
            for delivery in deliveries { try await delivery.ack() }
        }
    }

    @Test("a relay that crashed after publishing republishes, and the bus drops the duplicates", arguments: Backend.allCases)
    func crashBetweenPublishAndMark(_ backend: Backend) async throws {
        try await withDatabase(backend) { database in
            let bus = InProcessBus(logger: quietLogger)
            try await bus.provision()
            let consumer = try await bus.consumer(ConsumerSpec(stream: .events, name: "crash-test", filterSubjects: ["dv.sentral.evt.>"]))
            let sentral = ControlPlane(database: database)
            for index in 0..<3 { _ = try await sentral.tenancy.createTenant(.init(name: "t\(index)"), context: testContext) }
            let relay = OutboxRelay(database: database, bus: bus, logger: quietLogger)
            #expect(try await relay.acquireLease())
            #expect(try await relay.relayOnce() == 3)
            // Simulate the crash: the marks never happened.
            try await database.transaction { session in
                try await session.run("UPDATE \(session.table("tasks", "outbox")) SET published_at = NULL")
            }
            #expect(try await relay.relayOnce() == 3)
            let deliveries = try await consumer.fetch(batch: 20, wait: .milliseconds(200))
            #expect(deliveries.count == 3)
            #expect(Set(deliveries.map(\.message.id)).count == 3)
        }
    }

    @Test("only one relay holds the lease; another takes over when it lapses", arguments: Backend.allCases)
    func singleActiveRelay(_ backend: Backend) async throws {
        try await withDatabase(backend) { (database: Database) async throws in
            let bus = InProcessBus(logger: quietLogger)
            // Lease time stands still unless the test moves it: a busy machine cannot let the lease lapse early.
            let time = ManualTime()
            func relay() -> OutboxRelay {
                var relay = OutboxRelay(database: database, bus: bus, logger: quietLogger, lease: .seconds(1))
                relay.now = time.source
                return relay
            }
            let first = relay()
            let second = relay()
            #expect(try await first.acquireLease())
            #expect(try await second.acquireLease() == false)
            time.advance(.milliseconds(900))
            #expect(try await first.acquireLease())
            time.advance(.milliseconds(900))
            #expect(try await second.acquireLease() == false, "renewed 0.9 s ago: still held")
            time.advance(.milliseconds(1100))
            #expect(try await second.acquireLease())
            #expect(try await first.acquireLease() == false)
        }
    }
}

@Suite("Service health")
struct ServiceHealthTests {
    @Test("heartbeats make services healthy; silence makes them down; the server relays its outbox", arguments: Backend.allCases)
    func heartbeats(_ backend: Backend) async throws {
        let bus = InProcessBus(logger: quietLogger)
        try await bus.provision()
        let events = try await bus.consumer(ConsumerSpec(stream: .events, name: "health-test-\(backend)", filterSubjects: ["dv.sentral.evt.tenant.>"]))
        try await withServer(backend, mode: .router, bus: bus) { server in
            let encoder = JSONEncoder()
            encoder.dateEncodingStrategy = .iso8601
            var seen: [Components.Schemas.ServiceHealth] = []
            // Bounded at 30 s: on a loaded machine the server's own 2-second heartbeat can be late for a while.
            for _ in 0..<600 {
                // Fresh beats each round, as a live service sends (one beat re-sent goes stale after 6 s).
                let fresh = Heartbeat(service: "maskin", instance: "m1", version: "1.0.0", datacenter: "osl1")
                let stale = Heartbeat(service: "nett", instance: "n1", version: "1.0.0", datacenter: "osl1", at: Date().addingTimeInterval(-60))
                for beat in [fresh, stale] {
                    try await bus.broadcast(BusMessage(subject: Heartbeat.subject(beat.service), id: ULID.make(), payload: Array(try encoder.encode(beat))))
                }
                seen = try await server.client.listServiceHealth().ok.body.json.items
                if seen.map(\.status) == [.healthy, .down, .healthy] { break }
                try await Task.sleep(for: .milliseconds(50))
            }
            #expect(seen.map(\.service) == ["maskin", "nett", "sentral"])
            #expect(seen.map(\.status) == [.healthy, .down, .healthy])
            #expect(seen.last?.datacenter == "osl1")

            // The relay runs inside the server: a mutation's event reaches the bus.
            _ = try await server.client.createTenant(body: .json(.init(name: "acme"))).created
            let deliveries = try await events.fetch(batch: 5, wait: .seconds(5))
            #expect(deliveries.map(\.message.subject) == ["dv.sentral.evt.tenant.created"])
        }
        await bus.close()
    }
}
