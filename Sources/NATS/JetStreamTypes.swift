import Foundation

// Policy types are string-backed structs (not enums) so new server values never break decoding.

public struct RetentionPolicy: RawRepresentable, Codable, Hashable, Sendable {
    public var rawValue: String
    public init(rawValue: String) { self.rawValue = rawValue }
    public static let limits = RetentionPolicy(rawValue: "limits")
    public static let interest = RetentionPolicy(rawValue: "interest")
    public static let workQueue = RetentionPolicy(rawValue: "workqueue")
}

public struct StorageType: RawRepresentable, Codable, Hashable, Sendable {
    public var rawValue: String
    public init(rawValue: String) { self.rawValue = rawValue }
    public static let file = StorageType(rawValue: "file")
    public static let memory = StorageType(rawValue: "memory")
}

public struct DiscardPolicy: RawRepresentable, Codable, Hashable, Sendable {
    public var rawValue: String
    public init(rawValue: String) { self.rawValue = rawValue }
    public static let old = DiscardPolicy(rawValue: "old")
    public static let new = DiscardPolicy(rawValue: "new")
}

public struct AckPolicy: RawRepresentable, Codable, Hashable, Sendable {
    public var rawValue: String
    public init(rawValue: String) { self.rawValue = rawValue }
    public static let explicit = AckPolicy(rawValue: "explicit")
    public static let none = AckPolicy(rawValue: "none")
    public static let all = AckPolicy(rawValue: "all")
}

public struct DeliverPolicy: RawRepresentable, Codable, Hashable, Sendable {
    public var rawValue: String
    public init(rawValue: String) { self.rawValue = rawValue }
    public static let all = DeliverPolicy(rawValue: "all")
    public static let last = DeliverPolicy(rawValue: "last")
    public static let new = DeliverPolicy(rawValue: "new")
    public static let byStartSequence = DeliverPolicy(rawValue: "by_start_sequence")
    public static let byStartTime = DeliverPolicy(rawValue: "by_start_time")
    public static let lastPerSubject = DeliverPolicy(rawValue: "last_per_subject")
}

public struct ReplayPolicy: RawRepresentable, Codable, Hashable, Sendable {
    public var rawValue: String
    public init(rawValue: String) { self.rawValue = rawValue }
    public static let instant = ReplayPolicy(rawValue: "instant")
    public static let original = ReplayPolicy(rawValue: "original")
}

extension KeyedDecodingContainer {
    func decodeNanos(_ key: Key) throws -> Duration? {
        try decodeIfPresent(Int64.self, forKey: key).map { Duration.nanoseconds($0) }
    }
}

/// Stream configuration (`$JS.API.STREAM.CREATE.<name>`). Durations are sent as nanoseconds.
public struct StreamConfig: Codable, Sendable, Hashable {
    public var name: String
    public var subjects: [String]
    public var retention: RetentionPolicy
    public var storage: StorageType
    public var maxMsgs: Int64
    public var maxBytes: Int64
    /// `.zero` = unlimited.
    public var maxAge: Duration
    public var maxMsgSize: Int32
    public var maxConsumers: Int
    /// Window for `Nats-Msg-Id` de-duplication; nil = server default (2 minutes).
    public var duplicateWindow: Duration?
    public var numReplicas: Int
    public var discard: DiscardPolicy
    public var description: String?

    public init(name: String,
                subjects: [String] = [],
                retention: RetentionPolicy = .limits,
                storage: StorageType = .file,
                maxMsgs: Int64 = -1,
                maxBytes: Int64 = -1,
                maxAge: Duration = .zero,
                maxMsgSize: Int32 = -1,
                maxConsumers: Int = -1,
                duplicateWindow: Duration? = nil,
                numReplicas: Int = 1,
                discard: DiscardPolicy = .old,
                description: String? = nil) {
        self.name = name
        self.subjects = subjects
        self.retention = retention
        self.storage = storage
        self.maxMsgs = maxMsgs
        self.maxBytes = maxBytes
        self.maxAge = maxAge
        self.maxMsgSize = maxMsgSize
        self.maxConsumers = maxConsumers
        self.duplicateWindow = duplicateWindow
        self.numReplicas = numReplicas
        self.discard = discard
        self.description = description
    }

