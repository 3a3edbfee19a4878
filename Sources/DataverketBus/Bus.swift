import DataverketCore
import Foundation
import Logging

/// The command/event backbone (DESIGN.md "Bus"): NATS JetStream in production, in-process when embedded.
/// Both implementations pass the same conformance suite (Tests/DataverketBusTests).
///
/// Streams:
/// - `DV_CMD`: subjects `dv.*.cmd.>`, work-queue retention — each command is consumed once.
/// - `DV_EVT`: subjects `dv.*.evt.>` (which covers `dv.task.evt.>`), limits retention — events fan out to every consumer.
/// - `DV_DLQ`: subjects `dv.dlq.dv.>` (`deadLetter` prefixes `dv.dlq.` to the `dv.…` subject) — messages that failed
///   `maxDeliver` times, with the failure reason. Not `dv.dlq.>`: that overlaps `dv.*.cmd.>` and NATS rejects it.
public protocol Bus: Sendable {
    /// Creates or updates the streams. Idempotent; called once at start-up.
    func provision() async throws

    /// Publishes durably: returns once the message is stored. A message whose `id` was already published
    /// within the duplicate window is acknowledged as a duplicate and not stored again.
    @discardableResult
    func publish(_ message: BusMessage) async throws -> PublishAck

    /// Publishes several messages durably, pipelined where the bus can: the bus stores them in the order given, and
    /// one result per message says whether it was stored. A failed message does not stop the later ones (on a retry
    /// of the failed one, those stay stored before it).
    func publish(_ messages: [BusMessage]) async -> [Result<PublishAck, any Error>]

    /// A durable pull consumer on `spec.stream`, created or bound by name. Consumers with the same name share
    /// the work (each message goes to one of them).
    func consumer(_ spec: ConsumerSpec) async throws -> any BusConsumer

    /// Ephemeral, non-durable fan-out (heartbeats, wake-ups): every current subscriber gets every message
    /// published with `broadcast` after it subscribed. The sequence ends when the bus closes.
    func subscribe(_ subject: String) async throws -> AsyncStream<BusMessage>

    /// Fire-and-forget publish to `subscribe`rs; nothing is stored.
    func broadcast(_ message: BusMessage) async throws

    /// Closes connections; outstanding fetches end.
    func close() async
}

/// One message on the bus. `id` is the dedupe key (JetStream `Nats-Msg-Id`); for envelopes it is the
/// CloudEvent id.
public struct BusMessage: Sendable, Hashable {
    public var subject: String
    public var id: String
    public var payload: [UInt8]
    public var headers: [String: String]

    public init(subject: String, id: String, payload: [UInt8], headers: [String: String] = [:]) {
        self.subject = subject
        self.id = id
        self.payload = payload
        self.headers = headers
    }

    /// A message carrying a CloudEvent (structured JSON), keyed by the event id.
    public init(event: CloudEvent, subject: String? = nil) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        encoder.dateEncodingStrategy = .iso8601
        self.init(subject: subject ?? event.type, id: event.id, payload: Array(try encoder.encode(event)),
                  headers: ["Content-Type": "application/cloudevents+json"])
    }

    public func event() throws -> CloudEvent {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        return try decoder.decode(CloudEvent.self, from: Data(payload))
    }
}

public struct PublishAck: Sendable, Hashable {
    public var stream: String
    public var sequence: UInt64
    public var duplicate: Bool
    public init(stream: String, sequence: UInt64, duplicate: Bool) {
        self.stream = stream
        self.sequence = sequence
        self.duplicate = duplicate
    }
}

/// The streams of the bus.
public struct BusStream: Sendable, Hashable, CustomStringConvertible {
    public let name: String
    private init(_ name: String) { self.name = name }
    public static let commands = BusStream("DV_CMD")
    public static let events = BusStream("DV_EVT")
    public static let deadLetters = BusStream("DV_DLQ")
    public var description: String { name }
}

/// A durable consumer's settings.
public struct ConsumerSpec: Sendable, Hashable {
    public var stream: BusStream
    /// Durable name; consumers sharing it share the work.
    public var name: String
    /// Subjects to receive (NATS wildcards allowed); empty means the whole stream.
    public var filterSubjects: [String]
    /// Redelivery if a delivery is neither acked, nak'ed nor marked in progress within this time.
    public var ackWait: Duration
    /// After this many deliveries a failing message goes to `DV_DLQ` instead of being redelivered.
    public var maxDeliver: Int

    public init(stream: BusStream, name: String, filterSubjects: [String] = [], ackWait: Duration = .seconds(30), maxDeliver: Int = 5) {
        self.stream = stream
        self.name = name
        self.filterSubjects = filterSubjects
        self.ackWait = ackWait
        self.maxDeliver = maxDeliver
    }
}

/// A durable pull consumer.
public protocol BusConsumer: Sendable {
    /// Up to `batch` deliveries, waiting at most `wait` for the first one; empty when there is nothing.
    func fetch(batch: Int, wait: Duration) async throws -> [BusDelivery]
}

