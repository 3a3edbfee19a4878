import DataverketCore
import Foundation
import Logging

/// Chooses the bus: JetStream when a NATS URL is configured (`DV_NATS_URL`), the in-process bus otherwise.
public struct BusConfiguration: Sendable, Hashable {
    /// `nats://[user:pass@]host:port[,host:port...]`; nil or blank means the embedded in-process bus.
    public var natsURL: String?
    /// Settings of the in-process bus (used when `natsURL` is nil).
    public var inProcess: InProcessBus.Configuration

    public init(natsURL: String? = nil, inProcess: InProcessBus.Configuration = InProcessBus.Configuration()) {
        self.natsURL = natsURL
        self.inProcess = inProcess
    }

    /// Reads `DV_NATS_URL` from `environment`.
    public init(environment: [String: String]) {
        self.init(natsURL: environment["DV_NATS_URL"])
    }

    /// Opens the bus. The caller still calls `provision()` once at start-up.
    public func open(logger: Logger) async throws -> any Bus {
        if let url = natsURL?.trimmingCharacters(in: .whitespacesAndNewlines), !url.isEmpty {
            let configuration = try JetStreamBus.Configuration(url: url)
            logger.info("bus: NATS JetStream", metadata: ["nats": "\(configuration)"])
            return try await JetStreamBus.connect(configuration, logger: logger)
        }
        logger.info("bus: in-process (no DV_NATS_URL)")
        return InProcessBus(configuration: inProcess, logger: logger)
    }

    /// JetStream when `natsURL` is given (and not blank), else in-process.
    public static func open(natsURL: String?, logger: Logger) async throws -> any Bus {
        try await BusConfiguration(natsURL: natsURL).open(logger: logger)
    }
}
