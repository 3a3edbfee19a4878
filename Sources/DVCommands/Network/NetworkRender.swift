import ArgumentParser
import Foundation
import NettIntent

/// `dvnet render -f INTENT.yaml --device D --platform sonic|eos|ovs|frr|nftables`
struct NetworkRender: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "render", abstract: "Render one device's configuration from an intent, locally (SONiC config_db.json, EOS, Open vSwitch ports, FRR frr.conf, nftables).")
    @Option(name: .shortAndLong, help: "The intent (YAML or JSON).") var file: String
    @Option(help: "The device (switch or router name).") var device: String
    @Option(help: "sonic, eos, ovs, frr or nftables.") var platform: String

    func validate() throws {
        guard ["sonic", "eos", "ovs", "frr", "nftables"].contains(platform) else {
            throw ValidationError("--platform must be sonic, eos, ovs, frr or nftables")
        }
    }

    func run() throws {
        guard let data = FileManager.default.contents(atPath: file), data.count <= 16 << 20 else {
            throw ValidationError("cannot read \(file) (or it is larger than 16 MiB)")
        }
        let intent = try NetworkIntent.load(yaml: String(decoding: data, as: UTF8.self), source: file)
        let report = IntentVerifier.verify(intent)
        guard report.ok else {
            throw CommandFailure(message: "the intent does not verify:\n" + report.problems.map { "  \($0)" }.joined(separator: "\n"))
        }
        let renderer: any ConfigRenderer = switch platform {
        case "sonic": SONiCRenderer()
        case "eos": EOSRenderer()
        case "ovs": OVSRenderer()
        case "frr": FRRRenderer()
        default: NftablesRenderer()
        }
        let text = try renderer.render(intent, device: device)
        Terminal.write(text.hasSuffix("\n") ? String(text.dropLast()) : text)
    }
}
