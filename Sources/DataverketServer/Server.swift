import Foundation
import DataverketAPI
import DataverketBus
import DataverketCore
import DataverketStore
import Identitet
import Maskin
import Nett
import Hummingbird
import Logging
import OpenAPIHummingbird
import OpenAPIRuntime
import Sentral
import DataverketTasks
import ServiceLifecycle

/// How `dataverket serve` runs.
public struct ServerConfiguration: Sendable {
    public var host: String
    public var port: Int
    public var dataDirectory: String
    public var databaseURL: String?
    /// `DV_NATS_URL`: JetStream when set, the in-process bus otherwise.
    public var natsURL: String?
    /// The datacenter this process runs in (`DV_DATACENTER`), reported in heartbeats.
    public var datacenter: String?
    public var maxBodyBytes: Int
    /// Whether `serve` runs Sentral's task worker in-process (`--no-worker` leaves it to `dataverket worker`).
    public var runsWorker = true
    /// How long a command stays with a worker without a sign of life before it is redelivered.
    public var workerAckWait: Duration = .seconds(30)
    /// Concurrent tasks per worker.
    public var workerConcurrency = 8
    /// `DV_DEMO_LEDGER_DIR`: where the built-in `saga-demo` task leaves its effects (memory when unset).
    public var demoLedgerDirectory: String?
    /// `DV_ISSUER`: the `iss` of the access tokens this server signs (default: its own URL).
    public var issuerOverride: String?
    /// `DV_MASTER_KEY`: base64 of the 32-byte key sealing secrets at rest (default: `<data dir>/master.key`).
    public var masterKey: String?
    /// `DV_OIDC_*`: the single sign-on provider `dvid login` (device flow) is verified by; none by default.
    public var upstreamIdentity: UpstreamIdentityProvider?
    /// Seconds a device-login client waits between polls.
    public var devicePollInterval: Duration = .seconds(5)
    /// `DV_BOOT_LISTEN`: where Maskin's boot service listens (HOST:PORT); none when unset.
    public var bootListener: BootListener?
    /// `DV_BOOT_URL`: the URL machines reach the boot service at (default: http://<DV_BOOT_LISTEN>).
    public var bootURL: String?
    /// `DV_BOOT_ASSETS`: the image cache directory (installer kernel, initramfs, SHA256SUMS).
    public var bootAssets: String?
    /// `DV_MASKIN_DHCP_LEASES`: the provisioning network's dnsmasq lease file (DHCP leases in boot events).
    public var dhcpLeases: String?
    /// Step waits and sweep intervals of Maskin.
    public var maskinSettings = MaskinSettings()
    /// Deadlines and the quarantine rule of the machine lifecycle.
    public var machineLifecycle = MachineLifecycle()
    /// `DV_PDNS_*`, `DV_DNS_*`: the PowerDNS server Nett keeps the IPAM's DNS records in; none when unset.
    public var dns: DNSConfiguration?
    /// `DV_NETT_DEVICES`: the devices file (drivers per device, probe endpoints) Nett applies changesets to.
    public var nettDevices: String?
    /// How often Nett reads every device back for drift.
    public var nettDriftInterval: Duration = .seconds(60)

    public var issuer: String { issuerOverride ?? "http://\(host):\(port)" }
    /// Requests per actor and route class, and destructive requests in flight per tenant.
    public var rateLimits = RateLimitPolicy()
    /// The Prometheus registry the server records into (`/metrics`); a test may read it directly.
    public var metrics = ServerMetrics()
    /// A connection that sends nothing for this long is closed (slow or stuck clients).
    public var idleTimeout: Duration = .seconds(30)

    public init(host: String = "127.0.0.1", port: Int = 8080, dataDirectory: String = "./.dataverket",
                databaseURL: String? = nil, natsURL: String? = nil, maxBodyBytes: Int = 1 << 20) {
        self.host = host
        self.port = port
        self.dataDirectory = dataDirectory
        self.databaseURL = databaseURL
        self.natsURL = natsURL
        self.maxBodyBytes = maxBodyBytes
    }

    public var store: StoreConfiguration { StoreConfiguration(databaseURL: databaseURL, dataDirectory: dataDirectory) }
}

