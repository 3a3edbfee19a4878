import ArgumentParser
import DataverketCore
import Foundation
import Maskin

/// `dataverket maskin dnsmasq-config --interface IF --range START,END --boot-url URL …`
struct MaskinDnsmasqConfig: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dnsmasq-config",
        abstract: "Print a dnsmasq configuration for a provisioning network that chains machines to the boot service.",
        discussion: """
            DHCP only (no DNS); iPXE clients get DV_BOOT_URL/boot/ipxe with their MAC, UUID, serial and architecture;
            legacy PXE ROMs chain-load undionly.kpxe over TFTP first; IPv6 router advertisements spare iPXE a ~13 s wait.
            Point DV_MASKIN_DHCP_LEASES at --lease-file so machine boot events show their leases.
            """)

    @Option(help: "Interface on the provisioning network.") var interface: String
    @Option(help: "Addresses to hand out: START,END.") var range: String
    @Option(help: "Netmask of the range.") var netmask = "255.255.255.0"
    @Option(name: .customLong("lease-time"), help: "Lease time (45m, 1h, 12h, infinite).") var leaseTime = "1h"
    @Option(name: .customLong("boot-url"), help: "The boot service as machines reach it (default: DV_BOOT_URL).") var bootURL: String?
    @Option(name: .customLong("lease-file"), help: "dnsmasq's lease file.") var leaseFile: String?
    @Option(help: "Default gateway to hand out (none by default).") var router: String?
    @Option(name: .customLong("tftp-root"), help: "Directory with undionly.kpxe for legacy PXE ROMs.") var tftpRoot = "/usr/lib/ipxe"
    @Flag(name: .customLong("no-tftp"), help: "No TFTP: every machine has an iPXE-capable ROM.") var noTFTP = false
    @Flag(name: .customLong("no-router-advertisements"), help: "Do not send IPv6 router advertisements.") var noRA = false

    func run() throws {
        let parts = range.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
        guard parts.count == 2 else { throw ValidationError("--range must be START,END, got '\(range)'") }
        guard let url = bootURL ?? ProcessInfo.processInfo.environment["DV_BOOT_URL"] else {
            throw ValidationError("give --boot-url (or set DV_BOOT_URL)")
        }
        let config = DnsmasqConfig(interface: interface, rangeStart: parts[0], rangeEnd: parts[1], netmask: netmask, leaseTime: leaseTime,
                                   bootURL: url, leaseFile: leaseFile, router: router, tftpRoot: noTFTP ? nil : tftpRoot,
                                   routerAdvertisements: !noRA)
        do {
            print(try config.render(), terminator: "")
        } catch {
            throw ValidationError(error.message)
        }
    }
}
