import ArgumentParser
import DataverketClient

/// `dv rack show NAME`
struct RackShow: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "show", abstract: "Print a rack's elevation, unit by unit.")
    @Argument(help: "Rack name, e.g. OSL1-R01.") var name: String
    @OptionGroup var global: GlobalOptions

    func run() async throws {
        let elevation = try await global.api().call { try await $0.getRackElevation(path: .init(rack: name)).ok.body.json }
        try InventoryText.print(elevation, global.output)
    }
}

/// Server-rendered text (`table`), or the structured value.
enum InventoryText {
    static func print(_ rendered: Components.Schemas.InventoryRendered, _ format: OutputFormat) throws {
        switch format {
        case .table: Terminal.write(rendered.text.hasSuffix("\n") ? String(rendered.text.dropLast()) : rendered.text)
        case .json: Terminal.write(try Render.json(rendered.value))
        case .yaml: Terminal.write(try Render.yaml(rendered.value))
        }
    }
}