/// Assembles and runs the Dataverket server.
public enum DataverketServer {
    /// The date format of the API: RFC 3339 with fractional seconds.
    public static let openAPIConfiguration = Configuration.dataverket

    /// The router: middleware (correlation + request log, metrics, problem+json, body size guard) and every
    /// generated API operation behind authentication and authorization, then the request-shape checks.
    public static func makeRouter(sentral: ControlPlane, identity: Identitet, maskin: MaskinPlane? = nil, dns: DNSSyncService? = nil,
                                  nett: NettPlane? = nil, metrics: ServerMetrics, configuration: ServerConfiguration, logger: Logger) throws -> Router<DataverketRequestContext> {
        let router = Router(context: DataverketRequestContext.self)
        let routes = RouteTable()
        router.middlewares.add(RequestScopeMiddleware())
        router.middlewares.add(HTTPMetricsMiddleware(metrics: metrics))
        router.middlewares.add(ProblemMiddleware(routes: routes))
        router.middlewares.add(HeaderEncodingMiddleware())
        router.middlewares.add(BodyGuardMiddleware(maxBodyBytes: configuration.maxBodyBytes))
        router.middlewares.add(PageSecurityMiddleware())
        try APIHandlers(sentral: sentral, identity: identity, metrics: metrics, maskin: maskin, dns: dns, nett: nett).registerHandlers(
            on: RecordingTransport(router: router, table: routes), serverURL: URL(string: "/")!, configuration: openAPIConfiguration,
            middlewares: [AccessMiddleware(identity: identity, limiter: RateLimiter(policy: configuration.rateLimits), logger: logger),
                          RequestShapeMiddleware(), EmptyBodyMiddleware()])
        return router
    }

    /// The HTTP application plus the background services that share its lifecycle: the task engine
    /// (outbox relay, projector, blocked-task resumer, Sentral's worker unless `worker` is false), the
    /// health listener and Sentral's heartbeat, housekeeping.
    public static func makeApplication(
        sentral: ControlPlane, identity: Identitet, maskin: MaskinPlane? = nil, dns: DNSSyncService? = nil, nett: NettPlane? = nil,
        configuration: ServerConfiguration, logger: Logger, bus: any Bus, worker: Bool = true, onListening: @escaping @Sendable (_ host: String, _ port: Int) async -> Void = { _, _ in },
        onBootListening: @escaping @Sendable (_ port: Int) async -> Void = { _ in }
    ) throws -> some ApplicationProtocol {
        let metrics = configuration.metrics
        let router = try makeRouter(sentral: sentral, identity: identity, maskin: maskin, dns: dns, nett: nett, metrics: metrics,
                                    configuration: configuration, logger: logger)
        let host = configuration.host
        var app = Application(
            router: router,
            server: .http1(configuration: .init(idleTimeout: .seconds(Int64(configuration.idleTimeout.components.seconds)))),
            configuration: .init(address: .hostname(host, port: configuration.port), serverName: "dataverket"),
            onServerRunning: { channel in
                let port = channel.localAddress?.port ?? configuration.port
                logger.info("listening on http://\(host):\(port)")
                await onListening(host, port)
            },
            logger: logger)
        for service in sentral.engineServices(bus: bus, logger: logger, worker: worker && configuration.runsWorker,
                                              ackWait: configuration.workerAckWait, concurrency: configuration.workerConcurrency) {
            app.addServices(service)
        }
        if let maskin {
            for service in maskin.services(engine: sentral.engine, bus: bus, logger: logger, worker: worker && configuration.runsWorker) {
                app.addServices(service)
            }
            if let listener = configuration.bootListener {
                app.addServices(try BootServer(host: listener.host, port: listener.port, boot: maskin.boot, logger: logger,
                                               onListening: onBootListening))
            }
        }
        if let dns { app.addServices(dns) }
        if let nett {
            for service in nett.services(engine: sentral.engine, bus: bus, logger: logger, worker: worker && configuration.runsWorker,
                                         driftInterval: configuration.nettDriftInterval, datacenter: configuration.datacenter) {
                app.addServices(service)
            }
        }
        let instance = "sentral-\(ULID.make())"
        app.addServices(
            HeartbeatPublisher(bus: bus, logger: logger) {
                let ready = (try? await sentral.database.ping(timeout: .seconds(1))) != nil
                return Heartbeat(service: "sentral", instance: instance, version: APIContract.version,
                                 datacenter: configuration.datacenter, status: ready ? "healthy" : "degraded",
                                 detail: ready ? nil : "store unreachable")
            },
            Housekeeping(sentral: sentral, logger: logger))
        return app
    }

