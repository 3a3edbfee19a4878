import DataverketClient
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Sessions `dvid login` saved, per server, in `~/.config/dataverket/credentials.json` (0600).
struct CredentialStore {
    struct Entry: Codable {
        var accessToken: String
        var refreshToken: String
        var expiresAt: Date
        var subject: String
    }

    let directory: String?

    var path: String {
        let environment = ProcessInfo.processInfo.environment
        let home = environment["HOME"].flatMap { $0.isEmpty ? nil : $0 } ?? NSHomeDirectory()
        let base = directory ?? environment["XDG_CONFIG_HOME"].flatMap { $0.isEmpty ? nil : $0 + "/dataverket" }
            ?? (home + "/.config/dataverket")
        return base + "/credentials.json"
    }

    func load() throws -> [String: Entry] {
        guard let data = FileManager.default.contents(atPath: path) else { return [:] }
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        do {
            return try decoder.decode([String: Entry].self, from: data)
        } catch {
            throw CommandFailure(message: "error: \(path) is not a credentials file (\(error)); remove it and log in again")
        }
    }

    func save(_ entries: [String: Entry]) throws {
        let encoder = JSONEncoder()
        encoder.dateEncodingStrategy = .iso8601
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        let directory = (path as NSString).deletingLastPathComponent
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true,
                                                attributes: [.posixPermissions: 0o700])
        let temporary = path + ".tmp"
        guard FileManager.default.createFile(atPath: temporary, contents: try encoder.encode(entries),
                                             attributes: [.posixPermissions: 0o600]) else {
            throw CommandFailure(message: "error: cannot write \(path)")
        }
        // rename(2) replaces the old file atomically: a crash leaves the old session or the new one, never half.
        guard rename(temporary, path) == 0 else { throw CommandFailure(message: "error: cannot replace \(path): errno \(errno)") }
    }

    func store(_ tokens: Components.Schemas.TokenResponse, server: String) throws {
        var entries = try load()
        entries[server] = Entry(accessToken: tokens.accessToken, refreshToken: tokens.refreshToken,
                                expiresAt: Date().addingTimeInterval(TimeInterval(tokens.expiresIn)), subject: tokens.subject)
        try save(entries)
    }

    func remove(server: String) throws -> Entry? {
        var entries = try load()
        let removed = entries.removeValue(forKey: server)
        if removed != nil { try save(entries) }
        return removed
    }

    /// The saved access token for `server`, refreshed (and saved) when it expires within a minute.
    func accessToken(server: String) async throws -> String? {
        guard let entry = try load()[server] else { return nil }
        if entry.expiresAt.timeIntervalSinceNow > 60 { return entry.accessToken }
        guard let url = URL(string: server) else { return nil }
        do {
            let tokens = try await DataverketClient.make(serverURL: url)
                .createToken(body: .json(.init(grantType: .refreshToken, token: entry.refreshToken))).ok.body.json
            try store(tokens, server: server)
            return tokens.accessToken
        } catch {
            throw CommandFailure(message: "error: the saved session for \(server) has ended (\(DataverketClient.unwrap(error, serverURL: server))); log in again: dvid login")
        }
    }
}
