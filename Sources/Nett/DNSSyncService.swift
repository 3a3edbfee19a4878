#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import AsyncHTTPClient
import DataverketCore
import NettIntent
import Logging
import ServiceLifecycle

/// Where Nett keeps DNS records: a PowerDNS server's HTTP API and the forward zones (`DV_PDNS_URL`,
/// `DV_PDNS_API_KEY_FILE`, `DV_DNS_ZONES`, `DV_PDNS_SERVER_ID`, `DV_DNS_SYNC_INTERVAL`). Its description never
/// holds the API key.
public struct DNSConfiguration: Sendable, Hashable, CustomStringConvertible {
    /// PowerDNS's API, e.g. `http://127.0.0.1:8081`.
    public var url: String
    public var apiKey: String
    /// Forward zones, fully qualified (`osl1.example.org.`).
    public var forwardZones: [String]
    public var serverID: String
    /// How often the record sets are brought in step with the IPAM (besides when an address changes).
    public var syncInterval: Duration

    public init(url: String, apiKey: String, forwardZones: [String], serverID: String = "localhost",
                syncInterval: Duration = .seconds(30)) {
        self.url = url
        self.apiKey = apiKey
        self.forwardZones = forwardZones
        self.serverID = serverID
        self.syncInterval = syncInterval
    }

    public var description: String {
        "PowerDNS \(url) (server \(serverID)), zones \(forwardZones.joined(separator: ",")), every \(syncInterval.components.seconds)s"
    }

    /// The configuration in `environment`, or nil when `DV_PDNS_URL` is unset (DNS is then not managed). A set
    /// `DV_PDNS_URL` needs `DV_PDNS_API_KEY_FILE` (a readable file holding the key, surrounding whitespace ignored)
    /// and `DV_DNS_ZONES` (comma-separated forward zones); `DV_PDNS_SERVER_ID` defaults to `localhost`,
    /// `DV_DNS_SYNC_INTERVAL` (seconds, or with an `s`/`m`/`h` suffix) to 30 s. Errors name the variable and
    /// the file, never the key.
    public static func fromEnvironment(
        _ environment: [String: String], readFile: (String) -> Data? = { FileManager.default.contents(atPath: $0) }
    ) throws(DataverketError) -> DNSConfiguration? {
        func value(_ name: String) -> String? {
            environment[name].map { $0.trimmingCharacters(in: .whitespaces) }.flatMap { $0.isEmpty ? nil : $0 }
        }
        guard let url = value("DV_PDNS_URL") else { return nil }
        let parsed = URL(string: url)
        guard parsed?.user == nil, parsed?.password == nil, !url.contains("@") else {
            throw DataverketError(.invalidArgument, "DV_PDNS_URL must not hold credentials: PowerDNS's API key goes in DV_PDNS_API_KEY_FILE")
        }
        guard let parsed, parsed.scheme == "http" || parsed.scheme == "https", let host = parsed.host, !host.isEmpty, parsed.query == nil
        else {
            throw DataverketError(.invalidArgument, "DV_PDNS_URL must be PowerDNS's API URL like http://127.0.0.1:8081, got '\(url)'")
        }
        guard let keyFile = value("DV_PDNS_API_KEY_FILE") else {
            throw DataverketError(.invalidArgument, "DV_PDNS_URL is set but DV_PDNS_API_KEY_FILE is not: name the file holding PowerDNS's API key")
        }
        guard let data = readFile(keyFile) else {
            throw DataverketError(.invalidArgument, "cannot read DV_PDNS_API_KEY_FILE \(keyFile) (PowerDNS's API key)")
        }
        let key = String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        guard !key.isEmpty else {
            throw DataverketError(.invalidArgument, "DV_PDNS_API_KEY_FILE \(keyFile) is empty: it must hold PowerDNS's API key")
        }
        guard key.utf8.count <= 4096, key.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7F }) else {
            throw DataverketError(.invalidArgument,
                                  "DV_PDNS_API_KEY_FILE \(keyFile) must hold the API key alone: one line of printable ASCII without spaces")
        }
        guard let zoneList = value("DV_DNS_ZONES") else {
            throw DataverketError(.invalidArgument,
                                  "DV_PDNS_URL is set but DV_DNS_ZONES is not: name the forward zones, comma-separated (osl1.example.org,example.net)")
        }
        var zones: [String] = []
        for text in zoneList.split(separator: ",").map({ $0.trimmingCharacters(in: .whitespaces) }) where !text.isEmpty {
            let zone = try DNSSync.zone(text, field: "DV_DNS_ZONES")
            if !zones.contains(zone) { zones.append(zone) }
        }
        guard !zones.isEmpty else { throw DataverketError(.invalidArgument, "DV_DNS_ZONES names no zone") }
        var configuration = DNSConfiguration(url: url, apiKey: key, forwardZones: zones)
        if let serverID = value("DV_PDNS_SERVER_ID") {
            let allowed = { (byte: UInt8) in
                (0x41...0x5A).contains(byte) || (0x61...0x7A).contains(byte) || (0x30...0x39).contains(byte) || [0x2D, 0x2E, 0x5F].contains(byte)
            }
            guard serverID.utf8.count <= 64, serverID.utf8.allSatisfy(allowed) else { throw DataverketError(.invalidArgument, "DV_PDNS_SERVER_ID must be 1–64 of [A-Za-z0-9._-], got '\(serverID)'") }
            configuration.serverID = serverID
        }
        if let interval = value("DV_DNS_SYNC_INTERVAL") {
            configuration.syncInterval = try parseInterval(interval)
        }
        return configuration
    }

    static func parseInterval(_ text: String) throws(DataverketError) -> Duration {
        var digits = Substring(text.lowercased())
        var unit: Int64 = 1
        switch digits.last {
        case "s": digits.removeLast()
        case "m": digits.removeLast(); unit = 60
        case "h": digits.removeLast(); unit = 3600
        default: break
        }
        guard let number = Int64(digits), number > 0, number * unit <= 86_400 else {
            throw DataverketError(.invalidArgument, "DV_DNS_SYNC_INTERVAL must be 1 s to 24 h (30, 30s, 5m, 1h), got '\(text)'")
        }
        return .seconds(number * unit)
    }
}