    /// Runs the server on `configuration`'s address (port 0 picks a free one) for the duration of `body`,
    /// which receives the bound port; then shuts it down gracefully. For tests, benchmarks and embedding.
    ///
    /// Without `identity`, an Identitet with a throwaway master key is made (and migrated) over the same
    /// store; callers that need tokens pass their own and issue sessions from it.
    public static func withRunning<T: Sendable>(
        sentral: ControlPlane, identity: Identitet? = nil, maskin: MaskinPlane? = nil, dns: DNSSyncService? = nil,
        nett: NettPlane? = nil, configuration: ServerConfiguration, logger: Logger, bus: any Bus, worker: Bool = true, _ body: @escaping @Sendable (_ port: Int) async throws -> T
    ) async throws -> T {
        var chosen = identity
        if chosen == nil { chosen = try await makeThrowawayIdentity(sentral, configuration) }
        guard let identity = chosen else { throw DataverketError(.internal, "no identity") }
        return try await withListeningService(logger: logger, { onListening in
            try makeApplication(
                sentral: sentral, identity: identity, maskin: maskin, dns: dns, nett: nett, configuration: configuration, logger: logger,
                bus: bus, worker: worker, onListening: { _, port in await onListening(port) })
        }, body)
    }

    static func makeThrowawayIdentity(_ sentral: ControlPlane, _ configuration: ServerConfiguration) async throws -> Identitet {
        let identity = Identitet(database: sentral.database, issuer: configuration.issuer, masterKey: .random())
        _ = try await sentral.migrate()
        try await identity.prepare()
        return identity
    }

    /// `dataverket serve`: opens the store, applies migrations, serves until SIGINT/SIGTERM, then drains.
    public static func serve(configuration: ServerConfiguration, logger: Logger) async throws {
        let masterKey = try MasterKey.load(environment: configuration.masterKey, directory: configuration.dataDirectory)
        try await withStore(configuration, logger: logger) { database in
            logger.info("store opened", metadata: ["backend": "\(database.kind)"])
            let bus = try await BusConfiguration.open(natsURL: configuration.natsURL, logger: logger)
            logger.info("bus opened", metadata: ["bus": "\(configuration.natsURL == nil ? "in-process" : "jetstream")"])
            do {
                var sentral = ControlPlane(database: database, bus: bus)
                sentral.demoLedger = DemoLedger(directory: configuration.demoLedgerDirectory)
                let identity = Identitet(database: database, issuer: configuration.issuer, masterKey: masterKey,
                                         upstream: configuration.upstreamIdentity, devicePollInterval: configuration.devicePollInterval)
                if let upstream = configuration.upstreamIdentity {
                    logger.info("single sign-on", metadata: ["issuer": "\(upstream.issuer)", "client": "\(upstream.clientID)"])
                }
                let applied = try await sentral.migrate()
                if !applied.isEmpty { logger.info("migrations applied", metadata: ["count": "\(applied.count)"]) }
                try await identity.prepare()
                try await announceBootstrap(identity, configuration: configuration, logger: logger)
                try await bus.provision()
                let maskin = try maskinPlane(sentral: sentral, masterKey: masterKey, configuration: configuration, logger: logger)
                let dns = dnsSyncService(sentral: sentral, configuration: configuration, logger: logger)
                let nett = try nettPlane(sentral: sentral, configuration: configuration, logger: logger)
                do {
                    try await makeApplication(sentral: sentral, identity: identity, maskin: maskin, dns: dns, nett: nett,
                                              configuration: configuration,
                                              logger: logger, bus: bus)
                        .runService()
                } catch {
                    try? await maskin.connector.httpClient.shutdown()
                    try? await dns?.sync.client.httpClient.shutdown()
                    throw error
                }
                try await maskin.connector.httpClient.shutdown()
                try await dns?.sync.client.httpClient.shutdown()
            } catch {
                await bus.close()
                throw error
            }
            await bus.close()
        }
        logger.info("stopped")
    }

