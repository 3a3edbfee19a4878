import AsyncHTTPClient
import Crypto
import DataverketBus
import DataverketCore
import DataverketServer
import DataverketStore
import DVCommands
import Foundation
import Identitet
import Maskin
import Nett
import NIOCore
import NIOHTTP1
import Sentral
import DataverketTasks
import Testing
import DataverketTestSupport

/// The BMC emulators `scripts/lib/bmc.sh` starts (loopback defaults match it); sushy-tools' fake systems 5–8 are the
/// workflow tests' (1–4 belong to the driver tests, which run at the same time).
enum MetalEmulators {
    static let environment = ProcessInfo.processInfo.environment
    static var redfishAddress: String {
        (environment["DV_TEST_REDFISH_URL"] ?? "http://127.0.0.1:18000").replacingOccurrences(of: "http://", with: "")
            .trimmingCharacters(in: CharacterSet(charactersIn: "/"))
    }
    static var redfishUser: String { environment["DV_TEST_REDFISH_USER"] ?? "dvadmin" }
    static var redfishPassword: String { environment["DV_TEST_REDFISH_PASSWORD"] ?? "Hemmelig-7Qx2" }
    static var ipmiAddress: String { environment["DV_TEST_IPMI_ADDRESS"] ?? "127.0.0.1:19623" }
    static var ipmiUser: String { environment["DV_TEST_IPMI_USER"] ?? "dvadmin" }
    static var ipmiPassword: String { environment["DV_TEST_IPMI_PASSWORD"] ?? "Hemmelig-7Qx2" }
    static func fakeSystem(_ number: Int) -> String { "2b1f6a4e-0000-4000-8000-00000000000\(number)" }
    /// The MAC of fake system `number` (its first NIC in sushy-tools' configuration).
    static func fakeMAC(_ number: Int) -> String { "52:54:00:a0:00:0\(number)" }
}

/// A credentials file (`username:password`, 0600) and its secret reference.
func credentialsReference(user: String, password: String) throws -> String {
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("dv-bmc-\(ULID.make())").path
    try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    let path = directory + "/credentials"
    try SecretFile.write("\(user):\(password)\n", to: path)
    return "file:" + path
}

/// A server with Maskin: the API plus the boot listener on `bootHost` (a free port), its sweeper and worker.
struct MetalServer: Sendable {
    let server: TestServer
    let maskin: MaskinPlane
    let bootURL: String
    /// Nett over the same control plane, when the test gave devices (its worker is the test's to run), and the bus.
    var nett: NettPlane? = nil
    var bus: (any Bus)? = nil

    var machines: Machines { maskin.machines }

    /// A request to the boot service as a machine sends it (no credentials).
    func boot(_ method: NIOHTTP1.HTTPMethod, _ pathAndQuery: String,
              headers: [String: String] = [:]) async throws -> (status: Int, headers: [String: String], body: String) {
        var request = HTTPClientRequest(url: bootURL + pathAndQuery)
        request.method = method
        for (name, value) in headers { request.headers.add(name: name, value: value) }
        let response = try await HTTPClient.shared.execute(request, timeout: .seconds(30))
        let bytes = try await response.body.collect(upTo: 64 << 20)
        var flat: [String: String] = [:]
        for header in response.headers { flat[header.name.lowercased()] = header.value }
        return (Int(response.status.code), flat, String(buffer: bytes))
    }

    /// Runs `dvce ARGS` against the server.
    func dvce(_ arguments: String...) async -> (code: Int32, out: String, err: String) {
        await dvce(arguments)
    }

    func dvce(_ arguments: [String]) async -> (code: Int32, out: String, err: String) {
        await run(DVCECommand.self, arguments + ["--server", server.baseURL, "--token", server.token])
    }

    /// Polls the machine until `done` holds (bounded); returns the last record read.
    func wait(for machine: String, within limit: Duration, every interval: Duration = .milliseconds(250),
              until done: @Sendable (MachineRecord) -> Bool) async throws -> MachineRecord {
        let clock = ContinuousClock()
        let deadline = clock.now + limit
        var record = try await machines.get(machine)
        while !done(record), clock.now < deadline {
            try await Task.sleep(for: interval)
            record = try await machines.get(machine)
        }
        return record
    }

