import DataverketCore
import Foundation
import Logging
import NATS
import NIOCore

/// The production bus (DESIGN.md "Bus"): NATS JetStream through the project's `NATS` client.
///
/// Streams (created or updated by `provision()`):
/// - `DV_CMD`: `dv.*.cmd.>`, work-queue retention, file storage.
/// - `DV_EVT`: `dv.*.evt.>` (this covers `dv.task.evt.>`), limits retention, 7 days.
/// - `DV_DLQ`: `dv.dlq.dv.>` (what `deadLetter` publishes to: `dv.dlq.` + a `dv.…` subject), limits, 30 days.
///   It cannot be `dv.dlq.>`: that overlaps `dv.*.cmd.>` (e.g. `dv.dlq.cmd.x`) and the server rejects it.
public struct JetStreamBus: Bus {
    /// Connection settings, usually parsed from `DV_NATS_URL` with `init(url:)`.
    public struct Configuration: Sendable, Hashable, CustomStringConvertible {
        /// `nats://host:port` or `tls://host:port`, without credentials.
        public var servers: [String]
        public var user: String?
        public var password: String?
        public var token: String?
        /// Require TLS (with the default client TLS configuration) on every server. For a custom CA or client
        /// certificate, build `NATSOptions` yourself and use `init(client:configuration:logger:)`.
        public var tls: Bool
        /// Connection name shown by the server.
        public var name: String
        public var connectTimeout: Duration
        /// Timeout for JetStream API calls, publish acks and ack confirmations.
        public var requestTimeout: Duration
        /// `duplicate_window` of the streams.
        public var duplicateWindow: Duration
        /// Messages buffered per `subscribe`r before newer ones are dropped.
        public var subscriberBufferSize: Int

        public init(servers: [String] = ["nats://127.0.0.1:4222"], user: String? = nil, password: String? = nil, token: String? = nil,
                    tls: Bool = false, name: String = "dataverket", connectTimeout: Duration = .seconds(5),
                    requestTimeout: Duration = .seconds(5), duplicateWindow: Duration = .seconds(120), subscriberBufferSize: Int = 1024) {
            self.servers = servers
            self.user = user
            self.password = password
            self.token = token
            self.tls = tls
            self.name = name
            self.connectTimeout = connectTimeout
            self.requestTimeout = requestTimeout
            self.duplicateWindow = duplicateWindow
            self.subscriberBufferSize = subscriberBufferSize
        }

        /// Parses `nats://[user:pass@]host[:port][,host[:port]...]` (also `tls://`, `nats://token@host`,
        /// percent-encoded credentials, and scheme-less extra servers, which inherit the first scheme).
        public init(url: String) throws {
            self.init()
            let parts = url.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
            guard !parts.isEmpty else { throw DataverketError.invalid("natsURL", "is empty") }
            var servers: [String] = []
            var defaultScheme = "nats"
            var sawCredentials = false
            for (index, part) in parts.enumerated() {
                var rest = Substring(part)
                var scheme = defaultScheme
                if let range = rest.range(of: "://") {
                    scheme = rest[..<range.lowerBound].lowercased()
                    guard scheme == "nats" || scheme == "tls" else {
                        throw DataverketError.invalid("natsURL", "unsupported scheme '\(scheme)' (use nats:// or tls://)")
                    }
                    rest = rest[range.upperBound...]
                    if index == 0 { defaultScheme = scheme }
                }
                if let slash = rest.firstIndex(of: "/") {
                    guard rest[slash...].allSatisfy({ $0 == "/" }) else {
                        throw DataverketError.invalid("natsURL", "'\(part)' must not have a path")
                    }
                    rest = rest[..<slash]
                }
                if let at = rest.lastIndex(of: "@") {
                    let userinfo = rest[..<at]
                    rest = rest[rest.index(after: at)...]
                    if !sawCredentials {
                        sawCredentials = true
                        if let colon = userinfo.firstIndex(of: ":") {
                            user = try Self.decode(userinfo[..<colon])
                            password = try Self.decode(userinfo[userinfo.index(after: colon)...])
                        } else {
                            token = try Self.decode(userinfo)
                        }
                    }
                }
                let hostPort = try Self.hostPort(rest, in: part)
                if scheme == "tls" { tls = true }
                servers.append("\(scheme)://\(hostPort)")
            }
            self.servers = tls ? servers.map { $0.hasPrefix("nats://") ? "tls://" + $0.dropFirst(7) : $0 } : servers
        }

