import ArgumentParser
import DataverketClient
import Foundation

/// `dvce machine enroll NAME --mac MAC --bmc redfish://HOST[:PORT] --bmc-credentials file:/PATH …`
struct MachineEnroll: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "enroll", abstract: "Enroll a machine by its provisioning MAC and its BMC; verifying the BMC starts at once.",
        discussion: "The BMC credentials are a secret reference the server resolves (file:/path or env:NAME holding username:password), never the secret.")
    @Argument(help: "Machine name.") var name: String
    @Option(help: "MAC address of the provisioning NIC.") var mac: String
    @Option(help: "The BMC: redfish://HOST[:PORT] or ipmi://HOST[:PORT].") var bmc: String
    @Option(name: .customLong("bmc-credentials"), help: "Secret reference: file:/path or env:NAME (username:password).") var credentials: String
    @Option(name: .customLong("bmc-system"), help: "Redfish system ID when the BMC manages several.") var systemID: String?
    @Option(name: .customLong("bmc-tls"), help: "Redfish TLS: verify (default), insecure, plaintext (loopback only).") var tls: String?
    @Option(name: .customLong("bmc-ca"), help: "Redfish: PEM file of the CA to pin.") var caFile: String?
    @Option(help: "SMBIOS system UUID (else learned at inspection).") var uuid: String?
    @Option(help: "Serial number.") var serial: String?
    @Option(help: "Architecture (x86_64, arm64).") var arch: String?
    @Option(help: "The inventory device this machine is.") var device: String?
    @Option(help: "Datacenter.") var datacenter: String?
    @Option(help: "Where its console can be read: file:/path (a serial log).") var console: String?
    @Flag(name: .customLong("no-verify"), help: "Do not start verifying the BMC.") var noVerify = false
    @Flag(help: "Wait for the verification task.") var wait = false
    @OptionGroup var waitOptions: WaitOptions
    @OptionGroup var global: GlobalOptions

    func validate() throws {
        guard bmc.hasPrefix("redfish://") || bmc.hasPrefix("ipmi://") else {
            throw ValidationError("--bmc must be redfish://HOST[:PORT] or ipmi://HOST[:PORT], got '\(bmc)'")
        }
        if let tls, !["verify", "insecure", "plaintext"].contains(tls) {
            throw ValidationError("--bmc-tls must be verify, insecure or plaintext")
        }
    }

    func run() async throws {
        let parts = bmc.components(separatedBy: "://")
        typealias BMC = Components.Schemas.MachineEnrollRequest.BmcPayload
        typealias Arch = Components.Schemas.MachineEnrollRequest.ArchPayload
        let architecture = try arch.map { text in
            guard let value = Arch(rawValue: text) else {
                throw ValidationError("--arch must be one of \(Arch.allCases.map(\.rawValue).joined(separator: ", ")), got '\(text)'")
            }
            return value
        }
        let body = Components.Schemas.MachineEnrollRequest(
            name: name, mac: mac, uuid: uuid, serial: serial, arch: architecture, device: device, datacenter: datacenter, console: console,
            verify: !noVerify,
            bmc: BMC(_protocol: parts[0] == "ipmi" ? .ipmi : .redfish, address: parts[1], systemID: systemID, credentials: credentials,
                     tls: tls.flatMap(BMC.TlsPayload.init(rawValue:)), caFile: caFile))
        let api = try await global.api()
        let result = try await api.call { try await $0.enrollMachine(body: .json(body)).created.body.json }
        try MachineActionRun.report(result, global, options: nil, api: api)
        if wait, let task = result.task { try await waitOptions.wait(for: task.id, api: api, format: global.output) }
    }
}
