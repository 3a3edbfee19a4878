import DataverketAPI
import DataverketCore
import Nett

/// `/v1/network/dns`: the record sets Nett keeps in PowerDNS.
extension APIHandlers {
    func listNetworkDNS(_ input: Operations.ListNetworkDNS.Input) async throws -> Operations.ListNetworkDNS.Output {
        throw DataverketError(.unavailable, "DNS is not wired yet")
    }
}