        private static func decode(_ text: Substring) throws -> String {
            guard let decoded = String(text).removingPercentEncoding, !decoded.isEmpty else {
                throw DataverketError.invalid("natsURL", "bad credentials encoding")
            }
            return decoded
        }

        private static func hostPort(_ text: Substring, in part: String) throws -> String {
            var host = text
            var port = "4222"
            if text.hasPrefix("[") {
                guard let close = text.firstIndex(of: "]") else { throw DataverketError.invalid("natsURL", "bad IPv6 address in '\(part)'") }
                host = text[...close]
                let after = text[text.index(after: close)...]
                if after.hasPrefix(":") { port = String(after.dropFirst()) } else if !after.isEmpty {
                    throw DataverketError.invalid("natsURL", "bad address '\(part)'")
                }
            } else if let colon = text.lastIndex(of: ":") {
                host = text[..<colon]
                port = String(text[text.index(after: colon)...])
            }
            guard !host.isEmpty, !host.contains(where: { $0 == " " || $0 == "@" }) else {
                throw DataverketError.invalid("natsURL", "missing or bad host in '\(part)'")
            }
            guard let number = Int(port), (1...65535).contains(number) else {
                throw DataverketError.invalid("natsURL", "bad port in '\(part)'")
            }
            return "\(host):\(number)"
        }

