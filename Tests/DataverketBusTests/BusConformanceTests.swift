import DataverketBus
import DataverketCore
import Foundation
import Testing
import DataverketTestSupport

/// The same behaviour from both implementations (DESIGN.md "Bus"). JetStream runs against `DV_TEST_NATS_URL`.
@Suite("Bus conformance")
struct BusConformanceTests {
    @Test(arguments: BusKind.allCases)
    func provisionIsIdempotent(kind: BusKind) async throws {
        try await withBus(kind) { h in
            try await h.bus.provision()
            try await h.bus.provision()
            let ack = try await h.bus.publish(h.message(h.cmd("ping"), "x"))
            #expect(ack.stream == "DV_CMD")
            #expect(!ack.duplicate)
            let consumer = try await h.consumer(.commands, "w", filters: [h.cmd(">")])
            let got = try await consumer.fetch(batch: 10, wait: .seconds(2))
            #expect(got.count == 1)
            for d in got { try await d.ack() }
        }
    }

    @Test(arguments: BusKind.allCases)
    func commandIsConsumedOnce(kind: BusKind) async throws {
        try await withBus(kind) { h in
            let message = h.message(h.cmd("create"), "hello", headers: ["Dv-Deadline": "2030-01-01T00:00:00Z"])
            let ack = try await h.bus.publish(message)
            #expect(ack.stream == "DV_CMD")
            let consumer = try await h.consumer(.commands, "worker", filters: [h.cmd("create")])
            let got = try await consumer.fetch(batch: 10, wait: .seconds(2))
            try #require(got.count == 1)
            #expect(got[0].message == message)
            #expect(got[0].attempt == 1)
            #expect(!got[0].isLastAttempt)
            try await got[0].ack()
            // Binding the same durable name again: the acked command is gone.
            let again = try await h.consumer(.commands, "worker", filters: [h.cmd("create")])
            #expect(try await again.fetch(batch: 10, wait: .milliseconds(300)).isEmpty)
            #expect(try await consumer.fetch(batch: 10, wait: .milliseconds(300)).isEmpty)
        }
    }

    @Test(arguments: BusKind.allCases)
    func aBatchIsStoredInOrderAndEachMessageAnsweredAlone(kind: BusKind) async throws {
        try await withBus(kind) { h in
            var batch = (0..<50).map { h.message(h.cmd("batch"), "b\($0)") }
            batch.insert(h.message("nowhere.at.all", "refused"), at: 10)
            batch.append(batch[3])  // the same id again: a duplicate, not stored twice
            let results = await h.bus.publish(batch)
            #expect(results.count == batch.count)
            let acks = results.compactMap { try? $0.get() }
            #expect(acks.count == 51)
            #expect((try? results[10].get()) == nil, "a subject no stream takes fails alone")
            #expect(try results.last?.get().duplicate == true)
            let stored = acks.filter { !$0.duplicate }.map(\.sequence)
            #expect(stored == stored.sorted() && Set(stored).count == 50, "stored once each, in the order given")
            let consumer = try await h.consumer(.commands, "batch", filters: [h.cmd("batch")])
            var got: [BusDelivery] = []
            for _ in 0..<20 where got.count < 50 { got += try await consumer.fetch(batch: 50 - got.count, wait: .seconds(2)) }
            #expect(got.map(text) == (0..<50).map { "b\($0)" })
            for d in got { try await d.ack() }
        }
    }

    @Test(arguments: BusKind.allCases)
    func fetchersSharingANameShareTheWork(kind: BusKind) async throws {
        try await withBus(kind) { h in
            let a = try await h.consumer(.commands, "shared", filters: [h.cmd(">")])
            let b = try await h.consumer(.commands, "shared", filters: [h.cmd(">")])
            async let fromA = a.fetch(batch: 1, wait: .seconds(1))
            async let fromB = b.fetch(batch: 1, wait: .seconds(1))
            try await Task.sleep(for: .milliseconds(100))
            try await h.bus.publish(h.message(h.cmd("one"), "1"))
            let got = try await fromA + fromB
            #expect(got.count == 1)
            for d in got { try await d.ack() }

            // Several messages: every one goes to exactly one fetcher.
            for i in 0..<6 { try await h.bus.publish(h.message(h.cmd("many"), "m\(i)")) }
            async let x = a.fetch(batch: 4, wait: .seconds(1))
            async let y = b.fetch(batch: 4, wait: .seconds(1))
            var all = try await x + y
            if all.count < 6 { all += try await a.fetch(batch: 6, wait: .seconds(1)) }
            #expect(all.map(text).sorted() == (0..<6).map { "m\($0)" })
            for d in all { try await d.ack() }
        }
    }

