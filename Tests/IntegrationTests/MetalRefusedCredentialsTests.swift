import DataverketCore
import DataverketServer
import DataverketStore
import Foundation
import Hummingbird
import Identitet
import Logging
import Maskin
import ServiceLifecycle
import Testing
import DataverketTestSupport

/// A Redfish BMC that refuses every login (HTTP 401) and counts the attempts.
struct RefusingBMC: Service {
    actor Counter {
        var requests = 0
        func add() { requests += 1 }
    }
    let counter: Counter
    let onListening: @Sendable (Int) async -> Void

    func run() async throws {
        let router = Router()
        let counter = self.counter
        router.addMiddleware {
            LogRequestsMiddleware(.trace)
        }
        router.on("**", method: .get) { _, _ -> Response in
            await counter.add()
            return Response(status: .unauthorized, headers: [.wwwAuthenticate: #"Basic realm="BMC""#])
        }
        router.on("**", method: .post) { _, _ -> Response in
            await counter.add()
            return Response(status: .unauthorized)
        }
        router.on("**", method: .patch) { _, _ -> Response in
            await counter.add()
            return Response(status: .unauthorized)
        }
        let app = Application(router: router, configuration: .init(address: .hostname("127.0.0.1", port: 0)),
                              onServerRunning: { await onListening($0.localAddress?.port ?? 0) }, logger: quietLogger)
        try await app.runService()
    }
}

/// Issue 16 §10: real BMCs lock an account after a few failed logins, so a refusal is never retried.
@Suite("Refused BMC credentials (Maskin)")
struct MetalRefusedCredentialsTests {
    @Test("a BMC that answers 401 is asked once: no task retries, no sweep logins — until the credentials change or an operator verifies")
    func refusedOnce() async throws {
        let counter = RefusingBMC.Counter()
        // The background power sweep stays out of the way; the test sweeps by hand.
        let settings = MaskinSettings(powerInterval: .seconds(3600))
        try await withListeningService(logger: quietLogger, { RefusingBMC(counter: counter, onListening: $0) }) { port in
            try await withMetalServer(.sqlite, settings: settings) { metal in
                let password = "Wrong-\(ULID.make())"
                let reference = try credentialsReference(user: "dvadmin", password: password)
                _ = try await metal.machines.enroll(
                    MachineEnrollment(name: "locked", mac: "52:54:00:a0:01:01", uuid: MetalEmulators.fakeSystem(1),
                                      bmc: BMCConfig(protocol: .redfish, address: "127.0.0.1:\(port)", systemID: "s1", credentials: reference,
                                                     tls: .plaintext),
                                      verify: true),
                    context: testContext)
                var machine = try await metal.wait(for: "locked", within: .seconds(60)) { $0.state != .verifying }
                guard case .failed(.verify, let reason) = machine.state else {
                    Issue.record("expected failed(verify), got \(machine.state)")
                    return
                }
                #expect(reason.contains("refused the credentials"), "\(reason)")
                let task = try await metal.waitTask(try #require(machine.taskID), within: .seconds(30))
                #expect(task.state == .failed && task.attempts == 1, "\(task.state) attempts \(task.attempts)")
                let logins = await counter.requests
                #expect(logins == 1, "the verify task logged in \(logins) times")
                #expect(machine.bmcCredentialsRefusedAt != nil)

                // The power sweep does not log in with refused credentials, however often it runs.
                let sweeper = MachineSweeper(machines: metal.machines, connector: metal.maskin.connector, settings: settings, logger: quietLogger)
                for _ in 0..<3 { _ = try await sweeper.reconcilePower() }
                #expect(await counter.requests == 1)
                let shown = await metal.dvce("machine", "show", "locked")
                #expect(shown.out.contains("BMC REFUSED THE CREDENTIALS at"), "\(shown.out)")
                #expect(!shown.out.contains(password))
                let raw = try await metal.server.raw(.GET, "/v1/machines/locked")
                #expect(raw.body.contains("bmcCredentialsRefusedAt") && !raw.body.contains("bmcRefusedCredentials"), "\(raw.body)")

                // An operator asking to verify tries once more (and is refused once more).
                _ = try await metal.machines.act("locked", action: .verify, context: testContext)
                machine = try await metal.wait(for: "locked", within: .seconds(60)) { $0.state != .verifying }
                #expect(await counter.requests == 2)
                #expect(machine.bmcCredentialsRefusedAt != nil)
                for _ in 0..<3 { _ = try await sweeper.reconcilePower() }
                #expect(await counter.requests == 2)

                // New credentials behind the same reference: the next sweep uses them (one login), then stops again.
                try SecretFile.write("dvadmin:Other-\(ULID.make())\n", to: String(reference.dropFirst("file:".count)))
                for _ in 0..<3 { _ = try await sweeper.reconcilePower() }
                #expect(await counter.requests == 3)
            }
        }
    }
}
