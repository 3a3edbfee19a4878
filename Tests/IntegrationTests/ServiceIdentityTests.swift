import DataverketBus
import DataverketCore
import Foundation
import Logging
import NATS
import Testing
import DataverketTestSupport

@Suite("Service identities on NATS")
struct ServiceIdentityTests {
    @Test("deploy/nats/dataverket.conf is what `dataverket nats-config` generates")
    func committedConfigIsGenerated() throws {
        let committed = try String(contentsOfFile: repositoryPath("deploy/nats/dataverket.conf"), encoding: .utf8)
        #expect(committed == ServicePermissions.serverConfiguration())
    }

    @Test("each service's NATS user: maskin cannot publish nett's commands nor bind its consumer; its own worker path works")
    func servicesAreConfined() async throws {
        let passwords = Dictionary(uniqueKeysWithValues: ServicePermissions.services.map { ($0, "pw" + ULID.make().lowercased()) })
        let configFile = FileManager.default.temporaryDirectory.appendingPathComponent("dv-nats-\(ULID.make()).conf").path
        try ServicePermissions.serverConfiguration().write(toFile: configFile, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: configFile) }
        let environment = Dictionary(uniqueKeysWithValues: passwords.map { (ServicePermissions.passwordVariable(for: $0.key), $0.value) })
        let server = try await LocalNATSServer.start(configFile: configFile, environment: environment)
        func url(_ service: String) -> String { "nats://\(service):\(passwords[service]!)@127.0.0.1:\(server.port)" }
        func client(_ service: String) async throws -> NATSClient {
            var options = NATSOptions(servers: ["nats://127.0.0.1:\(server.port)"])
            options.user = service
            options.password = passwords[service]
            options.reconnect = .never
            return try await NATSClient.connect(options, logger: quietLogger)
        }
        do {
            let sentralBus = try await BusConfiguration.open(natsURL: url("sentral"), logger: quietLogger)
            try await sentralBus.provision()
            let sentral = try await client("sentral")
            let maskin = try await client("maskin")
            let spy = try await sentral.subscribe("dv.nett.cmd.>")
            let maskinEvents = try await sentral.subscribe("dv.maskin.evt.>")
            try await sentral.flush()

            try await maskin.publish("dv.nett.cmd.power-off", payload: "reboot the other team's switch")
            try await maskin.publish("dv.maskin.evt.hello", payload: "mine")
            try await maskin.flush()
            let violations = await collect(maskin.events.filter { $0.kind == .serverError }, count: 1, timeout: .seconds(10))
            #expect(violations.first?.error?.message.contains("Permissions Violation for Publish to \"dv.nett.cmd.power-off\"") == true,
                    "\(violations)")
            #expect(await collect(maskinEvents, count: 1, timeout: .seconds(3)).count == 1)
            // Nor may it listen to other services' replies.
            let snoop = try await client("maskin")
            let snooped = try await snoop.subscribe("_INBOX.>")
            try await snoop.flush()
            try await sentral.publish("_INBOX.sentral.reply-for-sentral", payload: "not for maskin")
            try await sentral.flush()
            #expect(await collect(snooped, count: 1, timeout: .seconds(1)).isEmpty, "maskin read sentral's reply")
            await snoop.close()
            #expect(await collect(spy, count: 1, timeout: .milliseconds(500)).isEmpty, "nett's command went through")

            // Maskin's worker path over JetStream, as TaskWorker drives it.
            let maskinBus = try await BusConfiguration.open(natsURL: url("maskin"), logger: quietLogger)
            let consumer = try await maskinBus.consumer(ConsumerSpec(stream: .commands, name: "maskin-worker", filterSubjects: ["dv.maskin.cmd.>"]))
            _ = try await sentralBus.publish(BusMessage(subject: "dv.maskin.cmd.power-on", id: ULID.make(), payload: Array("{}".utf8)))
            let deliveries = try await consumer.fetch(batch: 1, wait: .seconds(3))
            #expect(deliveries.count == 1)
            try await deliveries.first?.ack()
            _ = try await maskinBus.publish(BusMessage(subject: "dv.maskin.evt.powered-on", id: ULID.make(), payload: Array("{}".utf8)))
            await #expect(throws: (any Error).self, "maskin published a command for nett") {
                _ = try await maskinBus.publish(BusMessage(subject: "dv.nett.cmd.power-off", id: ULID.make(), payload: Array("{}".utf8)))
            }
            await #expect(throws: (any Error).self, "maskin bound nett's command consumer") {
                _ = try await maskinBus.consumer(ConsumerSpec(stream: .commands, name: "nett-worker", filterSubjects: ["dv.nett.cmd.>"]))
            }
            await maskinBus.close()
            await sentralBus.close()
            await maskin.close()
            await sentral.close()
        } catch {
            await server.stop()
            throw error
        }
        await server.stop()
    }
}

/// A path inside the repository, found from this source file.
func repositoryPath(_ relative: String) -> String {
    var url = URL(fileURLWithPath: #filePath)
    while url.path != "/" && !FileManager.default.fileExists(atPath: url.appendingPathComponent("Package.swift").path) {
        url.deleteLastPathComponent()
    }
    return url.appendingPathComponent(relative).path
}
