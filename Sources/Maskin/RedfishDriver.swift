import AsyncHTTPClient
import DataverketCore
import Foundation
import Logging
import NIOCore
import NIOFoundationCompat
import NIOSSL

/// A `BMCDriver` for Redfish services over AsyncHTTPClient, with HTTP basic auth.
///
/// Every request has a timeout (`Options.requestTimeout`) and is tried at most `Options.attempts` times, with a
/// doubling backoff, when the BMC cannot be reached, does not answer in time or answers 5xx. A reset (POST) is
/// retried only when it surely did not reach the BMC (no connection, or 503), so a power cycle never runs twice.
/// Errors are one line naming the BMC's address, never the credentials.
public actor RedfishDriver: BMCDriver {
    public struct Options: Sendable {
        public var requestTimeout: Duration
        /// At least 1.
        public var attempts: Int
        /// The wait before the second attempt; doubled before each further one.
        public var retryBackoff: Duration
        public var maxResponseBytes: Int
        public var quirks: RedfishQuirks
        /// Which system to drive when the BMC manages several (the last path component of its `@odata.id`, e.g.
        /// `1` or a UUID); nil requires exactly one.
        public var systemID: String?
        /// At most this many sub-resources (NICs, drives) are read for facts.
        public var maxFactMembers: Int

        public init(requestTimeout: Duration = .seconds(10), attempts: Int = 3, retryBackoff: Duration = .milliseconds(500),
                    maxResponseBytes: Int = 4 << 20, quirks: RedfishQuirks = .generic, systemID: String? = nil,
                    maxFactMembers: Int = 64) {
            self.requestTimeout = requestTimeout
            self.attempts = max(1, attempts)
            self.retryBackoff = retryBackoff
            self.maxResponseBytes = maxResponseBytes
            self.quirks = quirks
            self.systemID = systemID
            self.maxFactMembers = maxFactMembers
        }
    }

    public nonisolated let endpoint: BMCEndpoint
    private let credentials: BMCCredentials
    private let client: HTTPClient
    private let logger: Logger
    private let options: Options
    private let tlsConfiguration: TLSConfiguration?
    private var systemPath: String?

    /// `httpClient` belongs to the caller (who shuts it down); `makeHTTPClient()` makes a suitable one.
    public init(endpoint: BMCEndpoint, credentials: BMCCredentials, httpClient: HTTPClient, logger: Logger,
                options: Options = Options()) throws(DataverketError) {
        guard endpoint.protocol == .redfish else {
            throw DataverketError.invalid("endpoint", "the Redfish driver cannot drive an \(endpoint.protocol) BMC")
        }
        self.endpoint = endpoint
        self.credentials = credentials
        self.client = httpClient
        self.options = options
        var logger = logger
        logger[metadataKey: "bmc"] = "\(endpoint.address)"
        self.logger = logger
        switch endpoint.tls {
        case .plaintextLoopbackOnly:
            tlsConfiguration = nil
        case .systemRoots:
            tlsConfiguration = TLSConfiguration.makeClientConfiguration()
        case .insecure:
            var tls = TLSConfiguration.makeClientConfiguration()
            tls.certificateVerification = .none
            tlsConfiguration = tls
            logger.warning("TLS verification is off for this BMC (insecure was asked for)")
        case .pinnedCA(let pem):
            let certificates: [NIOSSLCertificate]
            do {
                certificates = try NIOSSLCertificate.fromPEMBytes(Array(pem.utf8))
            } catch {
                throw DataverketError.invalid("tls.pinnedCA", "not a PEM certificate: \(error)")
            }
            guard !certificates.isEmpty else {
                throw DataverketError.invalid("tls.pinnedCA", "the PEM holds no certificate")
            }
            var tls = TLSConfiguration.makeClientConfiguration()
            tls.trustRoots = .certificates(certificates)
            tlsConfiguration = tls
        }
    }

    /// An HTTP client for BMCs: no redirects (a redirect must never carry credentials elsewhere), 5 s connect timeout.
    /// The caller shuts it down.
    public static func makeHTTPClient() -> HTTPClient {
        var configuration = HTTPClient.Configuration(redirectConfiguration: .disallow,
                                                     timeout: .init(connect: .seconds(5), read: .seconds(30)))
        configuration.connectionPool = .init(idleTimeout: .seconds(30))
        return HTTPClient(eventLoopGroup: HTTPClient.defaultEventLoopGroup, configuration: configuration)
    }

    // MARK: - BMCDriver

    public func powerState() async throws -> PowerState {
        let system = try await get(try await system(), what: "the system")
        return try parsePowerState(system)
    }

    public func setPower(_ action: PowerAction) async throws {
        let path = try await system()
        let system = try await get(path, what: "the system")
        let power = try parsePowerState(system)
        var wanted = action
        switch (action, power) {
        case (.on, .on), (.on, .poweringOn), (.off, .off), (.softOff, .off):
            logger.debug("power already as asked", metadata: ["action": "\(action)", "power": "\(power)"])
            return
        case (.cycle, .off):
            wanted = .on  // a cycle of a machine that is off is a power-on
        default:
            break
        }
        let reset = system["Actions"]?["#ComputerSystem.Reset"]
        let target = reset?["target"]?.string ?? "\(path)/Actions/ComputerSystem.Reset"
        let allowed = reset?["ResetType@Redfish.AllowableValues"]?.array?.compactMap(\.string) ?? []
        let preferred = options.quirks.resetTypes[wanted] ?? []
        guard let resetType = allowed.isEmpty ? preferred.first : preferred.first(where: allowed.contains) else {
            throw DataverketError.bmc(.unsupported,
                "the BMC at \(endpoint.address) offers no reset type for \(wanted) (wanted one of \(preferred.joined(separator: ", ")); it offers \(allowed.joined(separator: ", ")))")
        }
        logger.info("power", metadata: ["action": "\(action)", "resetType": "\(resetType)"])
        _ = try await send(.POST, target, body: .object(["ResetType": .string(resetType)]), idempotent: false,
                           what: "a \(resetType) reset")
    }

    public func setOneTimeBoot(_ device: BootDevice) async throws {
        let path = try await system()
        guard let targetName = options.quirks.bootTargets[device] else {
            throw DataverketError.bmc(.unsupported, "the \(options.quirks.name) Redfish profile has no boot target for \(device)")
        }
        var headers: [(String, String)] = []
        let needsRead = options.quirks.patchNeedsETag
        let (system, etag) = try await getWithETag(path, what: "the system")
        if let allowed = system["Boot"]?["BootSourceOverrideTarget@Redfish.AllowableValues"]?.array?.compactMap(\.string),
           !allowed.isEmpty, !allowed.contains(targetName) {
            throw DataverketError.bmc(.unsupported,
                "the BMC at \(endpoint.address) cannot boot \(targetName) once (it offers \(allowed.joined(separator: ", ")))")
        }
        if needsRead, let etag { headers.append(("If-Match", etag)) }
        var boot: [String: AnyJSON] = [
            "BootSourceOverrideTarget": .string(targetName),
            "BootSourceOverrideEnabled": .string("Once"),
        ]
        if let mode = options.quirks.bootOverrideMode { boot["BootSourceOverrideMode"] = .string(mode) }
        logger.info("one-time boot", metadata: ["device": "\(device)", "target": "\(targetName)"])
        _ = try await send(.PATCH, path, body: .object(["Boot": .object(boot)]), headers: headers, idempotent: true,
                           what: "the boot override")
    }

    public func bootOverride() async throws -> BootOverride {
        let system = try await get(try await system(), what: "the system")
        let boot = system["Boot"]
        let target = boot?["BootSourceOverrideTarget"]?.string
        let device = options.quirks.bootTargets.first(where: { $0.value == target })?.key
        let enabled: BootOverride.Enabled = switch boot?["BootSourceOverrideEnabled"]?.string {
        case "Once": .once
        case "Continuous": .continuous
        default: .disabled
        }
        return BootOverride(device: device, enabled: enabled)
    }

    public func systemFacts() async throws -> SystemFacts {
        let path = try await system()
        let system = try await get(path, what: "the system")
        var facts = SystemFacts(manufacturer: system.text("Manufacturer"), model: system.text("Model"),
                                serial: system.text("SerialNumber"), uuid: system.text("UUID")?.lowercased())
        if let summary = system["ProcessorSummary"] {
            let cpu = SystemFacts.CPU(model: summary.text("Model"), sockets: summary["Count"]?.int,
                                      cores: summary["CoreCount"]?.int, threads: summary["LogicalProcessorCount"]?.int)
            if cpu != SystemFacts.CPU() { facts.cpu = cpu }
        }
        facts.memoryGiB = system["MemorySummary"]?["TotalSystemMemoryGiB"]?.number

        if let nics = system["EthernetInterfaces"]?.odataID, let collection = try await optionalGet(nics) {
            var macs: Set<String> = []
            for member in collection.memberIDs.prefix(options.maxFactMembers) {
                guard let nic = try await optionalGet(member) else { continue }
                if let mac = Self.normalizedMAC(nic.text("PermanentMACAddress") ?? nic.text("MACAddress")) {
                    macs.insert(mac)
                }
            }
            facts.macAddresses = macs.sorted()
        }

        facts.disks = try await storageDisks(system)
        return facts
    }

    // MARK: - Facts helpers

    private func storageDisks(_ system: AnyJSON) async throws -> [SystemFacts.Disk] {
        var disks: [SystemFacts.Disk] = []
        if let storage = system["Storage"]?.odataID, let collection = try await optionalGet(storage) {
            for member in collection.memberIDs.prefix(options.maxFactMembers) {
                guard let controller = try await optionalGet(member) else { continue }
                for drive in (controller["Drives"]?.array ?? []).compactMap(\.odataID) {
                    guard disks.count < options.maxFactMembers else { break }
                    guard let info = try await optionalGet(drive) else { continue }
                    disks.append(SystemFacts.Disk(
                        name: info.text("Name") ?? info.text("Id") ?? drive,
                        sizeBytes: info["CapacityBytes"]?.number.map { Int64($0) },
                        interface: info.text("Protocol"), mediaType: info.text("MediaType"),
                        serial: info.text("SerialNumber")))
                }
            }
        }
        if disks.isEmpty, let simple = system["SimpleStorage"]?.odataID, let collection = try await optionalGet(simple) {
            for member in collection.memberIDs.prefix(options.maxFactMembers) {
                guard let controller = try await optionalGet(member) else { continue }
                for device in controller["Devices"]?.array ?? [] where disks.count < options.maxFactMembers {
                    guard let name = device.text("Name") else { continue }
                    disks.append(SystemFacts.Disk(name: name, sizeBytes: device["CapacityBytes"]?.number.map { Int64($0) }))
                }
            }
        }
        return disks
    }

    static func normalizedMAC(_ text: String?) -> String? {
        guard let text else { return nil }
        let hex = text.lowercased().filter(\.isHexDigit)
        guard hex.count == 12, hex != "000000000000" else { return nil }
        var out = ""
        for (index, character) in hex.enumerated() {
            if index > 0, index % 2 == 0 { out.append(":") }
            out.append(character)
        }
        return out
    }

    private func parsePowerState(_ system: AnyJSON) throws -> PowerState {
        switch system["PowerState"]?.string {
        case "On": return .on
        case "Off": return .off
        case "PoweringOn": return .poweringOn
        case "PoweringOff": return .poweringOff
        case let other:
            throw DataverketError.bmc(.badResponse,
                "the BMC at \(endpoint.address) reported an unknown power state \(other.map { "'\(redact($0))'" } ?? "(none)")")
        }
    }

    // MARK: - Finding the system

    private func system() async throws -> String {
        if let systemPath { return systemPath }
        let collection = try await get("/redfish/v1/Systems", what: "the systems")
        let members = collection.memberIDs
        let chosen: String
        if let id = options.systemID {
            guard let match = members.first(where: { $0.split(separator: "/").last.map(String.init) == id }) else {
                throw DataverketError(.notFound,
                    "the BMC at \(endpoint.address) has no system '\(id)' (it has \(members.count))")
            }
            chosen = match
        } else {
            guard members.count == 1, let only = members.first else {
                throw DataverketError.invalid("systemID",
                    "the BMC at \(endpoint.address) manages \(members.count) systems; name the one to drive")
            }
            chosen = only
        }
        systemPath = chosen
        return chosen
    }

    // MARK: - Requests

    private func get(_ path: String, what: String) async throws -> AnyJSON {
        try await getWithETag(path, what: what).0
    }

    private func getWithETag(_ path: String, what: String) async throws -> (AnyJSON, String?) {
        let response = try await send(.GET, path, idempotent: true, what: what)
        do {
            return (try JSONDecoder().decode(AnyJSON.self, from: response.body), response.etag)
        } catch {
            throw DataverketError.bmc(.badResponse, "the BMC at \(endpoint.address) answered \(what) with something that is not JSON")
        }
    }

    /// A sub-resource that a BMC may lack: nil on 404.
    private func optionalGet(_ path: String) async throws -> AnyJSON? {
        do {
            return try await get(path, what: path)
        } catch let error as DataverketError where error.code == .notFound {
            logger.debug("no such resource", metadata: ["path": "\(path)"])
            return nil
        }
    }

    private struct Response {
        var status: UInt
        var body: ByteBuffer
        var etag: String?
    }

    private enum Method: String { case GET, POST, PATCH }

    private func send(_ method: Method, _ path: String, body: AnyJSON? = nil, headers extra: [(String, String)] = [],
                      idempotent: Bool, what: String) async throws -> Response {
        guard path.hasPrefix("/") else {
            throw DataverketError.bmc(.badResponse, "the BMC at \(endpoint.address) linked to a resource outside itself")
        }
        var request = HTTPClientRequest(url: endpoint.redfishBaseURL + path)
        switch method {
        case .GET: request.method = .GET
        case .POST: request.method = .POST
        case .PATCH: request.method = .PATCH
        }
        request.tlsConfiguration = tlsConfiguration
        let basic = Data("\(credentials.username):\(credentials.password)".utf8).base64EncodedString()
        request.headers.add(name: "Authorization", value: "Basic \(basic)")
        request.headers.add(name: "Accept", value: "application/json")
        request.headers.add(name: "OData-Version", value: "4.0")
        for (name, value) in extra { request.headers.add(name: name, value: value) }
        var bodyBytes: ByteBuffer?
        if let body {
            let data = try JSONEncoder().encode(body)
            bodyBytes = ByteBuffer(data: data)
            request.headers.add(name: "Content-Type", value: "application/json")
        }

        let timeout = TimeAmount.nanoseconds(Int64(options.requestTimeout.seconds * 1e9))
        var attempt = 0
        while true {
            attempt += 1
            if let bodyBytes { request.body = .bytes(bodyBytes) }
            var failure: DataverketError
            do {
                let response = try await client.execute(request, timeout: timeout, logger: logger)
                let status = response.status.code
                let bytes = try await response.body.collect(upTo: options.maxResponseBytes)
                logger.debug("redfish", metadata: ["method": "\(method.rawValue)", "path": "\(path)",
                                                   "status": "\(status)", "attempt": "\(attempt)"])
                switch status {
                case 200..<300:
                    return Response(status: status, body: bytes, etag: response.headers.first(name: "ETag"))
                case 401, 403:
                    throw DataverketError.bmc(.unauthorized,
                        "the BMC at \(endpoint.address) refused the credentials of user '\(credentials.username)' (HTTP \(status))")
                case 404:
                    throw DataverketError(.notFound, "the BMC at \(endpoint.address) has no \(what) (HTTP 404 for \(path))",
                                          cause: BMCFailure(.rejected))
                case 500...:
                    failure = DataverketError.bmc(.rejected, attempts: attempt,
                        "the BMC at \(endpoint.address) failed \(method.rawValue) \(path) with HTTP \(status)\(redfishMessage(bytes))")
                    if !(idempotent || status == 503) { throw failure }
                default:
                    throw DataverketError.bmc(.rejected,
                        "the BMC at \(endpoint.address) refused \(what) with HTTP \(status)\(redfishMessage(bytes))")
                }
            } catch let error as DataverketError {
                throw error
            } catch is CancellationError {
                throw CancellationError()
            } catch {
                let (kind, reached) = classify(error)
                switch kind {
                case .timedOut:
                    failure = DataverketError.bmc(.timedOut, attempts: attempt,
                        "the BMC at \(endpoint.address) did not answer within \(MachineLifecycle.format(options.requestTimeout))")
                case .tlsFailure:
                    throw DataverketError.bmc(.unreachable,
                        "the TLS handshake with the BMC at \(endpoint.address) failed (is the pinned CA the BMC's?)")
                default:
                    failure = DataverketError.bmc(.unreachable, attempts: attempt,
                        kind == .refused
                            ? "the BMC at \(endpoint.address) refused the connection"
                            : "the BMC at \(endpoint.address) could not be reached")
                }
                if reached && !idempotent { throw failure }
            }
            guard attempt < options.attempts else {
                var last = failure
                last.message += " (\(attempt) attempt\(attempt == 1 ? "" : "s"))"
                throw last
            }
            let wait = options.retryBackoff * (1 << min(attempt - 1, 6))
            logger.warning("BMC request failed; retrying", metadata: [
                "attempt": "\(attempt)", "of": "\(options.attempts)", "error": "\(failure.message)"])
            try await Task.sleep(for: wait)
        }
    }

    private enum ErrorKind { case refused, unreachable, timedOut, tlsFailure }

    /// What kind of transport error this is, and whether the request may have reached the BMC.
    private func classify(_ error: any Error) -> (ErrorKind, reachedBMC: Bool) {
        if let error = error as? HTTPClientError {
            switch error {
            case .deadlineExceeded, .readTimeout, .writeTimeout: return (.timedOut, true)
            case .connectTimeout: return (.unreachable, false)
            case .tlsHandshakeTimeout: return (.unreachable, false)
            case .remoteConnectionClosed: return (.unreachable, true)
            default: return (.unreachable, true)
            }
        }
        if error is NIOSSLError || error is BoringSSLError { return (.tlsFailure, false) }
        if let error = error as? IOError, error.errnoCode == ECONNREFUSED { return (.refused, false) }
        let text = String(describing: error)
        if text.localizedCaseInsensitiveContains("refused") { return (.refused, false) }
        if text.localizedCaseInsensitiveContains("certificate") || text.localizedCaseInsensitiveContains("handshake") {
            return (.tlsFailure, false)
        }
        // Connection-level errors (no route, reset during connect): not known to have reached it.
        return (.unreachable, false)
    }

    /// `: <first Redfish message>` from an error body, one line, at most 200 characters, credentials removed.
    private func redfishMessage(_ body: ByteBuffer) -> String {
        guard let json = try? JSONDecoder().decode(AnyJSON.self, from: body) else { return "" }
        let message = json["error"]?["@Message.ExtendedInfo"]?.array?.first?.text("Message")
            ?? json["error"]?.text("message")
        guard let message else { return "" }
        return ": " + String(MachineLifecycle.oneLine(redact(message)).prefix(200))
    }

    /// `text` with the password replaced, for anything the BMC said that ends up in an error.
    private func redact(_ text: String) -> String {
        credentials.password.isEmpty ? text : text.replacingOccurrences(of: credentials.password, with: "<redacted>")
    }
}
