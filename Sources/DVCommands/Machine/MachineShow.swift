import ArgumentParser
import DataverketClient
import Foundation

/// `dvce machine show NAME`
struct MachineShow: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "show", abstract: "A machine: state (with the failed step and cause), power, BMC, allowed actions, boot events, console tail.")
    @Argument(help: "Machine name or ID.") var machine: String
    @OptionGroup var global: GlobalOptions

    func run() async throws {
        let detail = try await global.api().call { try await $0.getMachine(path: .init(machine: machine)).ok.body.json }
        guard global.output == .table else {
            return Terminal.write(global.output == .json ? try Render.json(detail) : try Render.yaml(detail))
        }
        Terminal.write(try Self.render(InventoryValue.dictionary(detail)))
    }

    static func render(_ values: [String: Any]) -> String {
        let machine = values["machine"] as? [String: Any] ?? [:]
        func cell(_ path: String) -> String { InventoryValue.cell(InventoryValue.lookup(machine, path)) }
        var lines = [
            "machine:   \(cell("name")) (\(cell("id")))",
            "state:     \(MachineText.state(machine["state"]))",
            "since:     \(cell("lastTransition"))" + (machine["deadline"] != nil ? "  (deadline \(cell("deadline")))" : ""),
            "power:     \(cell("power")) (read \(cell("powerObservedAt")))",
            "bmc:       \(cell("bmc.protocol")) \(cell("bmc.address")), credentials \(cell("bmc.credentials"))",
            "mac:       \(cell("mac"))   uuid: \(cell("uuid"))   serial: \(cell("serial"))",
            "cluster:   \(cell("cluster")) (\(cell("role")))   install disk: \(cell("installDisk"))",
            "networks:  \((machine["networks"] as? [String]).map { $0.joined(separator: ", ") } ?? "provisioning")",
            "task:      \(cell("taskID"))",
            "failed deploys in a row: \(cell("failedDeploys"))",
        ]
        if machine["bmcCredentialsRefusedAt"] != nil {
            lines.append("BMC REFUSED THE CREDENTIALS at \(cell("bmcCredentialsRefusedAt")): they are not used again until they change or `dvce machine verify \(cell("name"))`")
        } else if machine["bmcError"] != nil {
            lines.append("BMC NOT ANSWERING since \(cell("bmcFailingSince")): \(cell("bmcError"))")
        }
        let allowed = (values["allowedActions"] as? [String]) ?? []
        lines.append("allowed:   \(allowed.isEmpty ? "none" : allowed.joined(separator: ", "))")
        let events = values["bootEvents"] as? [[String: Any]] ?? []
        lines.append("")
        lines.append("boot events:")
        if events.isEmpty {
            lines.append("  (none)")
        } else {
            lines.append(Render.table(events.map { event in
                [InventoryValue.cell(event["at"]), InventoryValue.cell(event["kind"]), InventoryValue.cell(event["detail"]),
                 InventoryValue.cell(event["address"])]
            }, headers: ["AT", "EVENT", "DETAIL", "FROM"]).split(separator: "\n").map { "  " + $0 }.joined(separator: "\n"))
        }
        let console = values["consoleTail"] as? [String] ?? []
        if !console.isEmpty {
            lines.append("")
            lines.append("console (last \(console.count) lines):")
            lines.append(contentsOf: console.map { "  | " + $0 })
        }
        return lines.joined(separator: "\n")
    }
}
