import DataverketBus
import DataverketCore
import Foundation
import Logging
import ServiceLifecycle

/// What a service says about itself, every `interval`, on `dv.health.<service>` (broadcast, not stored).
public struct Heartbeat: Codable, Sendable, Hashable {
    public var service: String
    public var instance: String
    public var version: String
    public var datacenter: String?
    /// `healthy` or `degraded`.
    public var status: String
    public var detail: String?
    public var at: Date

    public init(service: String, instance: String, version: String, datacenter: String?, status: String = "healthy",
                detail: String? = nil, at: Date = Date()) {
        self.service = service
        self.instance = instance
        self.version = version
        self.datacenter = datacenter
        self.status = status
        self.detail = detail
        self.at = at
    }

    public static func subject(_ service: String) -> String { "dv.health.\(service)" }
}

/// Publishes this process's heartbeat for one service until shutdown.
public struct HeartbeatPublisher: Service {
    public let bus: any Bus
    public let heartbeat: @Sendable () async -> Heartbeat
    public let interval: Duration
    public let logger: Logger

    public init(bus: any Bus, interval: Duration = .seconds(2), logger: Logger, heartbeat: @escaping @Sendable () async -> Heartbeat) {
        self.bus = bus
        self.interval = interval
        self.logger = logger
        self.heartbeat = heartbeat
    }

    public func run() async throws {
        try? await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                let beat = await heartbeat()
                do {
                    let encoder = JSONEncoder()
                    encoder.dateEncodingStrategy = .iso8601
                    try await bus.broadcast(BusMessage(subject: Heartbeat.subject(beat.service), id: ULID.make(),
                                                       payload: Array(try encoder.encode(beat))))
                } catch {
                    logger.warning("heartbeat not sent", metadata: ["error": "\(error)"])
                }
                try await Task.sleep(for: interval)
            }
        }
    }
}

/// One service's health as the control plane sees it.
public struct ServiceHealth: Sendable, Hashable {
    public var service: String
    /// `healthy`, `degraded` or `down` (no heartbeat for three intervals).
    public var status: String
    public var lastSeen: Date
    public var version: String
    public var datacenter: String?
    public var instance: String
    public var detail: String?
}

/// The health registry: the latest heartbeat per service and instance, and what follows from it.
public actor HealthRegistry {
    private var latest: [String: Heartbeat] = [:]
    private let staleAfter: Duration

    public init(staleAfter: Duration = .seconds(6)) {
        self.staleAfter = staleAfter
    }

    public func record(_ beat: Heartbeat) {
        latest["\(beat.service)/\(beat.instance)"] = beat
    }

    /// Every known service, one entry per service (its freshest instance), sorted by name.
    public func services(now: Date = Date()) -> [ServiceHealth] {
        var best: [String: Heartbeat] = [:]
        for beat in latest.values where (best[beat.service]?.at ?? .distantPast) < beat.at {
            best[beat.service] = beat
        }
        return best.values.sorted { $0.service < $1.service }.map { beat in
            ServiceHealth(service: beat.service, status: classify(beat, now: now), lastSeen: beat.at, version: beat.version,
                          datacenter: beat.datacenter, instance: beat.instance, detail: beat.detail)
        }
    }

    /// `healthy`, `degraded`, `down`, or nil if the service was never seen.
    public func status(of service: String, now: Date = Date()) -> String? {
        services(now: now).first { $0.service == service }?.status
    }

    private func classify(_ beat: Heartbeat, now: Date) -> String {
        let age = now.timeIntervalSince(beat.at)
        let limit = Double(staleAfter.components.seconds) + Double(staleAfter.components.attoseconds) / 1e18
        if age > limit { return "down" }
        return beat.status == "degraded" ? "degraded" : "healthy"
    }

    /// Listens on `dv.health.>` and records every heartbeat until cancelled.
    public func listen(on bus: any Bus, logger: Logger) async throws {
        let stream = try await bus.subscribe("dv.health.>")
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        for await message in stream {
            do {
                record(try decoder.decode(Heartbeat.self, from: Data(message.payload)))
            } catch {
                logger.debug("ignored a malformed heartbeat", metadata: ["subject": "\(message.subject)"])
            }
        }
    }
}

/// Runs `HealthRegistry.listen` as a service.
public struct HealthListener: Service {
    public let registry: HealthRegistry
    public let bus: any Bus
    public let logger: Logger

    public init(registry: HealthRegistry, bus: any Bus, logger: Logger) {
        self.registry = registry
        self.bus = bus
        self.logger = logger
    }

    public func run() async throws {
        try? await cancelWhenGracefulShutdown {
            try await registry.listen(on: bus, logger: logger)
        }
    }
}
