import DataverketAPI
import DataverketCore
import Logging
import Nett
import Sentral
import DataverketTasks

/// `/v1/network/dns`: the record sets Nett keeps in PowerDNS.
extension APIHandlers {
    func listNetworkDNS(_ input: Operations.ListNetworkDNS.Input) async throws -> Operations.ListNetworkDNS.Output {
        var zones: [String]?
        if let zone = input.query.zone {
            do {
                zones = [try DNSSync.zone(zone)]
            } catch {
                throw DataverketError(.malformedRequest, error.message, violations: error.violations)
            }
        }
        guard let dns else {
            return .ok(.init(body: .json(.init(items: [], notConfigured: "DNS is not configured on this server: set DV_PDNS_URL, DV_PDNS_API_KEY_FILE and DV_DNS_ZONES"))))
        }
        let sets = try await dns.sync.records(zones: zones)
        return .ok(.init(body: .json(.init(items: try sets.map(NetworkJSON.object), nextCursor: nil))))
    }
}

extension DataverketServer {
    /// Nett's DNS sync over `sentral`'s store when `configuration.dns` is set (`DV_PDNS_URL`), with its own HTTP client
    /// for PowerDNS, which the caller shuts down (`sync.client.httpClient`) after the service ends; nil otherwise.
    public static func dnsSyncService(sentral: ControlPlane, configuration: ServerConfiguration, logger: Logger) -> DNSSyncService? {
        guard let dns = configuration.dns else { return nil }
        return DNSSyncService(configuration: dns, ipam: IPAM(database: sentral.database, logger: logger),
                              httpClient: PowerDNSClient.makeHTTPClient(), logger: logger)
    }
}