    @Test(arguments: BusKind.allCases)
    func workQueueRejectsOverlappingConsumers(kind: BusKind) async throws {
        try await withBus(kind) { h in
            _ = try await h.consumer(.commands, "wide", filters: [h.cmd(">")])
            await #expect(throws: DataverketError.self) {
                _ = try await h.consumer(.commands, "narrow", filters: [h.cmd("x")])
            }
            do {
                _ = try await h.consumer(.commands, "narrow2", filters: [h.cmd("y")])
            } catch let error as DataverketError {
                #expect(error.code == .conflict)
            }
        }
    }

    @Test(arguments: BusKind.allCases)
    func eventsFanOutToEveryConsumer(kind: BusKind) async throws {
        try await withBus(kind) { h in
            let projector = try await h.consumer(.events, "projector", filters: [h.evt(">")])
            let auditor = try await h.consumer(.events, "auditor", filters: [h.evt(">")])
            let ack = try await h.bus.publish(h.message(h.evt("vm.created"), "e1"))
            #expect(ack.stream == "DV_EVT")
            let p = try await projector.fetch(batch: 10, wait: .seconds(2))
            let a = try await auditor.fetch(batch: 10, wait: .seconds(2))
            #expect(p.map(text) == ["e1"])
            #expect(a.map(text) == ["e1"])
            for d in p + a { try await d.ack() }
            // Acked by one consumer does not remove it for a new one (limits retention).
            let late = try await h.consumer(.events, "late", filters: [h.evt(">")])
            let l = try await late.fetch(batch: 10, wait: .seconds(2))
            #expect(l.map(text) == ["e1"])
            for d in l { try await d.ack() }
        }
    }

    @Test(arguments: BusKind.allCases)
    func duplicatesWithinTheWindowAreDropped(kind: BusKind) async throws {
        try await withBus(kind) { h in
            let message = h.message(h.evt("vm.updated"), "once", id: "dup-\(h.token)")
            let first = try await h.bus.publish(message)
            let second = try await h.bus.publish(message)
            #expect(!first.duplicate)
            #expect(second.duplicate)
            #expect(second.sequence == first.sequence)
            let consumer = try await h.consumer(.events, "dedupe", filters: [h.evt(">")])
            let got = try await consumer.fetch(batch: 10, wait: .seconds(1))
            #expect(got.count == 1)
            #expect(got.first?.message.id == message.id)
            for d in got { try await d.ack() }
        }
    }

    @Test(arguments: BusKind.allCases)
    func nakWithDelayRedeliversAfterTheDelay(kind: BusKind) async throws {
        try await withBus(kind) { h in
            let consumer = try await h.consumer(.commands, "nak", filters: [h.cmd(">")], ackWait: .seconds(1))
            try await h.bus.publish(h.message(h.cmd("retry"), "r"))
            let first = try await consumer.fetch(batch: 1, wait: .seconds(2))
            try #require(first.count == 1)
            try await first[0].nak(delay: .milliseconds(1500))
            #expect(try await consumer.fetch(batch: 1, wait: .milliseconds(700)).isEmpty)
            let again = try await consumer.fetch(batch: 1, wait: .seconds(3))
            try #require(again.count == 1)
            #expect(again[0].attempt == 2)
            #expect(text(again[0]) == "r")
            try await again[0].ack()
        }
    }

    @Test(arguments: BusKind.allCases)
    func nakWithoutDelayRedeliversAtOnce(kind: BusKind) async throws {
        try await withBus(kind) { h in
            let consumer = try await h.consumer(.commands, "nak0", filters: [h.cmd(">")], ackWait: .seconds(5), maxDeliver: 2)
            try await h.bus.publish(h.message(h.cmd("retry"), "r"))
            let first = try await consumer.fetch(batch: 1, wait: .seconds(2))
            try #require(first.count == 1)
            try await first[0].nak()
            let again = try await consumer.fetch(batch: 1, wait: .seconds(2))
            try #require(again.count == 1)
            #expect(again[0].attempt == 2)
            #expect(again[0].isLastAttempt)
            try await again[0].ack()
        }
    }

    @Test(arguments: BusKind.allCases)
    func deliveriesStopAfterMaxDeliverPlusOne(kind: BusKind) async throws {
        try await withBus(kind) { h in
            // maxDeliver 1: the server allows one extra delivery so a crashed last attempt can still dead-letter.
            let consumer = try await h.consumer(.commands, "max", filters: [h.cmd(">")], ackWait: .seconds(1), maxDeliver: 1)
            try await h.bus.publish(h.message(h.cmd("flaky"), "f"))
            var attempts: [Int] = []
            for _ in 0..<3 {
                let got = try await consumer.fetch(batch: 1, wait: .milliseconds(800))
                attempts += got.map(\.attempt)
                for d in got { try await d.nak() }
            }
            #expect(attempts == [1, 2])
        }
    }

    @Test(arguments: BusKind.allCases)
    func unsettledDeliveryIsRedeliveredAfterAckWait(kind: BusKind) async throws {
        try await withBus(kind) { h in
            let consumer = try await h.consumer(.commands, "slow", filters: [h.cmd(">")], ackWait: .seconds(1))
            try await h.bus.publish(h.message(h.cmd("work"), "w"))
            let first = try await consumer.fetch(batch: 1, wait: .seconds(2))
            try #require(first.count == 1)
            #expect(try await consumer.fetch(batch: 1, wait: .milliseconds(400)).isEmpty)
            let again = try await consumer.fetch(batch: 1, wait: .seconds(4))
            try #require(again.count == 1)
            #expect(again[0].attempt == 2)
            try await again[0].ack()
            // Settling the stale first delivery is harmless.
            try? await first[0].ack()
        }
    }

    @Test(arguments: BusKind.allCases)
    func inProgressExtendsTheAckWait(kind: BusKind) async throws {
        try await withBus(kind) { h in
            let consumer = try await h.consumer(.commands, "wpi", filters: [h.cmd(">")], ackWait: .seconds(2))
            try await h.bus.publish(h.message(h.cmd("long"), "l"))
            let first = try await consumer.fetch(batch: 1, wait: .seconds(2))
            try #require(first.count == 1)
            try await Task.sleep(for: .milliseconds(1200))
            try await first[0].inProgress()
            // 2.4 s after delivery (past the original ack wait, within the extended one): not redelivered.
            #expect(try await consumer.fetch(batch: 1, wait: .milliseconds(1200)).isEmpty)
            try await first[0].ack()
            #expect(try await consumer.fetch(batch: 1, wait: .milliseconds(500)).isEmpty)
        }
    }

    @Test(arguments: BusKind.allCases)
    func termIsNeverRedelivered(kind: BusKind) async throws {
        try await withBus(kind) { h in
            let consumer = try await h.consumer(.commands, "term", filters: [h.cmd(">")], ackWait: .seconds(1))
            try await h.bus.publish(h.message(h.cmd("bad"), "b"))
            let first = try await consumer.fetch(batch: 1, wait: .seconds(2))
            try #require(first.count == 1)
            try await first[0].term()
            #expect(try await consumer.fetch(batch: 1, wait: .milliseconds(2500)).isEmpty)
        }
    }

    @Test(arguments: BusKind.allCases)
    func deadLetterMovesTheMessageToDLQ(kind: BusKind) async throws {
        try await withBus(kind) { h in
            let consumer = try await h.consumer(.commands, "dl", filters: [h.cmd(">")], ackWait: .seconds(1), maxDeliver: 1)
            let original = h.message(h.cmd("explode"), "payload", headers: ["Dv-Task": "tsk_1"])
            try await h.bus.publish(original)
            let got = try await consumer.fetch(batch: 1, wait: .seconds(2))
            try #require(got.count == 1)
            #expect(got[0].isLastAttempt)
            try await h.bus.deadLetter(got[0], reason: "disk on fire")
            let dlq = try await h.consumer(.deadLetters, "dlq", filters: ["dv.dlq.\(h.cmd(">"))"])
            let dead = try await dlq.fetch(batch: 10, wait: .seconds(2))
            try #require(dead.count == 1)
            let message = dead[0].message
            #expect(message.subject == "dv.dlq.\(original.subject)")
            #expect(message.id == "dlq-\(original.id)")
            #expect(message.payload == original.payload)
            #expect(message.headers["Dv-Dead-Letter-Reason"] == "disk on fire")
            #expect(message.headers["Dv-Original-Subject"] == original.subject)
            #expect(message.headers["Dv-Attempts"] == "1")
            #expect(message.headers["Dv-Task"] == "tsk_1")
            try await dead[0].ack()
            #expect(try await consumer.fetch(batch: 1, wait: .milliseconds(2000)).isEmpty)
        }
    }

    /// Poison that the old dead-lettering could not move (it copied every header and the whole body): a
    /// command carrying `Nats-Expected-Stream: DV_CMD`, and one a few bytes under the server's maximum payload.
    @Test(arguments: BusKind.allCases)
    func poisonIsDeadLetteredWhateverItsHeadersAndSize(kind: BusKind) async throws {
        try await withBus(kind) { h in
            let consumer = try await h.consumer(.commands, "poison", filters: [h.cmd(">")], ackWait: .seconds(5), maxDeliver: 1)
            let pinned = h.message(h.cmd("pinned"), "pinned", headers: ["Nats-Expected-Stream": "DV_CMD", "Dv-Task": "tsk_2"])
            let big = BusMessage(subject: h.cmd("big"), id: "big-\(kind)", payload: Array(repeating: UInt8(ascii: "x"), count: (1 << 20) - 200))
            try await h.bus.publish(pinned)
            try await h.bus.publish(big)
            var got: [BusDelivery] = []
            for _ in 0..<20 where got.count < 2 { got += try await consumer.fetch(batch: 2, wait: .seconds(2)) }
            try #require(got.count == 2)
            for delivery in got { try await h.bus.deadLetter(delivery, reason: "poison\r\nwith a line break") }
            let dlq = try await h.consumer(.deadLetters, "dlq-poison", filters: ["dv.dlq.\(h.cmd(">"))"])
            var dead: [BusDelivery] = []
            for _ in 0..<20 where dead.count < 2 { dead += try await dlq.fetch(batch: 2, wait: .seconds(2)) }
            let bySubject = Dictionary(uniqueKeysWithValues: dead.map { ($0.message.subject, $0.message) })
            let pinnedLetter = try #require(bySubject["dv.dlq.\(pinned.subject)"])
            #expect(pinnedLetter.headers["Nats-Expected-Stream"] == nil)
            #expect(pinnedLetter.headers["Dv-Task"] == "tsk_2")
            #expect(pinnedLetter.headers["Dv-Dead-Letter-Reason"] == "poison with a line break")
            #expect(pinnedLetter.payload == pinned.payload)
            let bigLetter = try #require(bySubject["dv.dlq.\(big.subject)"])
            #expect(bigLetter.payload.count == DeadLetter.maxBody)
            #expect(bigLetter.headers["Dv-Original-Bytes"] == String(big.payload.count))
            #expect(bigLetter.headers["Dv-Original-Id"] == big.id)
            // Both originals were terminated once the DLQ had them: the work queue is empty.
            #expect(try await consumer.fetch(batch: 2, wait: .milliseconds(1500)).isEmpty)
        }
    }

    @Test(arguments: BusKind.allCases)
    func subjectFiltersWithWildcards(kind: BusKind) async throws {
        try await withBus(kind) { h in
            for subject in ["vm.created", "vm.deleted", "disk.created", "disk.snapshot.created"] {
                try await h.bus.publish(h.message(h.evt(subject), subject))
            }
            func drain(_ consumer: any BusConsumer) async throws -> [String] {
                var out: [String] = []
                while true {
                    let got = try await consumer.fetch(batch: 10, wait: .milliseconds(700))
                    if got.isEmpty { return out.sorted() }
                    for d in got { try await d.ack() }
                    out += got.map(text)
                }
            }
            let star = try await h.consumer(.events, "star", filters: [h.evt("*.created")])
            #expect(try await drain(star) == ["disk.created", "vm.created"])
            let rest = try await h.consumer(.events, "rest", filters: [h.evt("disk.>")])
            #expect(try await drain(rest) == ["disk.created", "disk.snapshot.created"])
            let several = try await h.consumer(.events, "several", filters: [h.evt("vm.deleted"), h.evt("disk.*.created")])
            #expect(try await drain(several) == ["disk.snapshot.created", "vm.deleted"])
            let everything = try await h.consumer(.events, "all", filters: [h.evt(">")])
            #expect(try await drain(everything).count == 4)
        }
    }

    @Test(arguments: BusKind.allCases)
    func emptyFetchReturnsWithinItsWait(kind: BusKind) async throws {
        try await withBus(kind) { h in
            let consumer = try await h.consumer(.events, "empty", filters: [h.evt(">")])
            let clock = ContinuousClock()
            let start = clock.now
            let got = try await consumer.fetch(batch: 5, wait: .milliseconds(500))
            let elapsed = clock.now - start
            #expect(got.isEmpty)
            #expect(elapsed >= .milliseconds(400))
            #expect(elapsed < .milliseconds(1600))
            let quick = clock.now
            #expect(try await consumer.fetch(batch: 5, wait: .zero).isEmpty)
            #expect(clock.now - quick < .seconds(1))
        }
    }

    @Test(arguments: BusKind.allCases)
    func fetchWakesOnPublishAndReturnsWhatIsReady(kind: BusKind) async throws {
        try await withBus(kind) { h in
            let consumer = try await h.consumer(.events, "wake", filters: [h.evt(">")])
            let clock = ContinuousClock()
            let start = clock.now
            async let waiting = consumer.fetch(batch: 10, wait: .seconds(10))
            try await Task.sleep(for: .milliseconds(200))
            try await h.bus.publish(h.message(h.evt("x.y"), "woken"))
            let got = try await waiting
            #expect(got.map(text) == ["woken"])
            #expect(clock.now - start < .seconds(5))
            for d in got { try await d.ack() }
        }
    }

    @Test(arguments: BusKind.allCases)
    func severalFiltersWaitWithoutStrandingMessages(kind: BusKind) async throws {
        try await withBus(kind) { h in
            let consumer = try await h.consumer(.commands, "multi", filters: [h.cmd("a"), h.cmd("b")], ackWait: .seconds(30))
            let clock = ContinuousClock()
            let start = clock.now
            async let waiting = consumer.fetch(batch: 5, wait: .seconds(5))
            try await Task.sleep(for: .milliseconds(300))
            try await h.bus.publish(h.message(h.cmd("b"), "b1"))
            let first = try await waiting
            #expect(first.map(text) == ["b1"])
            #expect(clock.now - start < .seconds(3))
            // Nothing is left with an abandoned pull request: the next messages arrive at once, first attempt.
            try await h.bus.publish(h.message(h.cmd("a"), "a1"))
            try await h.bus.publish(h.message(h.cmd("b"), "b2"))
            var next: [BusDelivery] = []
            for _ in 0..<3 where next.count < 2 {
                next += try await consumer.fetch(batch: 5, wait: .seconds(1))
            }
            #expect(next.map(text).sorted() == ["a1", "b2"])
            #expect(next.allSatisfy { $0.attempt == 1 })
            for d in first + next { try await d.ack() }
        }
    }

    @Test(arguments: BusKind.allCases)
    func cloudEventRoundTrip(kind: BusKind) async throws {
        try await withBus(kind) { h in
            let event = CloudEvent(source: "/dv/compute", type: "dv.compute.evt.vm.created", subject: "vm_1",
                                   time: Date(timeIntervalSince1970: 1_700_000_000), data: JSONText(#"{"cpus":4,"name":"web"}"#),
                                   correlationid: "corr-\(h.token)", tenant: "acme", actor: "usr_1", datacenter: "osl1")
            let message = try BusMessage(event: event, subject: h.evt("vm.created"))
            #expect(message.id == event.id)
            try await h.bus.publish(message)
            let consumer = try await h.consumer(.events, "ce", filters: [h.evt(">")])
            let got = try await consumer.fetch(batch: 1, wait: .seconds(2))
            try #require(got.count == 1)
            #expect(got[0].message.id == event.id)
            #expect(got[0].message.headers["Content-Type"] == "application/cloudevents+json")
            #expect(try got[0].message.event() == event)
            try await got[0].ack()
        }
    }

    @Test(arguments: BusKind.allCases)
    func subscribeAndBroadcastFanOut(kind: BusKind) async throws {
        try await withBus(kind) { h in
            let first = try await h.bus.subscribe("dv.\(h.service).hb.*")
            let second = try await h.bus.subscribe("dv.\(h.service).hb.>")
            let other = try await h.bus.subscribe("dv.\(h.service).other")
            let beat = h.message("dv.\(h.service).hb.compute", "alive", id: "hb-1", headers: ["Dv-Node": "n1"])
            try await h.bus.broadcast(beat)
            let a = await collect(first, count: 1, timeout: .seconds(2))
            let b = await collect(second, count: 1, timeout: .seconds(2))
            #expect(a == [beat])
            #expect(b == [beat])
            #expect(await collect(other, count: 1, timeout: .milliseconds(200)).isEmpty)
        }
    }

    @Test(arguments: BusKind.allCases)
    func closeEndsOutstandingFetchesAndSubscriptions(kind: BusKind) async throws {
        try await withBus(kind) { h in
            // A second bus on the same consumer (deleted by the harness), closed while a fetch and a subscription wait.
            _ = try await h.consumer(.events, "closing", filters: [h.evt(">")])
            let other = try await openBus(kind)
            let consumer = try await other.consumer(ConsumerSpec(stream: .events, name: h.name("closing"), filterSubjects: [h.evt(">")]))
            let stream = try await other.subscribe("dv.\(h.service).hb")
            let clock = ContinuousClock()
            let start = clock.now
            async let pending = consumer.fetch(batch: 1, wait: .seconds(20))
            try await Task.sleep(for: .milliseconds(300))
            await other.close()
            #expect((try? await pending)?.isEmpty ?? true)
            #expect(clock.now - start < .seconds(5))
            #expect(await collect(stream, count: 1, timeout: .seconds(3)).isEmpty)
            #expect(clock.now - start < .seconds(5))
            await #expect(throws: DataverketError.self) { try await other.publish(h.message(h.evt("late"), "x")) }
            await #expect(throws: DataverketError.self) { _ = try await consumer.fetch(batch: 1, wait: .milliseconds(100)) }
        }
    }

    @Test(arguments: BusKind.allCases)
    func invalidInputIsRejected(kind: BusKind) async throws {
        try await withBus(kind) { h in
            await #expect(throws: DataverketError.self) { try await h.bus.publish(h.message("nowhere.\(h.token)", "x")) }
            await #expect(throws: DataverketError.self) { try await h.bus.publish(h.message(h.cmd("*"), "x")) }
            await #expect(throws: DataverketError.self) { try await h.bus.publish(h.message(h.cmd("a..b"), "x")) }
            await #expect(throws: DataverketError.self) { try await h.bus.publish(h.message(h.cmd("a"), "x", id: "")) }
            await #expect(throws: DataverketError.self) { try await h.bus.publish(h.message(h.cmd("a"), "x", headers: ["Bad: name": "v"])) }
            await #expect(throws: DataverketError.self) { try await h.bus.broadcast(h.message(h.cmd("a"), "x", headers: ["K": "v\r\nX: y"])) }
            do {
                try await h.bus.publish(h.message(h.evt("big"), String(repeating: "x", count: 2 << 20)))
                Issue.record("a 2 MiB message was accepted")
            } catch let error as DataverketError {
                #expect(error.code == .payloadTooLarge)
            }
            await #expect(throws: DataverketError.self) {
                _ = try await h.bus.consumer(ConsumerSpec(stream: .events, name: "bad.name", filterSubjects: [h.evt(">")]))
            }
            await #expect(throws: DataverketError.self) {
                _ = try await h.bus.consumer(ConsumerSpec(stream: .events, name: h.name("bad"), filterSubjects: ["dv.>.x"]))
            }
            let consumer = try await h.consumer(.events, "batch", filters: [h.evt(">")])
            await #expect(throws: DataverketError.self) { _ = try await consumer.fetch(batch: 0, wait: .zero) }
        }
    }
}