    /// Maskin over `sentral`: cluster secrets sealed under a key derived from the master key, BMC calls through one
    /// HTTP client (the caller shuts it down), the boot service as configured.
    public static func maskinPlane(sentral: ControlPlane, masterKey: MasterKey, configuration: ServerConfiguration,
                                   logger: Logger) throws -> MaskinPlane {
        let publicURL = configuration.bootURL ?? configuration.bootListener.map { "http://\($0.host):\($0.port)" } ?? "http://127.0.0.1:8180"
        return MaskinPlane(
            engine: sentral.engine, observer: sentral.inventory, ports: sentral.inventory, sealingKey: masterKey.derivedKey(purpose: "maskin-cluster-secrets"),
            boot: BootConfiguration(publicURL: publicURL, assetsDirectory: configuration.bootAssets),
            connector: BMCConnector(httpClient: RedfishDriver.makeHTTPClient(), logger: logger), settings: configuration.maskinSettings,
            lifecycle: configuration.machineLifecycle, dhcpLeases: configuration.dhcpLeases, logger: logger)
    }

    /// Nett's changesets and drift over `sentral`, with the devices file when one is configured.
    public static func nettPlane(sentral: ControlPlane, configuration: ServerConfiguration, logger: Logger) throws -> NettPlane {
        let devices = try configuration.nettDevices.map { path throws(DataverketError) in NetworkDevices(catalog: try DeviceCatalog.load(path: path)) }
        if let path = configuration.nettDevices { logger.info("network devices", metadata: ["file": "\(path)", "count": "\(devices?.targets.count ?? 0)"]) }
        return NettPlane(engine: sentral.engine, devices: devices, logger: logger)
    }

    /// Opens the store, runs `body` while its backend runs, and closes the store however `body` ends.
    static func withStore<T: Sendable>(_ configuration: ServerConfiguration, logger: Logger,
                                       _ body: @Sendable (Database) async throws -> T) async throws -> T {
        let database = try await configuration.store.open(logger: logger)
        let result = await database.whileRunning { try await body(database) }
        try await database.backend.close()
        return try result.get()
    }

    /// On a fresh store: makes the one-time platform-admin bootstrap credential, writes it to
    /// `<data dir>/bootstrap-token` (0600) and says so once on standard error.
    static func announceBootstrap(_ identity: Identitet, configuration: ServerConfiguration, logger: Logger) async throws {
        guard let token = try await identity.prepareBootstrap() else { return }
        try FileManager.default.createDirectory(atPath: configuration.dataDirectory, withIntermediateDirectories: true)
        let path = configuration.dataDirectory + "/bootstrap-token"
        try SecretFile.write(token + "\n", to: path)
        logger.notice("bootstrap credential written; exchange it once: dvid login --bootstrap-token-file \(path)",
                      metadata: ["path": "\(path)"])
        FileHandle.standardError.write(Data("""

            One-time platform-admin bootstrap credential (also in \(path), mode 0600):

                \(token)

            Log in with:  dvid login --bootstrap-token-file \(path)

            """.utf8))
    }

    /// `dataverket keys rotate`: a new active signing key; the old one stays published until its tokens expire.
    public static func rotateKeys(configuration: ServerConfiguration, logger: Logger) async throws -> String {
        let masterKey = try MasterKey.load(environment: configuration.masterKey, directory: configuration.dataDirectory)
        return try await withStore(configuration, logger: logger) { database in
            _ = try await ControlPlane(database: database).migrate()
            return try await Identitet(database: database, issuer: configuration.issuer, masterKey: masterKey).rotateKeys()
        }
    }