extension DNSSync {
    /// A zone name as Nett writes it (lower case, fully qualified), or `.invalidArgument` naming `field`.
    public static func zone(_ text: String, field: String = "zone") throws(DataverketError) -> String {
        guard let name = try Rules.dnsName(text, field: field) else { throw .invalid(field, "must not be empty") }
        return name + "."
    }
}

extension PowerDNSClient {
    /// An HTTP client suited to PowerDNS's API (no redirects, bounded connect and read); its maker shuts it down.
    public static func makeHTTPClient() -> HTTPClient {
        var configuration = HTTPClient.Configuration(redirectConfiguration: .disallow,
                                                     timeout: .init(connect: .seconds(5), read: .seconds(30)))
        configuration.connectionPool = .init(idleTimeout: .seconds(30))
        return HTTPClient(eventLoopGroup: HTTPClient.defaultEventLoopGroup, configuration: configuration)
    }
}

/// Runs `DNSSync.sync()` every `interval`, and soon after `kick()` (an address was allocated or released), so
/// PowerDNS follows the IPAM. A failed sync (PowerDNS or the store unreachable) is logged and retried after 1 s, 2 s,
/// 4 s, … (at most the interval); it never ends the service. It lives exactly as long as its `run()`: graceful
/// shutdown (or cancellation) ends the wait and any sync in flight, and the service does not run again.
public struct DNSSyncService: Service {
    public let sync: DNSSync
    public let interval: Duration
    private let logger: Logger
    private let kicks: AsyncStream<Void>
    private let continuation: AsyncStream<Void>.Continuation

    public init(sync: DNSSync, interval: Duration = .seconds(30), logger: Logger) {
        self.sync = sync
        self.interval = interval
        self.logger = logger
        // One pending kick is enough: kicks while a sync runs become exactly one more sync after it.
        (kicks, continuation) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
    }

    /// The service for `configuration` over `ipam`, talking to PowerDNS through `httpClient`, which stays the caller's:
    /// the caller shuts it down after `run()` has ended.
    public init(configuration: DNSConfiguration, ipam: IPAM, httpClient: HTTPClient, logger: Logger) {
        let client = PowerDNSClient(baseURL: configuration.url, apiKey: configuration.apiKey, httpClient: httpClient,
                                    serverID: configuration.serverID)
        self.init(sync: DNSSync(ipam: ipam, client: client, forwardZones: configuration.forwardZones, logger: logger),
                  interval: configuration.syncInterval, logger: logger)
    }

    /// Asks for a sync soon; returns at once. Does nothing once the service has stopped.
    public func kick() {
        continuation.yield()
    }

    public func run() async throws {
        defer { continuation.finish() }
        logger.info("DNS sync started", metadata: ["pdns": "\(sync.client.baseURL)", "zones": "\(sync.forwardZones.sorted().joined(separator: ","))",
                                                   "interval_seconds": "\(interval.components.seconds)"])
        let (interval, continuation, kicks) = (interval, continuation, kicks)
        await cancelWhenGracefulShutdown {
            await withDiscardingTaskGroup { group in
                group.addTask {
                    while !Task.isCancelled {
                        do { try await Task.sleep(for: interval) } catch { return }
                        continuation.yield()
                    }
                }
                continuation.yield()  // the first sync runs at start
                var failures = 0
                // Cancellation ends the iteration (the stream finishes).
                for await _ in kicks {
                    if Task.isCancelled { break }
                    do {
                        try await sync.sync()
                        if failures > 0 { logger.notice("DNS sync recovered", metadata: ["failed_attempts": "\(failures)"]) }
                        failures = 0
                    } catch {
                        if Task.isCancelled { break }
                        failures += 1
                        // Retry sooner than the interval: 1 s, 2 s, 4 s, … up to the interval.
                        let retry = min(interval, .seconds(1 << min(failures - 1, 16)))
                        logger.warning("DNS sync failed; retrying", metadata: [
                            "error": "\(error)", "retry_in": "\(retry)", "failed_attempts": "\(failures)",
                        ])
                        group.addTask {
                            do { try await Task.sleep(for: retry) } catch { return }
                            continuation.yield()
                        }
                    }
                }
                group.cancelAll()
            }
        }
        logger.info("DNS sync stopped")
    }
}
