import Foundation
import Logging
import NIOCore
@testable import NATS

enum TestEnv {
    static var url: String { ProcessInfo.processInfo.environment["DV_TEST_NATS_URL"] ?? "nats://127.0.0.1:14222" }
    static var authURL: String { ProcessInfo.processInfo.environment["DV_TEST_NATS_AUTH_URL"] ?? "nats://127.0.0.1:14223" }
    static var tokenURL: String { ProcessInfo.processInfo.environment["DV_TEST_NATS_TOKEN_URL"] ?? "nats://127.0.0.1:14224" }
    static var restartPort: Int { Int(ProcessInfo.processInfo.environment["DV_TEST_NATS_RESTART_PORT"] ?? "") ?? 14225 }

    static let logger: Logger = {
        var l = Logger(label: "nats-tests", factory: { _ in SwiftLogNoOpLogHandler() })
        l.logLevel = .critical
        return l
    }()

    static func options(_ url: String = TestEnv.url) -> NATSOptions {
        var o = NATSOptions(servers: [url])
        o.connectTimeout = .seconds(5)
        o.requestTimeout = .seconds(2)
        o.reconnect = NATSReconnectPolicy(initialDelay: .milliseconds(50), maxDelay: .milliseconds(250), maxAttempts: 200)
        return o
    }

    static func connect(_ url: String = TestEnv.url, configure: (inout NATSOptions) -> Void = { _ in }) async throws -> NATSClient {
        var o = options(url)
        configure(&o)
        return try await NATSClient.connect(o, logger: logger)
    }

    static func unique(_ prefix: String) -> String {
        "\(prefix)_\(NATSClient.randomToken(length: 10))"
    }
}

/// Deterministic PRNG for reproducible fuzzing.
struct SplitMix64: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

extension ByteBuffer {
    var string: String { String(buffer: self) }
}