    /// `dataverket worker`: runs Sentral's task worker alone (no API), with heartbeats, until SIGINT/SIGTERM.
    /// Several may run against one store and one NATS; JetStream shares the commands out between them.
    public static func work(configuration: ServerConfiguration, logger: Logger) async throws {
        guard configuration.natsURL != nil else {
            throw DataverketError(.invalidArgument, "a separate worker needs the bus of its server: set DV_NATS_URL")
        }
        let masterKey = try MasterKey.load(environment: configuration.masterKey, directory: configuration.dataDirectory)
        try await withStore(configuration, logger: logger) { database in
            let bus = try await BusConfiguration.open(natsURL: configuration.natsURL, logger: logger)
            do {
                var sentral = ControlPlane(database: database, bus: bus)
                sentral.demoLedger = DemoLedger(directory: configuration.demoLedgerDirectory)
                _ = try await sentral.migrate()
                try await bus.provision()
                let maskin = try maskinPlane(sentral: sentral, masterKey: masterKey, configuration: configuration, logger: logger)
                let instance = "sentral-worker-\(ULID.make())"
                let services: [any Service] = [
                    sentral.worker(bus: bus, logger: logger, ackWait: configuration.workerAckWait, concurrency: configuration.workerConcurrency),
                    maskin.worker(engine: sentral.engine, bus: bus, logger: logger, ackWait: configuration.workerAckWait),
                ] + (try nettPlane(sentral: sentral, configuration: configuration, logger: logger)
                        .workerServices(engine: sentral.engine, bus: bus, logger: logger, ackWait: configuration.workerAckWait,
                                        datacenter: configuration.datacenter)) + [
                    HealthListener(registry: sentral.health, bus: bus, logger: logger),
                    HeartbeatPublisher(bus: bus, logger: logger) {
                        Heartbeat(service: "sentral", instance: instance, version: APIContract.version, datacenter: configuration.datacenter)
                    },
                ]
                let serviceGroup = ServiceGroup(configuration: .init(
                    services: services.map { .init(service: $0) }, gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
                logger.info("worker started", metadata: ["instance": "\(instance)"])
                do {
                    try await serviceGroup.run()
                } catch {
                    try? await maskin.connector.httpClient.shutdown()
                    throw error
                }
                try await maskin.connector.httpClient.shutdown()
            } catch {
                await bus.close()
                throw error
            }
            await bus.close()
        }
        logger.info("worker stopped")
    }

    /// `dataverket migrate`: applies pending migrations and returns their names.
    public static func migrate(configuration: ServerConfiguration, logger: Logger) async throws -> [String] {
        try await withStore(configuration, logger: logger) { database in
            try await ControlPlane(database: database).migrate()
        }
    }
}

/// Periodic clean-up: expired idempotency keys.
struct Housekeeping: Service {
    let sentral: ControlPlane
    let logger: Logger

    func run() async throws {
        // Graceful shutdown cancels the hourly sleep instead of waiting it out.
        try? await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                do {
                    try await sentral.housekeeping()
                } catch {
                    logger.warning("housekeeping failed", metadata: ["error": "\(error)"])
                }
                try await Task.sleep(for: .seconds(3600))
            }
        }
    }
}

/// Runs the service `make` builds (handed the callback that reports the port it listens on) for the duration of
/// `body`, which receives that port; then shuts it down gracefully. The server's own runner, and benchmarks'.
public func withListeningService<T: Sendable>(
    logger: Logger, _ make: (@escaping @Sendable (Int) async -> Void) throws -> any Service,
    _ body: @escaping @Sendable (_ port: Int) async throws -> T
) async throws -> T {
    let (ports, continuation) = AsyncStream.makeStream(of: Int.self)
    let service = try make { continuation.yield($0) }
    let group = ServiceGroup(configuration: .init(services: [service], logger: logger))
    return try await withThrowingTaskGroup(of: T?.self) { tasks in
        tasks.addTask {
            // However the group ends, stop waiting for a port that will never come.
            defer { continuation.finish() }
            try await group.run()
            return nil
        }
        var iterator = ports.makeAsyncIterator()
        guard let port = await iterator.next() else {
            while let _ = try await tasks.next() {}
            throw DataverketError(.internal, "the service stopped before it listened")
        }
        let result: T
        do {
            result = try await body(port)
        } catch {
            await group.triggerGracefulShutdown()
            throw error
        }
        await group.triggerGracefulShutdown()
        while let _ = try await tasks.next() {}
        return result
    }
}
