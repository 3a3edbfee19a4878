import ArgumentParser

/// `dv device …`
struct DeviceCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "device", abstract: "Query devices: servers, switches, routers, firewalls, PDUs, UPSes.",
        subcommands: [DeviceList.self, DeviceShow.self])
}