/// One delivery of a message to a consumer; settle it exactly once with `ack`, `nak`, `term` or `deadLetter`.
public struct BusDelivery: Sendable {
    public var message: BusMessage
    /// 1 on first delivery.
    public var attempt: Int
    public var maxDeliver: Int
    let settle: @Sendable (Settlement) async throws -> Void

    public init(message: BusMessage, attempt: Int, maxDeliver: Int, settle: @escaping @Sendable (Settlement) async throws -> Void) {
        self.message = message
        self.attempt = attempt
        self.maxDeliver = maxDeliver
        self.settle = settle
    }

    /// How a delivery was settled.
    public enum Settlement: Sendable, Hashable {
        case ack
        case nak(delay: Duration?)
        case inProgress
        case term
    }

    /// Done: never redelivered.
    public func ack() async throws { try await settle(.ack) }
    /// Failed for now: redelivered after `delay` (or at once).
    public func nak(delay: Duration? = nil) async throws { try await settle(.nak(delay: delay)) }
    /// Still working: resets the ack-wait timer.
    public func inProgress() async throws { try await settle(.inProgress) }
    /// Failed for good: never redelivered, not dead-lettered.
    public func term() async throws { try await settle(.term) }
    /// Whether a failure now would be the last allowed attempt.
    public var isLastAttempt: Bool { attempt >= maxDeliver }
}

extension Bus {
    /// One message after the other, each awaited before the next is sent.
    public func publish(_ messages: [BusMessage]) async -> [Result<PublishAck, any Error>] {
        var results: [Result<PublishAck, any Error>] = []
        for message in messages {
            do {
                results.append(.success(try await publish(message)))
            } catch {
                results.append(.failure(error))
            }
        }
        return results
    }

    /// Moves a delivery that failed for good to `DV_DLQ` (subject `dv.dlq.<original subject>`) with the
    /// reason and attempt count in headers, then terminates it so it is never redelivered. The dead letter does
    /// not depend on the poison message's headers or size: transport headers (`Nats-*`, such as
    /// `Nats-Expected-Stream`, which would refuse the DLQ publish) are dropped, the other headers are bounded,
    /// and a body over `DeadLetter.maxBody` is cut to that size (its full size in `Dv-Original-Bytes`). The
    /// original is terminated only after the DLQ confirmed the publish; if the publish fails this throws and
    /// the delivery stays unsettled (redelivered), so nothing is lost.
    public func deadLetter(_ delivery: BusDelivery, reason: String) async throws {
        try await publish(DeadLetter.message(for: delivery, reason: reason))
        try await delivery.term()
    }
}

extension Bus {
    /// Dead-letters a delivery and logs it once the DLQ confirmed it; if that fails, logs why and leaves the
    /// delivery for redelivery (nak after `retry`), where the next attempt dead-letters again.
    public func deadLetterOrRetry(_ delivery: BusDelivery, reason: String, retry: Duration = .seconds(5), logger: Logger) async {
        let metadata: Logger.Metadata = ["subject": "\(delivery.message.subject)", "message_id": "\(delivery.message.id)",
                                         "attempt": "\(delivery.attempt)", "reason": "\(reason)"]
        do {
            try await deadLetter(delivery, reason: reason)
            logger.error("message dead-lettered", metadata: metadata)
        } catch {
            var metadata = metadata
            metadata["error"] = "\(error)"
            logger.error("dead-lettering failed; the message stays and is redelivered", metadata: metadata)
            try? await delivery.nak(delay: retry)
        }
    }
}

/// What `Bus.deadLetter` publishes.
public enum DeadLetter {
    /// Bytes of the original body kept in a dead letter.
    public static let maxBody = 64 << 10
    /// Original headers kept (beyond the dead letter's own), and the bytes of each value.
    static let maxHeaders = 32
    static let maxHeaderValue = 1024

    public static func message(for delivery: BusDelivery, reason: String) -> BusMessage {
        let original = delivery.message
        var headers: [String: String] = [:]
        for name in original.headers.keys.sorted() where headers.count < maxHeaders {
            guard !name.lowercased().hasPrefix("nats-"), !name.hasPrefix("Dv-Dead-Letter-"), name.utf8.count <= 128,
                  let value = original.headers[name] else { continue }
            headers[name] = clip(value, maxHeaderValue)
        }
        headers["Dv-Dead-Letter-Reason"] = String(clip(reason, 1024).map { $0 == "\r" || $0 == "\n" || $0 == "\r\n" ? " " : $0 })
        headers["Dv-Original-Subject"] = original.subject
        headers["Dv-Original-Id"] = clip(original.id, 256)
        headers["Dv-Attempts"] = String(delivery.attempt)
        var payload = original.payload
        if payload.count > maxBody {
            headers["Dv-Original-Bytes"] = String(payload.count)
            payload = Array(payload.prefix(maxBody))
        }
        return BusMessage(subject: "dv.dlq." + original.subject, id: "dlq-" + clip(original.id, 256),
                          payload: payload, headers: headers)
    }

    private static func clip(_ text: String, _ bytes: Int) -> String {
        String(decoding: text.utf8.prefix(bytes), as: UTF8.self)
    }
}