        /// The NATS client options for this configuration.
        public func natsOptions() -> NATSOptions {
            var options = NATSOptions(servers: servers, name: name, user: user, password: password, token: token,
                                      connectTimeout: connectTimeout, requestTimeout: requestTimeout)
            options.subscriptionBufferSize = max(1, subscriberBufferSize)
            // Reply inboxes under the user's own prefix, so a service's NATS user may subscribe to its own
            // replies only (ServicePermissions).
            if let user, !user.isEmpty {
                options.inboxPrefix = "_INBOX." + String(user.map { $0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" ? $0 : "_" })
            }
            return options
        }

        /// The servers and which credentials are set; never the secrets.
        public var description: String {
            var auth = "none"
            if user != nil { auth = "user '\(user ?? "")' + password" } else if token != nil { auth = "token" }
            return "JetStreamBus.Configuration(servers: \(servers), auth: \(auth), tls: \(tls))"
        }
    }

    public let client: NATSClient
    public let configuration: Configuration
    let jetStream: JetStream
    let logger: Logger

    /// Uses an already connected client (e.g. one built with a custom TLS configuration).
    public init(client: NATSClient, configuration: Configuration, logger: Logger) {
        self.client = client
        self.configuration = configuration
        self.jetStream = JetStream(client: client, timeout: configuration.requestTimeout)
        self.logger = logger
    }

    /// Connects to the first reachable server; throws `.unavailable` when none is.
    public static func connect(_ configuration: Configuration, logger: Logger) async throws -> JetStreamBus {
        let client: NATSClient
        do {
            client = try await NATSClient.connect(configuration.natsOptions(), logger: logger)
        } catch {
            throw BusError.map(error, "connecting to NATS (\(configuration))")
        }
        return JetStreamBus(client: client, configuration: configuration, logger: logger)
    }

    /// The stream configurations `provision()` applies.
    public static func streamConfigs(duplicateWindow: Duration = .seconds(120)) -> [StreamConfig] {
        let day = Duration.seconds(86_400)
        return [
            StreamConfig(name: BusStream.commands.name, subjects: ["dv.*.cmd.>"], retention: .workQueue, storage: .file,
                         duplicateWindow: duplicateWindow, description: "Dataverket commands (work queue)"),
            StreamConfig(name: BusStream.events.name, subjects: ["dv.*.evt.>"], retention: .limits, storage: .file,
                         maxAge: day * 7, duplicateWindow: duplicateWindow, description: "Dataverket events"),
            StreamConfig(name: BusStream.deadLetters.name, subjects: ["dv.dlq.dv.>"], retention: .limits, storage: .file,
                         maxAge: day * 30, duplicateWindow: duplicateWindow, description: "Dataverket dead letters"),
        ]
    }

    // MARK: Bus

    public func provision() async throws {
        for config in Self.streamConfigs(duplicateWindow: configuration.duplicateWindow) {
            do {
                _ = try await jetStream.createOrUpdateStream(config)
            } catch {
                throw BusError.map(error, "provisioning stream \(config.name)")
            }
        }
        logger.debug("bus streams provisioned", metadata: ["streams": "DV_CMD, DV_EVT, DV_DLQ"])
    }

    @discardableResult
    public func publish(_ message: BusMessage) async throws -> PublishAck {
        try message.validate(stored: true, maxBytes: Int.max)
        guard InProcessBus.streamName(for: message.subject) != nil else {
            throw DataverketError(.invalidArgument, "no stream accepts subject '\(message.subject)'")
        }
        do {
            let ack = try await jetStream.publish(message.subject, payload: message.payload, msgID: message.id,
                                                  headers: Self.natsHeaders(message.headers))
            return PublishAck(stream: ack.stream, sequence: ack.seq, duplicate: ack.duplicate)
        } catch {
            throw BusError.map(error, "publishing to '\(message.subject)'")
        }
    }

    /// Pipelined: every message is sent before the first PubAck is awaited (one round trip for the batch, not one each).
    public func publish(_ messages: [BusMessage]) async -> [Result<PublishAck, any Error>] {
        var results = [Result<PublishAck, any Error>?](repeating: nil, count: messages.count)
        var batch: [(index: Int, message: (subject: String, payload: ByteBuffer, msgID: String?, headers: NATSHeaders?))] = []
        for (index, message) in messages.enumerated() {
            do {
                try message.validate(stored: true, maxBytes: Int.max)
                guard InProcessBus.streamName(for: message.subject) != nil else {
                    throw DataverketError(.invalidArgument, "no stream accepts subject '\(message.subject)'")
                }
                batch.append((index, (message.subject, ByteBuffer(bytes: message.payload), message.id, Self.natsHeaders(message.headers))))
            } catch {
                results[index] = .failure(error)
            }
        }
        let acks = await jetStream.publish(batch: batch.map(\.message))
        for (item, ack) in zip(batch, acks) {
            results[item.index] = ack.map { PublishAck(stream: $0.stream, sequence: $0.seq, duplicate: $0.duplicate) }
                .mapError { BusError.map($0, "publishing to '\(item.message.subject)'") }
        }
        return results.map { $0! }
    }

    public func consumer(_ spec: ConsumerSpec) async throws -> any BusConsumer {
        try InProcessBus.validateName(spec.name)
        for filter in spec.filterSubjects {
            try SubjectPattern.validate(filter, wildcards: true, field: "filterSubjects")
        }
        guard spec.ackWait > .zero else { throw DataverketError.invalid("ackWait", "must be positive") }
        guard spec.maxDeliver >= 1 else { throw DataverketError.invalid("maxDeliver", "must be at least 1") }
        var names: [String] = []
        for (name, filter) in Self.serverConsumers(spec) {
            let config = ConsumerConfig(durableName: name, description: "Dataverket consumer \(spec.name)", deliverPolicy: .all,
                                        ackPolicy: .explicit, ackWait: spec.ackWait, maxDeliver: spec.maxDeliver + 1,
                                        filterSubject: filter)
            do {
                _ = try await jetStream.createConsumer(stream: spec.stream.name, config: config)
            } catch {
                throw BusError.map(error, "creating consumer '\(name)' on \(spec.stream)")
            }
            names.append(name)
        }
        return JetStreamConsumer(client: client, jetStream: jetStream, stream: spec.stream.name, names: names,
                                 maxDeliver: spec.maxDeliver, timeout: configuration.requestTimeout, logger: logger)
    }

    public func subscribe(_ subject: String) async throws -> AsyncStream<BusMessage> {
        try SubjectPattern.validate(subject, wildcards: true)
        let subscription: NATSSubscription
        do {
            subscription = try await client.subscribe(subject, bufferSize: max(1, configuration.subscriberBufferSize))
        } catch {
            throw BusError.map(error, "subscribing to '\(subject)'")
        }
        let (stream, continuation) = AsyncStream.makeStream(of: BusMessage.self,
                                                            bufferingPolicy: .bufferingOldest(max(1, configuration.subscriberBufferSize)))
        let forward = Task {
            for await message in subscription {
                continuation.yield(Self.busMessage(message, fallbackID: ""))
            }
            continuation.finish()
        }
        continuation.onTermination = { _ in forward.cancel() }
        return stream
    }

    public func broadcast(_ message: BusMessage) async throws {
        try message.validate(stored: false, maxBytes: Int.max)
        var headers = Self.natsHeaders(message.headers)
        if !message.id.isEmpty { headers["Nats-Msg-Id"] = message.id }
        do {
            try await client.publish(message.subject, payload: message.payload, headers: headers.isEmpty ? nil : headers)
        } catch {
            throw BusError.map(error, "broadcasting to '\(message.subject)'")
        }
    }

    public func close() async {
        await client.close()
    }

    // MARK: Extras

    /// Deletes the server-side consumer(s) of `spec` (no-op when they do not exist).
    public func deleteConsumer(_ spec: ConsumerSpec) async throws {
        for (name, _) in Self.serverConsumers(spec) {
            do {
                try await jetStream.deleteConsumer(stream: spec.stream.name, consumer: name)
            } catch let error as JetStreamError where error.code == 404 {
                continue
            } catch {
                throw BusError.map(error, "deleting consumer '\(name)' on \(spec.stream)")
            }
        }
    }

    /// The durable consumers on the server for `spec`: the name itself for zero or one filter subject; for several,
    /// one consumer per subject named `<name>_<hash of subject>` (nats-server 2.9 has no `filter_subjects`).
    static func serverConsumers(_ spec: ConsumerSpec) -> [(name: String, filter: String?)] {
        guard spec.filterSubjects.count > 1 else { return [(spec.name, spec.filterSubjects.first)] }
        var seen = Set<String>()
        return spec.filterSubjects.filter { seen.insert($0).inserted }.map { filter in
            var hash: UInt64 = 0xcbf2_9ce4_8422_2325
            for byte in filter.utf8 {
                hash ^= UInt64(byte)
                hash = hash &* 0x0000_0100_0000_01B3
            }
            let hex = String(hash, radix: 16)
            return ("\(spec.name)_\(String(repeating: "0", count: 16 - hex.count))\(hex)", filter)
        }
    }

    static func natsHeaders(_ headers: [String: String]) -> NATSHeaders {
        var result = NATSHeaders()
        for key in headers.keys.sorted() {
            if let value = headers[key] { result[key] = value }
        }
        return result
    }

    static func busMessage(_ message: NATSMessage, fallbackID: String) -> BusMessage {
        var headers: [String: String] = [:]
        var id = fallbackID
        for (name, value) in message.headers ?? NATSHeaders() {
            if name == "Nats-Msg-Id" {
                id = value
            } else if headers[name] == nil {
                headers[name] = value
            }
        }
        return BusMessage(subject: message.subject, id: id, payload: message.payloadBytes, headers: headers)
    }
}

/// A durable pull consumer on the JetStream bus (one or, for several filter subjects, a few server consumers).
struct JetStreamConsumer: BusConsumer {
    let client: NATSClient
    let jetStream: JetStream
    let stream: String
    let names: [String]
    let maxDeliver: Int
    let timeout: Duration
    let logger: Logger

