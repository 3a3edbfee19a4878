import Foundation
import NIOCore

/// JetStream API over a `NATSClient`.
public struct JetStream: Sendable {
    public let client: NATSClient
    public var apiPrefix: String
    /// Timeout for API requests and publish acks.
    public var timeout: Duration

    public init(client: NATSClient, apiPrefix: String = "$JS.API", timeout: Duration = .seconds(5)) {
        self.client = client
        self.apiPrefix = apiPrefix
        self.timeout = timeout
    }

    // MARK: Streams

    public func createStream(_ config: StreamConfig) async throws -> StreamInfo {
        try Self.validateName(config.name)
        return try await api("STREAM.CREATE.\(config.name)", body: config)
    }

    public func updateStream(_ config: StreamConfig) async throws -> StreamInfo {
        try Self.validateName(config.name)
        return try await api("STREAM.UPDATE.\(config.name)", body: config)
    }

    /// Creates the stream, or updates it when a stream with that name already exists (err_code 10058).
    public func createOrUpdateStream(_ config: StreamConfig) async throws -> StreamInfo {
        do {
            return try await createStream(config)
        } catch let error as JetStreamError where error.errCode == JetStreamError.streamNameInUse {
            return try await updateStream(config)
        } catch let error as JetStreamError where error.errCode == JetStreamError.subjectsOverlap {
            // Two clients creating the same stream at once: the loser can be told "subjects overlap" (by the stream
            // the winner just made) rather than "name in use". If a stream of this name exists now, it is ours.
            guard (try? await streamInfo(config.name)) != nil else { throw error }
            return try await updateStream(config)
        }
    }

    public func streamInfo(_ name: String) async throws -> StreamInfo {
        try Self.validateName(name)
        return try await api("STREAM.INFO.\(name)", body: Optional<SuccessResponse>.none)
    }

    public func deleteStream(_ name: String) async throws {
        try Self.validateName(name)
        let _: SuccessResponse = try await api("STREAM.DELETE.\(name)", body: Optional<SuccessResponse>.none)
    }

    // MARK: Consumers

    /// Creates (or idempotently re-creates) a durable pull consumer.
    public func createConsumer(stream: String, config: ConsumerConfig) async throws -> ConsumerInfo {
        try Self.validateName(stream)
        guard let durable = config.durableName else {
            throw NATSError(code: .invalidArgument, message: "durable_name is required")
        }
        try Self.validateName(durable)
        return try await api("CONSUMER.CREATE.\(stream).\(durable)", body: ConsumerCreateRequest(streamName: stream, config: config))
    }

    public func consumerInfo(stream: String, consumer: String) async throws -> ConsumerInfo {
        try Self.validateName(stream)
        try Self.validateName(consumer)
        return try await api("CONSUMER.INFO.\(stream).\(consumer)", body: Optional<SuccessResponse>.none)
    }

    public func deleteConsumer(stream: String, consumer: String) async throws {
        try Self.validateName(stream)
        try Self.validateName(consumer)
        let _: SuccessResponse = try await api("CONSUMER.DELETE.\(stream).\(consumer)", body: Optional<SuccessResponse>.none)
    }

    // MARK: Publish

    /// Publishes to a stream subject and awaits the PubAck. `msgID` sets `Nats-Msg-Id` for de-duplication.
    public func publish(_ subject: String, payload: ByteBuffer, msgID: String? = nil, headers: NATSHeaders? = nil, timeout: Duration? = nil) async throws -> PubAck {
        var headers = headers ?? NATSHeaders()
        if let msgID { headers["Nats-Msg-Id"] = msgID }
        let reply: NATSMessage
        do {
            reply = try await client.request(subject, payload: payload, headers: headers.isEmpty ? nil : headers, timeout: timeout ?? self.timeout)
        } catch let error as NATSError where error.code == .noResponders {
            throw NATSError(code: .noResponders, message: "no JetStream stream is listening on '\(subject)' (or JetStream is disabled)", cause: error)
        }
        return try Self.decodeResponse(PubAck.self, from: reply)
    }