    enum CodingKeys: String, CodingKey {
        case name, subjects, retention, storage
        case maxMsgs = "max_msgs"
        case maxBytes = "max_bytes"
        case maxAge = "max_age"
        case maxMsgSize = "max_msg_size"
        case maxConsumers = "max_consumers"
        case duplicateWindow = "duplicate_window"
        case numReplicas = "num_replicas"
        case discard, description
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        name = try c.decode(String.self, forKey: .name)
        subjects = try c.decodeIfPresent([String].self, forKey: .subjects) ?? []
        retention = try c.decodeIfPresent(RetentionPolicy.self, forKey: .retention) ?? .limits
        storage = try c.decodeIfPresent(StorageType.self, forKey: .storage) ?? .file
        maxMsgs = try c.decodeIfPresent(Int64.self, forKey: .maxMsgs) ?? -1
        maxBytes = try c.decodeIfPresent(Int64.self, forKey: .maxBytes) ?? -1
        maxAge = try c.decodeNanos(.maxAge) ?? .zero
        maxMsgSize = try c.decodeIfPresent(Int32.self, forKey: .maxMsgSize) ?? -1
        maxConsumers = try c.decodeIfPresent(Int.self, forKey: .maxConsumers) ?? -1
        duplicateWindow = try c.decodeNanos(.duplicateWindow)
        numReplicas = try c.decodeIfPresent(Int.self, forKey: .numReplicas) ?? 1
        discard = try c.decodeIfPresent(DiscardPolicy.self, forKey: .discard) ?? .old
        description = try c.decodeIfPresent(String.self, forKey: .description)
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(name, forKey: .name)
        try c.encode(subjects, forKey: .subjects)
        try c.encode(retention, forKey: .retention)
        try c.encode(storage, forKey: .storage)
        try c.encode(maxMsgs, forKey: .maxMsgs)
        try c.encode(maxBytes, forKey: .maxBytes)
        try c.encode(maxAge.nanoseconds, forKey: .maxAge)
        try c.encode(maxMsgSize, forKey: .maxMsgSize)
        try c.encode(maxConsumers, forKey: .maxConsumers)
        try c.encodeIfPresent(duplicateWindow?.nanoseconds, forKey: .duplicateWindow)
        try c.encode(numReplicas, forKey: .numReplicas)
        try c.encode(discard, forKey: .discard)
        try c.encodeIfPresent(description, forKey: .description)
    }
}

public struct StreamState: Codable, Sendable, Hashable {
    public var messages: UInt64
    public var bytes: UInt64
    public var firstSeq: UInt64
    public var lastSeq: UInt64
    public var consumerCount: Int

    enum CodingKeys: String, CodingKey {
        case messages, bytes
        case firstSeq = "first_seq"
        case lastSeq = "last_seq"
        case consumerCount = "consumer_count"
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        messages = try c.decodeIfPresent(UInt64.self, forKey: .messages) ?? 0
        bytes = try c.decodeIfPresent(UInt64.self, forKey: .bytes) ?? 0
        firstSeq = try c.decodeIfPresent(UInt64.self, forKey: .firstSeq) ?? 0
        lastSeq = try c.decodeIfPresent(UInt64.self, forKey: .lastSeq) ?? 0
        consumerCount = try c.decodeIfPresent(Int.self, forKey: .consumerCount) ?? 0
    }
}

public struct StreamInfo: Codable, Sendable, Hashable {
    public var config: StreamConfig
    public var state: StreamState
    public var created: String?
}

/// Durable pull consumer configuration.
public struct ConsumerConfig: Codable, Sendable, Hashable {
    public var durableName: String?
    public var name: String?
    public var description: String?
    public var deliverPolicy: DeliverPolicy
    public var optStartSeq: UInt64?
    public var ackPolicy: AckPolicy
    public var ackWait: Duration
    /// -1 = unlimited.
    public var maxDeliver: Int
    public var filterSubject: String?
    public var replayPolicy: ReplayPolicy
    public var maxAckPending: Int?
    public var maxWaiting: Int?
    /// Redelivery backoff schedule; when set, its count must be <= maxDeliver (server rule).
    public var backoff: [Duration]?

