import Foundation
import DataverketClient
import ArgumentParser

/// Output formats of read commands.
enum OutputFormat: String, ExpressibleByArgument, CaseIterable {
    case table, json, yaml
}

/// Options every `dv` command takes.
struct GlobalOptions: ParsableArguments {
    @Option(name: .long, help: "Server URL (default: $DV_SERVER or http://127.0.0.1:8080).")
    var server: String?

    @Option(name: [.short, .customLong("output")], help: "Output format: table, json or yaml.")
    var output: OutputFormat = .table

    @Option(name: .long, help: "Access token (default: $DV_TOKEN, else the session `dvid login` saved).")
    var token: String?

    @Option(name: .customLong("request-timeout"), help: "Seconds to wait for each answer from the server (1–3600; default 30).")
    var requestTimeout: Int = 30

    @Option(name: .customLong("config-dir"), help: .hidden)
    var configDirectory: String?

    var serverURL: String {
        server ?? ProcessInfo.processInfo.environment["DV_SERVER"] ?? "http://127.0.0.1:8080"
    }

    /// A connected SDK client; calls made through `call` get their errors unwrapped to problems.
    func api() async throws -> API {
        let anonymous = try await anonymousAPI()
        guard let url = URL(string: serverURL) else { return anonymous }
        let bearer = try await credential()
        return API(client: DataverketClient.make(serverURL: url, timeout: .seconds(requestTimeout),
                                                 headers: bearer.map { ["Authorization": "Bearer \($0)"] } ?? [:]),
                   serverURL: serverURL)
    }

    /// A client without credentials (logging in, logging out).
    func anonymousAPI() async throws -> API {
        guard let url = URL(string: serverURL), let scheme = url.scheme, ["http", "https"].contains(scheme), url.host != nil else {
            throw ValidationError("--server must be an http(s) URL, got '\(serverURL)'")
        }
        guard (1...3600).contains(requestTimeout) else {
            throw ValidationError("--request-timeout must be 1–3600 seconds, got \(requestTimeout)")
        }
        return API(client: DataverketClient.make(serverURL: url, timeout: .seconds(requestTimeout)), serverURL: serverURL)
    }

    var credentials: CredentialStore { CredentialStore(directory: configDirectory) }

    /// `--token`, else `DV_TOKEN`, else the saved session for this server (refreshed when it is about to expire).
    func credential() async throws -> String? {
        if let token { return token }
        if let token = ProcessInfo.processInfo.environment["DV_TOKEN"], !token.isEmpty { return token }
        return try await credentials.accessToken(server: serverURL)
    }
}

/// The SDK client plus error unwrapping.
struct API {
    let client: Client
    let serverURL: String

    func call<T>(_ body: (Client) async throws -> T) async throws -> T {
        do {
            return try await body(client)
        } catch {
            throw DataverketClient.unwrap(error, serverURL: serverURL)
        }
    }
}

/// Parses `key=value` label arguments.
func parseLabels(_ items: [String]) throws -> [String: String] {
    var labels: [String: String] = [:]
    for item in items {
        guard let equals = item.firstIndex(of: "="), equals != item.startIndex else {
            throw ValidationError("labels are key=value, got '\(item)'")
        }
        labels[String(item[..<equals])] = String(item[item.index(after: equals)...])
    }
    return labels
}

/// Options shared by `create` commands.
struct CreateOptions: ParsableArguments {
    @Option(name: .customLong("display-name"), help: "Human-friendly name.")
    var displayName: String?

    @Option(help: "Free-text description.")
    var description: String?

    @Option(name: [.short, .customLong("label")], help: "A label key=value (repeatable).")
    var labels: [String] = []

    @Option(name: .customLong("idempotency-key"), help: "Makes a retried create return the first result.")
    var idempotencyKey: String?

    func body(name: String) throws -> Components.Schemas.ResourceCreate {
        let labels = try parseLabels(self.labels)
        return .init(name: name, displayName: displayName, description: description,
                     labels: labels.isEmpty ? nil : .init(additionalProperties: labels))
    }
}

/// Options shared by `update` commands: read, change, write back with If-Match.
struct UpdateOptions: ParsableArguments {
    @Option(name: .customLong("display-name"), help: "New human-friendly name.")
    var displayName: String?

    @Option(help: "New description.")
    var description: String?

    @Option(name: [.short, .customLong("label")], help: "Set a label key=value (repeatable).")
    var labels: [String] = []

    @Option(name: .customLong("remove-label"), help: "Remove a label by key (repeatable).")
    var removeLabels: [String] = []

    func validate() throws {
        if displayName == nil, description == nil, labels.isEmpty, removeLabels.isEmpty {
            throw ValidationError("nothing to change: give --display-name, --description, --label or --remove-label")
        }
    }

    func body(current: [String: String]) throws -> Components.Schemas.ResourceUpdate {
        var next = current
        for (key, value) in try parseLabels(labels) { next[key] = value }
        for key in removeLabels { next[key] = nil }
        let changedLabels = labels.isEmpty && removeLabels.isEmpty ? nil : Components.Schemas.Labels(additionalProperties: next)
        return .init(displayName: displayName, description: description, labels: changedLabels)
    }
}

/// `--limit`: how many items a list shows at most (all by default, fetched page by page).
struct ListOptions: ParsableArguments {
    @Option(help: "Show at most this many items.")
    var limit: Int?

    func validate() throws {
        if let limit, limit < 1 { throw ValidationError("--limit must be at least 1") }
    }

    static let pageSize = 500
    static let maxPages = 1000

    /// Fetches pages until there are no more or `limit` items are in hand.
    func collect<Item>(_ fetch: (_ pageSize: Int, _ cursor: String?) async throws -> ([Item], String?)) async throws -> [Item] {
        var items: [Item] = []
        var cursor: String?
        for _ in 0..<Self.maxPages {
            let want = limit.map { min(Self.pageSize, $0 - items.count) } ?? Self.pageSize
            let (page, next) = try await fetch(want, cursor)
            items += page
            cursor = next
            if cursor == nil || (limit.map { items.count >= $0 } ?? false) { break }
        }
        return items
    }
}