    public func publish(_ subject: String, payload: [UInt8], msgID: String? = nil, headers: NATSHeaders? = nil, timeout: Duration? = nil) async throws -> PubAck {
        try await publish(subject, payload: ByteBuffer(bytes: payload), msgID: msgID, headers: headers, timeout: timeout)
    }

    /// Publishes several messages pipelined: all are sent, in order (the stream stores them in that order), before
    /// any PubAck is awaited. One result per message, in the same order; each fails or succeeds alone.
    public func publish(batch: [(subject: String, payload: ByteBuffer, msgID: String?, headers: NATSHeaders?)],
                        timeout: Duration? = nil) async -> [Result<PubAck, any Error>] {
        let requests = batch.map { message -> (subject: String, payload: ByteBuffer, headers: NATSHeaders?) in
            var headers = message.headers ?? NATSHeaders()
            if let msgID = message.msgID { headers["Nats-Msg-Id"] = msgID }
            return (message.subject, message.payload, headers.isEmpty ? nil : headers)
        }
        let replies = await client.requests(requests, timeout: timeout ?? self.timeout)
        return zip(batch, replies).map { message, reply in
            Result {
                do {
                    return try Self.decodeResponse(PubAck.self, from: try reply.get())
                } catch let error as NATSError where error.code == .noResponders {
                    throw NATSError(code: .noResponders, message: "no JetStream stream is listening on '\(message.subject)' (or JetStream is disabled)", cause: error)
                }
            }
        }
    }

    // MARK: Fetch

    /// Pulls up to `batch` messages from a durable pull consumer. Returns when `batch` messages arrived,
    /// the server signals 404/408/409, or `expires` (+ a grace period) elapsed.
    public func fetch(stream: String, consumer: String, batch: Int, expires: Duration = .seconds(1), noWait: Bool = false) async throws -> [JetStreamMessage] {
        try Self.validateName(stream)
        try Self.validateName(consumer)
        guard batch > 0, batch <= 10_000 else { throw NATSError(code: .invalidArgument, message: "batch must be in 1...10000") }
        let inbox = await client.newInbox()
        let sub = try await client.subscribe(inbox, bufferSize: batch + 32)
        let request = PullRequest(batch: batch, expires: noWait ? nil : expires.nanoseconds, noWait: noWait ? true : nil)
        let body = try JSONEncoder().encode(request)
        do {
            try await client.publish("\(apiPrefix).CONSUMER.MSG.NEXT.\(stream).\(consumer)", payload: ByteBuffer(bytes: body), reply: inbox)
        } catch {
            try? await sub.unsubscribe()
            throw error
        }
        let deadline = (noWait ? timeout : expires) + .milliseconds(500)
        let client = self.client
        let result: Result<[NATSMessage], NATSError> = await withTaskGroup(of: Result<[NATSMessage], NATSError>?.self) { group in
            group.addTask {
                var collected: [NATSMessage] = []
                for await message in sub {
                    switch message.status {
                    case nil:
                        collected.append(message)
                        if collected.count >= batch { return .success(collected) }
                    case 100:
                        continue  // idle heartbeat
                    case 404, 408, 409:
                        return .success(collected)
                    case 503:
                        return .failure(NATSError(code: .noResponders, message: "JetStream not available for pull request"))
                    default:
                        return .failure(NATSError(code: .jetStream, message: "unexpected status \(message.status ?? 0) \(message.headers?.statusDescription ?? "")"))
                    }
                }
                return .success(collected)
            }
            group.addTask {
                try? await Task.sleep(for: deadline)
                return nil
            }
            var outcome: Result<[NATSMessage], NATSError> = .success([])
            while let next = await group.next() {
                if let next {
                    outcome = next
                    group.cancelAll()
                    break
                }
                // Deadline: cancelling the collector makes its iteration end, returning what it has.
                group.cancelAll()
            }
            return outcome
        }
        try? await sub.unsubscribe()
        let messages = try result.get()
        return messages.map { JetStreamMessage(message: $0, client: client) }
    }

