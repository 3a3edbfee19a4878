import NIOCore
import NIOPosix
import NIOSSL

/// Reconnect policy: exponential backoff with a cap and jitter; bounded attempts or forever.
public struct NATSReconnectPolicy: Sendable {
    public var enabled: Bool
    public var initialDelay: Duration
    public var maxDelay: Duration
    public var multiplier: Double
    /// Fraction (0...1) of the delay that is randomised (+/-).
    public var jitter: Double
    /// nil = retry forever.
    public var maxAttempts: Int?

    public init(enabled: Bool = true,
                initialDelay: Duration = .milliseconds(100),
                maxDelay: Duration = .seconds(5),
                multiplier: Double = 2,
                jitter: Double = 0.2,
                maxAttempts: Int? = 120) {
        self.enabled = enabled
        self.initialDelay = initialDelay
        self.maxDelay = maxDelay
        self.multiplier = max(1, multiplier)
        self.jitter = min(max(0, jitter), 1)
        self.maxAttempts = maxAttempts
    }

    public static let `default` = NATSReconnectPolicy()
    public static let never = NATSReconnectPolicy(enabled: false)
    public static func forever(initialDelay: Duration = .milliseconds(100), maxDelay: Duration = .seconds(5)) -> NATSReconnectPolicy {
        NATSReconnectPolicy(initialDelay: initialDelay, maxDelay: maxDelay, maxAttempts: nil)
    }

    /// Delay before reconnect attempt `attempt` (0-based), jitter applied via `random` in [0, 1).
    public func delay(forAttempt attempt: Int, random: Double) -> Duration {
        let initialNs = Double(initialDelay.nanoseconds)
        let capNs = Double(maxDelay.nanoseconds)
        let exp = min(Double(max(0, min(attempt, 62))), 62)
        var ns = min(capNs, initialNs * pow(multiplier, exp))
        ns *= 1 + jitter * (2 * min(max(random, 0), 1) - 1)
        return .nanoseconds(Int64(max(0, min(ns, capNs * 2))))
    }
}

private func pow(_ base: Double, _ exp: Double) -> Double {
    var r = 1.0
    var i = 0.0
    while i < exp {
        r *= base
        if r > 1e30 { return r }
        i += 1
    }
    return r
}

extension Duration {
    var nanoseconds: Int64 {
        let (s, a) = components
        let (ns, overflow) = s.multipliedReportingOverflow(by: 1_000_000_000)
        if overflow { return s < 0 ? Int64.min : Int64.max }
        return ns.addingReportingOverflow(a / 1_000_000_000).partialValue
    }

    var timeAmount: TimeAmount { .nanoseconds(nanoseconds) }
}

/// Connection options.
public struct NATSOptions: Sendable {
    /// `nats://[user:pass@]host[:port]`, `tls://host:port` or `host:port`. Tried in order; rotated on reconnect.
    public var servers: [String]
    public var name: String?
    public var user: String?
    public var password: String?
    public var token: String?
    /// TLS configuration. When nil, TLS is still used (with the default client configuration) if the
    /// server's INFO says `tls_required` or the URL scheme is `tls://`.
    public var tls: TLSConfiguration?
    public var pingInterval: Duration
    public var maxPingsOut: Int
    public var connectTimeout: Duration
    public var reconnect: NATSReconnectPolicy
    /// Max bytes of publishes buffered while reconnecting; publishing beyond it throws `.reconnectBufferFull`.
    public var reconnectBufferSize: Int
    public var headers: Bool
    public var echo: Bool
    public var verbose: Bool
    public var pedantic: Bool
    public var inboxPrefix: String
    /// Default per-subscription buffer (messages) before messages are dropped as slow consumer.
    public var subscriptionBufferSize: Int
    public var requestTimeout: Duration
    /// Add servers advertised by the cluster (INFO `connect_urls`) to the reconnect pool.
    public var discoverServers: Bool
    public var eventLoopGroup: any EventLoopGroup