    public init(durableName: String?,
                description: String? = nil,
                deliverPolicy: DeliverPolicy = .all,
                optStartSeq: UInt64? = nil,
                ackPolicy: AckPolicy = .explicit,
                ackWait: Duration = .seconds(30),
                maxDeliver: Int = -1,
                filterSubject: String? = nil,
                replayPolicy: ReplayPolicy = .instant,
                maxAckPending: Int? = nil,
                maxWaiting: Int? = nil,
                backoff: [Duration]? = nil) {
        self.durableName = durableName
        self.name = durableName
        self.description = description
        self.deliverPolicy = deliverPolicy
        self.optStartSeq = optStartSeq
        self.ackPolicy = ackPolicy
        self.ackWait = ackWait
        self.maxDeliver = maxDeliver
        self.filterSubject = filterSubject
        self.replayPolicy = replayPolicy
        self.maxAckPending = maxAckPending
        self.maxWaiting = maxWaiting
        self.backoff = backoff
    }

    enum CodingKeys: String, CodingKey {
        case durableName = "durable_name"
        case name, description
        case deliverPolicy = "deliver_policy"
        case optStartSeq = "opt_start_seq"
        case ackPolicy = "ack_policy"
        case ackWait = "ack_wait"
        case maxDeliver = "max_deliver"
        case filterSubject = "filter_subject"
        case replayPolicy = "replay_policy"
        case maxAckPending = "max_ack_pending"
        case maxWaiting = "max_waiting"
        case backoff
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        durableName = try c.decodeIfPresent(String.self, forKey: .durableName)
        name = try c.decodeIfPresent(String.self, forKey: .name)
        description = try c.decodeIfPresent(String.self, forKey: .description)
        deliverPolicy = try c.decodeIfPresent(DeliverPolicy.self, forKey: .deliverPolicy) ?? .all
        optStartSeq = try c.decodeIfPresent(UInt64.self, forKey: .optStartSeq)
        ackPolicy = try c.decodeIfPresent(AckPolicy.self, forKey: .ackPolicy) ?? .explicit
        ackWait = try c.decodeNanos(.ackWait) ?? .seconds(30)
        maxDeliver = try c.decodeIfPresent(Int.self, forKey: .maxDeliver) ?? -1
        filterSubject = try c.decodeIfPresent(String.self, forKey: .filterSubject)
        replayPolicy = try c.decodeIfPresent(ReplayPolicy.self, forKey: .replayPolicy) ?? .instant
        maxAckPending = try c.decodeIfPresent(Int.self, forKey: .maxAckPending)
        maxWaiting = try c.decodeIfPresent(Int.self, forKey: .maxWaiting)
        backoff = try c.decodeIfPresent([Int64].self, forKey: .backoff)?.map { Duration.nanoseconds($0) }
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encodeIfPresent(durableName, forKey: .durableName)
        try c.encodeIfPresent(description, forKey: .description)
        try c.encode(deliverPolicy, forKey: .deliverPolicy)
        try c.encodeIfPresent(optStartSeq, forKey: .optStartSeq)
        try c.encode(ackPolicy, forKey: .ackPolicy)
        try c.encode(ackWait.nanoseconds, forKey: .ackWait)
        try c.encode(maxDeliver, forKey: .maxDeliver)
        try c.encodeIfPresent(filterSubject, forKey: .filterSubject)
        try c.encode(replayPolicy, forKey: .replayPolicy)
        try c.encodeIfPresent(maxAckPending, forKey: .maxAckPending)
        try c.encodeIfPresent(maxWaiting, forKey: .maxWaiting)
        try c.encodeIfPresent(backoff?.map(\.nanoseconds), forKey: .backoff)
    }
}

public struct SequenceInfo: Codable, Sendable, Hashable {
    public var consumerSeq: UInt64
    public var streamSeq: UInt64

    enum CodingKeys: String, CodingKey {
        case consumerSeq = "consumer_seq"
        case streamSeq = "stream_seq"
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        consumerSeq = try c.decodeIfPresent(UInt64.self, forKey: .consumerSeq) ?? 0
        streamSeq = try c.decodeIfPresent(UInt64.self, forKey: .streamSeq) ?? 0
    }
}

public struct ConsumerInfo: Codable, Sendable, Hashable {
    public var streamName: String
    public var name: String
    public var config: ConsumerConfig
    public var delivered: SequenceInfo?
    public var ackFloor: SequenceInfo?
    public var numAckPending: Int
    public var numRedelivered: Int
    public var numWaiting: Int
    public var numPending: UInt64