    /// Polls a task until it is terminal (bounded).
    func waitTask(_ id: String, within limit: Duration) async throws -> TaskRecord {
        let clock = ContinuousClock()
        let deadline = clock.now + limit
        var task = try await server.sentral.tasks.get(id)
        while !task.state.isTerminal, clock.now < deadline {
            try await Task.sleep(for: .milliseconds(250))
            task = try await server.sentral.tasks.get(id)
        }
        return task
    }
}

/// Runs `body` against a server with Maskin on `backend`.
func withMetalServer(_ backend: Backend, bootHost: String = "127.0.0.1", bootPort: Int? = nil, settings: MaskinSettings = MaskinSettings(),
                     lifecycle: MachineLifecycle = MachineLifecycle(), assets: String? = nil, dhcpLeases: String? = nil,
                     tokenLifetime: Duration = .seconds(3600), nettDevices: DeviceCatalog? = nil,
                     redfish: RedfishDriver.Options = RedfishDriver.Options(requestTimeout: .seconds(3), attempts: 2),
                     ipmi: IPMIDriver.Options = IPMIDriver.Options(sessionTimeoutSeconds: 1, sessionRetries: 1, commandTimeout: .seconds(10)),
                     _ body: @Sendable @escaping (MetalServer) async throws -> Void) async throws {
    let bus = InProcessBus(logger: quietLogger)
    try await bus.provision()
    let port = try bootPort ?? freePort()
    let bootURL = "http://\(bootHost):\(port)"
    let http = RedfishDriver.makeHTTPClient()
    do {
        try await withDatabase(backend) { database in
            let sentral = ControlPlane(database: database, bus: bus)
            let maskin = MaskinPlane(
                sentral: sentral, sealingKey: SymmetricKey(size: .bits256),
                boot: BootConfiguration(publicURL: bootURL, assetsDirectory: assets, tokenLifetime: tokenLifetime),
                connector: BMCConnector(httpClient: http, logger: quietLogger, redfish: redfish, ipmi: ipmi), settings: settings, lifecycle: lifecycle,
                dhcpLeases: dhcpLeases, logger: quietLogger)
            try await runServer(sentral, bus: bus, maskin: maskin, configure: { configuration in
                configuration.bootListener = BootListener(host: bootHost, port: port)
            }) { server in
                let nett = nettDevices.map { NettPlane(sentral: sentral, devices: NetworkDevices(catalog: $0), logger: quietLogger) }
                let metal = MetalServer(server: server, maskin: maskin, bootURL: bootURL, nett: nett, bus: bus)
                let clock = ContinuousClock()
                let deadline = clock.now + .seconds(10)
                while clock.now < deadline {
                    if (try? await metal.boot(.GET, "/boot/ipxe"))?.status == 400 { break }
                    try await Task.sleep(for: .milliseconds(100))
                }
                try await body(metal)
            }
        }
    } catch {
        try? await http.shutdown()
        throw error
    }
    try await http.shutdown()
}

/// Enrolls a machine over sushy-tools' fake system `number` (Redfish, basic auth from a credentials file).
func enrollRedfish(_ metal: MetalServer, name: String, system number: Int, verify: Bool = true,
                   console: String? = nil) async throws -> (MachineRecord, TaskRecord?) {
    let reference = try credentialsReference(user: MetalEmulators.redfishUser, password: MetalEmulators.redfishPassword)
    return try await metal.machines.enroll(
        MachineEnrollment(name: name, mac: MetalEmulators.fakeMAC(number), uuid: MetalEmulators.fakeSystem(number),
                          bmc: BMCConfig(protocol: .redfish, address: MetalEmulators.redfishAddress,
                                         systemID: MetalEmulators.fakeSystem(number), credentials: reference, tls: .plaintext),
                          console: console, verify: verify),
        context: testContext)
}