    // MARK: Internals

    private func api<Body: Encodable & Sendable, Response: Decodable>(_ suffix: String, body: Body?) async throws -> Response {
        var payload = ByteBuffer()
        if let body {
            payload = ByteBuffer(bytes: try JSONEncoder().encode(body))
        }
        let subject = "\(apiPrefix).\(suffix)"
        let reply: NATSMessage
        do {
            reply = try await client.request(subject, payload: payload, timeout: timeout)
        } catch let error as NATSError where error.code == .noResponders {
            throw NATSError(code: .noResponders, message: "JetStream API '\(subject)' has no responders (is JetStream enabled?)", cause: error)
        }
        return try Self.decodeResponse(Response.self, from: reply)
    }

    static func decodeResponse<Response: Decodable>(_ type: Response.Type, from reply: NATSMessage) throws -> Response {
        let data = Data(reply.payload.readableBytesView)
        let decoder = JSONDecoder()
        if let envelope = try? decoder.decode(JetStreamAPIEnvelope.self, from: data), let error = envelope.error {
            throw JetStreamError(code: error.code, errCode: error.errCode ?? 0, description: error.description ?? "")
        }
        do {
            return try decoder.decode(Response.self, from: data)
        } catch {
            throw NATSError(code: .jetStream, message: "unexpected JetStream response: \(String(decoding: data.prefix(256), as: UTF8.self))", cause: error)
        }
    }

    static func validateName(_ name: String) throws {
        guard !name.isEmpty, name.utf8.count <= 255,
              !name.utf8.contains(where: { $0 <= 32 || $0 == UInt8(ascii: ".") || $0 == UInt8(ascii: "*") || $0 == UInt8(ascii: ">") || $0 == 127 }) else {
            throw NATSError(code: .invalidArgument, message: "invalid stream/consumer name '\(name)'")
        }
    }
}

/// A message fetched from a JetStream pull consumer, with ack operations.
public struct JetStreamMessage: Sendable {
    public let message: NATSMessage
    public let metadata: JetStreamMetadata?
    let client: NATSClient

    init(message: NATSMessage, client: NATSClient) {
        self.message = message
        self.metadata = message.replyTo.flatMap { JetStreamMetadata(replySubject: $0) }
        self.client = client
    }

    public var subject: String { message.subject }
    public var payload: ByteBuffer { message.payload }
    public var headers: NATSHeaders? { message.headers }

    private func replySubject() throws -> String {
        guard let reply = message.replyTo, reply.hasPrefix("$JS.ACK.") else {
            throw NATSError(code: .jetStream, message: "message has no JetStream ack subject")
        }
        return reply
    }

    /// `+ACK` (fire and forget).
    public func ack() async throws {
        try await client.publish(try replySubject(), payload: "+ACK")
    }

    /// `+ACK` and wait for the server's confirmation.
    public func ackSync(timeout: Duration = .seconds(5)) async throws {
        _ = try await client.request(try replySubject(), payload: "+ACK", timeout: timeout)
    }

    /// `-NAK`, optionally with a redelivery delay (`-NAK {"delay": ns}`).
    public func nak(delay: Duration? = nil) async throws {
        let body = delay.map { "-NAK {\"delay\": \($0.nanoseconds)}" } ?? "-NAK"
        try await client.publish(try replySubject(), payload: body)
    }

    /// `+TERM`: never redeliver.
    public func term() async throws {
        try await client.publish(try replySubject(), payload: "+TERM")
    }

    /// `+WPI`: work in progress, resets the ack timer.
    public func inProgress() async throws {
        try await client.publish(try replySubject(), payload: "+WPI")
    }
}