    /// Pull without waiting; if nothing is there, wait up to `wait` for one message, then take whatever else is
    /// ready (up to `batch`). So a fetch never waits for a full batch.
    func fetch(batch: Int, wait: Duration) async throws -> [BusDelivery] {
        guard batch >= 1, batch <= 10_000 else { throw DataverketError.invalid("batch", "must be in 1...10000") }
        do {
            var messages = try await pullReady(batch)
            if messages.isEmpty, wait >= .milliseconds(10) {
                messages = try await pullWaiting(wait)
                if !messages.isEmpty, messages.count < batch {
                    messages += try await pullReady(batch - messages.count)
                }
            }
            return messages.map(delivery)
        } catch let error as CancellationError {
            throw error
        } catch {
            throw BusError.map(error, "fetching from consumer '\(names.first ?? "")' on \(stream)")
        }
    }

    private func pullReady(_ batch: Int) async throws -> [JetStreamMessage] {
        var out: [JetStreamMessage] = []
        let start = names.count > 1 ? Int.random(in: 0..<names.count) : 0
        for offset in 0..<names.count where out.count < batch {
            let name = names[(start + offset) % names.count]
            out += try await jetStream.fetch(stream: stream, consumer: name, batch: batch - out.count, noWait: true)
        }
        return out
    }

