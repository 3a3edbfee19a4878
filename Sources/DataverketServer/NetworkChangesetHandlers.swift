import DataverketAPI
import DataverketCore
import Nett

/// `/v1/network/changesets` and `/v1/network/drift`: intent applied as tasks, drift read back.
extension APIHandlers {
    func listNetworkChangesets(_ input: Operations.ListNetworkChangesets.Input) async throws -> Operations.ListNetworkChangesets.Output {
        throw DataverketError(.unavailable, "changesets are not wired yet")
    }

    func createNetworkChangeset(_ input: Operations.CreateNetworkChangeset.Input) async throws -> Operations.CreateNetworkChangeset.Output {
        throw DataverketError(.unavailable, "changesets are not wired yet")
    }

    func getNetworkChangeset(_ input: Operations.GetNetworkChangeset.Input) async throws -> Operations.GetNetworkChangeset.Output {
        throw DataverketError(.unavailable, "changesets are not wired yet")
    }

    func approveNetworkChangeset(_ input: Operations.ApproveNetworkChangeset.Input) async throws -> Operations.ApproveNetworkChangeset.Output {
        throw DataverketError(.unavailable, "changesets are not wired yet")
    }

    func listNetworkDrift(_ input: Operations.ListNetworkDrift.Input) async throws -> Operations.ListNetworkDrift.Output {
        throw DataverketError(.unavailable, "drift is not wired yet")
    }

    func remediateNetworkDrift(_ input: Operations.RemediateNetworkDrift.Input) async throws -> Operations.RemediateNetworkDrift.Output {
        throw DataverketError(.unavailable, "drift is not wired yet")
    }

    func acceptNetworkDrift(_ input: Operations.AcceptNetworkDrift.Input) async throws -> Operations.AcceptNetworkDrift.Output {
        throw DataverketError(.unavailable, "drift is not wired yet")
    }
}
