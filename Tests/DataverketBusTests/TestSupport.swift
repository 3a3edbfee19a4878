import DataverketBus
import DataverketCore
import Foundation
import Logging
import Testing
import DataverketTestSupport

/// The bus implementations the conformance suite runs against.
enum BusKind: String, Sendable, CaseIterable, CustomTestStringConvertible {
    case inProcess, jetStream
    var testDescription: String { rawValue }
}

enum BusTestEnv {
    static var natsURL: String { ProcessInfo.processInfo.environment["DV_TEST_NATS_URL"] ?? "nats://127.0.0.1:14222" }

    static let logger: Logger = {
        var logger = Logger(label: "bus-tests", factory: { _ in SwiftLogNoOpLogHandler() })
        logger.logLevel = .critical
        return logger
    }()

    static func token() -> String {
        let alphabet = Array("abcdefghijklmnopqrstuvwxyz0123456789")
        return String((0..<10).map { _ in alphabet.randomElement()! })
    }
}

/// Remembers the consumers a test created so they are deleted at the end (the JetStream streams are shared).
actor CreatedConsumers {
    var specs: [ConsumerSpec] = []
    func add(_ spec: ConsumerSpec) { specs.append(spec) }
}

/// One test's bus plus unique subjects and names, so tests run in parallel against one server.
struct Harness: Sendable {
    let kind: BusKind
    let bus: any Bus
    let token: String
    let created = CreatedConsumers()

    var service: String { "t\(token)" }
    func cmd(_ action: String) -> String { "dv.\(service).cmd.\(action)" }
    func evt(_ rest: String) -> String { "dv.\(service).evt.\(rest)" }
    func name(_ base: String) -> String { "\(base)_\(token)" }

    func consumer(_ stream: BusStream, _ base: String, filters: [String], ackWait: Duration = .seconds(30), maxDeliver: Int = 5) async throws -> any BusConsumer {
        let spec = ConsumerSpec(stream: stream, name: name(base), filterSubjects: filters, ackWait: ackWait, maxDeliver: maxDeliver)
        await created.add(spec)
        return try await bus.consumer(spec)
    }

    func message(_ subject: String, _ text: String, id: String? = nil, headers: [String: String] = [:]) -> BusMessage {
        BusMessage(subject: subject, id: id ?? "\(token)-\(UUID().uuidString)", payload: Array(text.utf8), headers: headers)
    }

    func cleanup() async {
        for spec in await created.specs {
            switch bus {
            case let bus as JetStreamBus: try? await bus.deleteConsumer(spec)
            case let bus as InProcessBus: await bus.deleteConsumer(spec)
            default: break
            }
        }
        await bus.close()
    }
}

/// Opens (and provisions) a bus of `kind`, runs `body`, then deletes the test's consumers and closes the bus.
/// JetStream tests fail (they do not skip) when `DV_TEST_NATS_URL` is unreachable.
func withBus(_ kind: BusKind, inProcess: InProcessBus.Configuration = InProcessBus.Configuration(),
             _ body: (Harness) async throws -> Void) async throws {
    let bus = try await openBus(kind, inProcess: inProcess)
    let harness = Harness(kind: kind, bus: bus, token: BusTestEnv.token())
    do {
        try await bus.provision()
        try await body(harness)
    } catch {
        await harness.cleanup()
        throw error
    }
    await harness.cleanup()
}

/// A new bus of `kind` (not provisioned).
func openBus(_ kind: BusKind, inProcess: InProcessBus.Configuration = InProcessBus.Configuration()) async throws -> any Bus {
    switch kind {
    case .inProcess:
        return InProcessBus(configuration: inProcess, logger: BusTestEnv.logger)
    case .jetStream:
        var configuration = try JetStreamBus.Configuration(url: BusTestEnv.natsURL)
        configuration.requestTimeout = .seconds(3)
        configuration.connectTimeout = .seconds(3)
        return try await JetStreamBus.connect(configuration, logger: BusTestEnv.logger)
    }
}

func text(_ delivery: BusDelivery) -> String { String(decoding: delivery.message.payload, as: UTF8.self) }

func seconds(_ duration: Duration) -> Double {
    let (s, a) = duration.components
    return Double(s) + Double(a) / 1e18
}