    /// Waits up to `wait` for one message. With several server consumers they are long-polled in turn, in slices
    /// of at most 250 ms: concurrent pulls would leave pull requests open on the server after the first message,
    /// and a message delivered to such an abandoned request would only come back after `ackWait`, one attempt older.
    private func pullWaiting(_ wait: Duration) async throws -> [JetStreamMessage] {
        if names.count == 1 {
            return try await jetStream.fetch(stream: stream, consumer: names[0], batch: 1, expires: wait)
        }
        let clock = ContinuousClock()
        let deadline = clock.now.advanced(by: wait)
        var index = Int.random(in: 0..<names.count)
        while true {
            let remaining = deadline - clock.now
            if remaining < .milliseconds(10) { return [] }
            let got = try await jetStream.fetch(stream: stream, consumer: names[index % names.count], batch: 1,
                                                expires: min(remaining, .milliseconds(250)))
            if !got.isEmpty { return got }
            index += 1
        }
    }

    private func delivery(_ message: JetStreamMessage) -> BusDelivery {
        let fallbackID = message.metadata.map { "\($0.stream)-\($0.streamSequence)" } ?? ""
        let client = self.client
        let timeout = self.timeout
        let reply = message.message.replyTo
        return BusDelivery(message: JetStreamBus.busMessage(message.message, fallbackID: fallbackID),
                           attempt: Int(message.metadata?.numDelivered ?? 1), maxDeliver: maxDeliver) { settlement in
            guard let reply, reply.hasPrefix("$JS.ACK.") else {
                throw DataverketError(.internal, "delivery has no JetStream ack subject")
            }
            let body: String
            switch settlement {
            case .ack: body = "+ACK"
            case .nak(let delay):
                if let delay, delay > .zero {
                    let (seconds, attoseconds) = delay.components
                    body = "-NAK {\"delay\": \(seconds * 1_000_000_000 + attoseconds / 1_000_000_000)}"
                } else {
                    body = "-NAK"
                }
            case .inProgress: body = "+WPI"
            case .term: body = "+TERM"
            }
            do {
                // As a request: returns once the server has processed the settlement.
                _ = try await client.request(reply, payload: body, timeout: timeout)
            } catch {
                throw BusError.map(error, "settling delivery (\(body.prefix(5)))")
            }
        }
    }
}

/// Maps client and server errors onto `DataverketError`.
enum BusError {
    static func map(_ error: any Error, _ context: String) -> any Error {
        if error is DataverketError || error is CancellationError { return error }
        if let error = error as? JetStreamError {
            switch (error.code, error.errCode) {
            case (_, 10100), (_, 10148), (_, 10105):
                return DataverketError(.conflict, "\(context): \(error.errorDescription)", cause: error)
            case (404, _):
                return DataverketError(.notFound, "\(context): \(error.errorDescription) (is the bus provisioned?)", cause: error)
            case (400, _):
                return DataverketError(.invalidArgument, "\(context): \(error.errorDescription)", cause: error)
            default:
                return DataverketError(.unavailable, "\(context): \(error.errorDescription)", cause: error)
            }
        }
        if let error = error as? NATSError {
            switch error.code {
            case .invalidArgument:
                return DataverketError(.invalidArgument, "\(context): \(error.message)", cause: error)
            case .payloadTooLarge:
                return DataverketError(.payloadTooLarge, "\(context): \(error.message)", cause: error)
            default:
                return DataverketError(.unavailable, "\(context): \(error.message)", cause: error)
            }
        }
        return DataverketError(.unavailable, "\(context): \(error)", cause: error)
    }
}