    public init(servers: [String] = ["nats://127.0.0.1:4222"],
                name: String? = nil,
                user: String? = nil,
                password: String? = nil,
                token: String? = nil,
                tls: TLSConfiguration? = nil,
                pingInterval: Duration = .seconds(60),
                maxPingsOut: Int = 2,
                connectTimeout: Duration = .seconds(5),
                reconnect: NATSReconnectPolicy = .default,
                reconnectBufferSize: Int = 8 << 20,
                headers: Bool = true,
                echo: Bool = true,
                verbose: Bool = false,
                pedantic: Bool = false,
                inboxPrefix: String = "_INBOX",
                subscriptionBufferSize: Int = 65_536,
                requestTimeout: Duration = .seconds(5),
                discoverServers: Bool = true,
                eventLoopGroup: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton) {
        self.servers = servers
        self.name = name
        self.user = user
        self.password = password
        self.token = token
        self.tls = tls
        self.pingInterval = pingInterval
        self.maxPingsOut = maxPingsOut
        self.connectTimeout = connectTimeout
        self.reconnect = reconnect
        self.reconnectBufferSize = reconnectBufferSize
        self.headers = headers
        self.echo = echo
        self.verbose = verbose
        self.pedantic = pedantic
        self.inboxPrefix = inboxPrefix
        self.subscriptionBufferSize = subscriptionBufferSize
        self.requestTimeout = requestTimeout
        self.discoverServers = discoverServers
        self.eventLoopGroup = eventLoopGroup
    }
}

/// A parsed server URL.
struct NATSServerAddress: Sendable, Hashable {
    var host: String
    var port: Int
    var tls: Bool
    var user: String?
    var password: String?

    init(host: String, port: Int, tls: Bool = false, user: String? = nil, password: String? = nil) {
        self.host = host
        self.port = port
        self.tls = tls
        self.user = user
        self.password = password
    }

    init(parsing url: String) throws {
        var rest = Substring(url.trimmingSpacesString())
        var tls = false
        if let r = rest.range(of: "://") {
            let scheme = rest[..<r.lowerBound].lowercased()
            switch scheme {
            case "nats": tls = false
            case "tls": tls = true
            default: throw NATSError(code: .invalidArgument, message: "unsupported URL scheme '\(scheme)'")
            }
            rest = rest[r.upperBound...]
        }
        if let slash = rest.firstIndex(of: "/") { rest = rest[..<slash] }
        var user: String?
        var password: String?
        if let at = rest.lastIndex(of: "@") {
            let userinfo = rest[..<at]
            rest = rest[rest.index(after: at)...]
            if let colon = userinfo.firstIndex(of: ":") {
                user = String(userinfo[..<colon])
                password = String(userinfo[userinfo.index(after: colon)...])
            } else {
                user = String(userinfo)
            }
        }
        var host: Substring
        var portPart: Substring?
        if rest.hasPrefix("[") {
            guard let close = rest.firstIndex(of: "]") else { throw NATSError(code: .invalidArgument, message: "bad IPv6 address in '\(url)'") }
            host = rest[rest.index(after: rest.startIndex)..<close]
            let after = rest[rest.index(after: close)...]
            if after.hasPrefix(":") { portPart = after.dropFirst() }
        } else if let colon = rest.lastIndex(of: ":") {
            host = rest[..<colon]
            portPart = rest[rest.index(after: colon)...]
        } else {
            host = rest
        }
        guard !host.isEmpty else { throw NATSError(code: .invalidArgument, message: "missing host in '\(url)'") }
        var port = 4222
        if let portPart {
            guard let p = Int(portPart), (1...65535).contains(p) else {
                throw NATSError(code: .invalidArgument, message: "bad port in '\(url)'")
            }
            port = p
        }
        self.init(host: String(host), port: port, tls: tls, user: user, password: password)
    }
}

extension String {
    func trimmingSpacesString() -> String { String(Substring(self).trimmingSpaces()) }
}
