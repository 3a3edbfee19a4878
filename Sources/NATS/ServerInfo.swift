/// The server's `INFO` payload (subset).
public struct NATSServerInfo: Sendable, Codable, Hashable {
    public var serverID: String?
    public var serverName: String?
    public var version: String?
    public var host: String?
    public var port: Int?
    public var headers: Bool?
    public var authRequired: Bool?
    public var tlsRequired: Bool?
    public var tlsAvailable: Bool?
    public var maxPayload: Int?
    public var proto: Int?
    public var clientID: UInt64?
    public var jetstream: Bool?
    public var nonce: String?
    public var connectURLs: [String]?
    public var ldm: Bool?

    enum CodingKeys: String, CodingKey {
        case serverID = "server_id"
        case serverName = "server_name"
        case version, host, port, headers
        case authRequired = "auth_required"
        case tlsRequired = "tls_required"
        case tlsAvailable = "tls_available"
        case maxPayload = "max_payload"
        case proto
        case clientID = "client_id"
        case jetstream, nonce
        case connectURLs = "connect_urls"
        case ldm
    }

    public init() {}
}

/// The client's `CONNECT` payload.
struct ConnectInfo: Sendable, Codable, Hashable {
    var verbose: Bool = false
    var pedantic: Bool = false
    var tlsRequired: Bool = false
    var name: String?
    var lang: String = "swift"
    var version: String = "0.1.0"
    var `protocol`: Int = 1
    var echo: Bool = true
    var headers: Bool = true
    var noResponders: Bool = true
    var user: String?
    var pass: String?
    var authToken: String?

    enum CodingKeys: String, CodingKey {
        case verbose, pedantic
        case tlsRequired = "tls_required"
        case name, lang, version
        case `protocol`
        case echo, headers
        case noResponders = "no_responders"
        case user, pass
        case authToken = "auth_token"
    }
}
