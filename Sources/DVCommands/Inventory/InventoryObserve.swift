import ArgumentParser
import DataverketClient
import Foundation

/// `dv inventory observe -f OBSERVATION.json`
struct InventoryObserve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "observe", abstract: "Record an observation (what a BMC, LLDP or a boot saw of a device), from a JSON file.",
        discussion: #"{"source": "lldp", "device": "osl1-r01-srv01", "interfaces": [{"name": "eno1", "neighbor": {"device": "osl1-leaf1", "interface": "swp1"}}], "observedAt": "2026-11-23T12:00:00Z"}"#)
    @Option(name: [.short, .customLong("filename")], help: "The observation as JSON ('-' for standard input).") var file: String
    @OptionGroup var global: GlobalOptions

    func run() async throws {
        let data = file == "-" ? FileHandle.standardInput.readDataToEndOfFile() : FileManager.default.contents(atPath: file)
        guard let data, data.count <= 1 << 20 else { throw CommandFailure(message: "error: cannot read \(file) (or it is over 1 MiB)") }
        let body: Components.Schemas.ObservationRequest
        do {
            let decoder = JSONDecoder()
            decoder.dateDecodingStrategy = .custom { decoder in
                try RFC3339DateTranscoder().decode(try decoder.singleValueContainer().decode(String.self))
            }
            body = try decoder.decode(Components.Schemas.ObservationRequest.self, from: data)
        } catch {
            throw CommandFailure(message: "error: \(file) is not an observation (source, device/serial/macs, interfaces, hardware, observedAt): \(error)")
        }
        let record = try await global.api().call { try await $0.createInventoryObservation(body: .json(body)).created.body.json }
        let values = try InventoryValue.dictionary(record)
        if global.output == .table {
            Terminal.write("observation \(InventoryValue.cell(values["id"])) recorded"
                           + ((values["device"] as? String).map { ", matched to device \($0)" } ?? ", not matched to a declared device"))
        } else {
            Terminal.write(global.output == .json ? try Render.json(record) : try Render.yaml(record))
        }
    }
}