    enum CodingKeys: String, CodingKey {
        case streamName = "stream_name"
        case name, config, delivered
        case ackFloor = "ack_floor"
        case numAckPending = "num_ack_pending"
        case numRedelivered = "num_redelivered"
        case numWaiting = "num_waiting"
        case numPending = "num_pending"
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        streamName = try c.decode(String.self, forKey: .streamName)
        name = try c.decode(String.self, forKey: .name)
        config = try c.decode(ConsumerConfig.self, forKey: .config)
        delivered = try c.decodeIfPresent(SequenceInfo.self, forKey: .delivered)
        ackFloor = try c.decodeIfPresent(SequenceInfo.self, forKey: .ackFloor)
        numAckPending = try c.decodeIfPresent(Int.self, forKey: .numAckPending) ?? 0
        numRedelivered = try c.decodeIfPresent(Int.self, forKey: .numRedelivered) ?? 0
        numWaiting = try c.decodeIfPresent(Int.self, forKey: .numWaiting) ?? 0
        numPending = try c.decodeIfPresent(UInt64.self, forKey: .numPending) ?? 0
    }
}

/// Acknowledgement of a JetStream publish.
public struct PubAck: Codable, Sendable, Hashable {
    public var stream: String
    public var seq: UInt64
    public var duplicate: Bool
    public var domain: String?

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        stream = try c.decode(String.self, forKey: .stream)
        seq = try c.decode(UInt64.self, forKey: .seq)
        duplicate = try c.decodeIfPresent(Bool.self, forKey: .duplicate) ?? false
        domain = try c.decodeIfPresent(String.self, forKey: .domain)
    }
}

/// Metadata parsed from a JetStream ack reply subject.
public struct JetStreamMetadata: Sendable, Hashable {
    public var domain: String?
    public var accountHash: String?
    public var stream: String
    public var consumer: String
    /// How many times this message has been delivered (1 = first delivery).
    public var numDelivered: UInt64
    public var streamSequence: UInt64
    public var consumerSequence: UInt64
    /// Nanoseconds since the Unix epoch.
    public var timestamp: Int64
    public var numPending: UInt64

    /// Parses `$JS.ACK.<stream>.<consumer>.<delivered>.<sseq>.<cseq>.<ts>.<pending>` (v1) and
    /// `$JS.ACK.<domain>.<account hash>.<stream>.<consumer>.<delivered>.<sseq>.<cseq>.<ts>.<pending>[.<token>]` (v2).
    public init?(replySubject: String) {
        let t = replySubject.split(separator: ".", omittingEmptySubsequences: false).map(String.init)
        guard t.count >= 9, t[0] == "$JS", t[1] == "ACK" else { return nil }
        let base: Int
        if t.count == 9 {
            base = 2
            domain = nil
            accountHash = nil
        } else if t.count == 11 || t.count == 12 {
            base = 4
            domain = (t[2] == "_" || t[2].isEmpty) ? nil : t[2]
            accountHash = t[3]
        } else {
            return nil
        }
        guard let delivered = UInt64(t[base + 2]), let sseq = UInt64(t[base + 3]), let cseq = UInt64(t[base + 4]),
              let ts = Int64(t[base + 5]), let pending = UInt64(t[base + 6]), !t[base].isEmpty, !t[base + 1].isEmpty else {
            return nil
        }
        stream = t[base]
        consumer = t[base + 1]
        numDelivered = delivered
        streamSequence = sseq
        consumerSequence = cseq
        timestamp = ts
        numPending = pending
    }
}

struct JetStreamAPIErrorBody: Codable, Sendable {
    var code: Int
    var errCode: Int?
    var description: String?

    enum CodingKeys: String, CodingKey {
        case code
        case errCode = "err_code"
        case description
    }
}

struct JetStreamAPIEnvelope: Codable, Sendable {
    var error: JetStreamAPIErrorBody?
}

struct ConsumerCreateRequest: Codable, Sendable {
    var streamName: String
    var config: ConsumerConfig

    enum CodingKeys: String, CodingKey {
        case streamName = "stream_name"
        case config
    }
}

struct PullRequest: Codable, Sendable {
    var batch: Int
    var expires: Int64?
    var noWait: Bool?

    enum CodingKeys: String, CodingKey {
        case batch, expires
        case noWait = "no_wait"
    }
}

struct SuccessResponse: Codable, Sendable {
    var success: Bool?
}
