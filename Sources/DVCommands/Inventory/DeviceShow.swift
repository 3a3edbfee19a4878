import ArgumentParser
import DataverketClient

/// `dv device show NAME`
struct DeviceShow: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "show", abstract: "Show a device: facts, interfaces, cabling, allocation.")
    @Argument(help: "Device name.") var name: String
    @OptionGroup var global: GlobalOptions

    func run() async throws {
        let device = try await global.api().call { try await $0.getInventoryDevice(path: .init(device: name)).ok.body.json }
        Terminal.write(global.output == .json ? try Render.json(device) : try Render.yaml(device))
    }
}
