import DataverketCore
import Foundation
import Testing
@testable import Maskin

/// The boot service's pure parts: identifiers, query checks, ranges, the install disk, the dnsmasq configuration.
@Suite("Boot service units")
struct BootUnitTests {
    @Test("MACs and UUIDs are normalized; anything else is refused")
    func identifiers() {
        #expect(MachineIdentity.normalizeMAC("52-54-00-AB-cd-01") == "52:54:00:ab:cd:01")
        #expect(MachineIdentity.normalizeMAC("525400abcd01") == "52:54:00:ab:cd:01")
        for bad in ["", "52:54:00:ab:cd", "52:54:00:ab:cd:0g", "52:54:00:ab:cd:01:02", String(repeating: "a", count: 40)] {
            #expect(MachineIdentity.normalizeMAC(bad) == nil, "\(bad)")
        }
        #expect(MachineIdentity.normalizeUUID("6F1C0C8E-1111-4222-8333-444455556666") == "6f1c0c8e-1111-4222-8333-444455556666")
        #expect(MachineIdentity.normalizeUUID("6f1c0c8e11114222833344445555666") == nil)
        #expect(MachineIdentity.isSerial("SN-42_x.1"))
        #expect(!MachineIdentity.isSerial("has space") && !MachineIdentity.isSerial("") && !MachineIdentity.isSerial("q\"uote"))
    }

    @Test("query checks: unknown, repeated, long or unprintable parameters are malformed")
    func queries() throws {
        let allowed: Set<String> = ["mac", "uuid"]
        #expect(try BootService.check([("mac", "m"), ("uuid", "u")], allowed: allowed) == ["mac": "m", "uuid": "u"])
        for query in [[("colour", "red")], [("mac", "a"), ("mac", "b")], [("mac", String(repeating: "a", count: 129))],
                      [("mac", "a\u{7}")], [("mac", "ø")], Array(repeating: ("mac", "a"), count: 9)] {
            #expect(throws: DataverketError.self) { try BootService.check(query, allowed: allowed) }
        }
    }

    @Test("byte ranges: first-last, open-ended, suffix; unsatisfiable or several are refused")
    func ranges() {
        #expect(ImageCache.parseRange("bytes=0-99", size: 1000) == 0..<100)
        #expect(ImageCache.parseRange("bytes=900-", size: 1000) == 900..<1000)
        #expect(ImageCache.parseRange("bytes=-10", size: 1000) == 990..<1000)
        #expect(ImageCache.parseRange("bytes=990-5000", size: 1000) == 990..<1000)
        for bad in ["bytes=1000-", "bytes=5-1", "bytes=0-1,5-6", "items=0-1", "bytes=-0", "bytes=a-b", "bytes=-"] {
            #expect(ImageCache.parseRange(bad, size: 1000) == nil, "\(bad)")
        }
    }

    @Test("the install disk: smallest solid-state disk of at least 10 GB, by serial when known")
    func installDisk() {
        let facts = SystemFacts(disks: [
            .init(name: "big-ssd", sizeBytes: 3_840_000_000_000, interface: "SATA", mediaType: "SSD", serial: "S1"),
            .init(name: "small-nvme", sizeBytes: 960_000_000_000, interface: "NVMe", mediaType: "SSD", serial: "N1"),
            .init(name: "tiny", sizeBytes: 8_000_000_000, interface: "NVMe", mediaType: "SSD"),
            .init(name: "hdd", sizeBytes: 500_000_000_000, interface: "SAS", mediaType: "HDD"),
        ])
        let target = MachineConfigs.installTarget(facts)
        #expect(target.selector == ["serial": "N1"] && target.disk == nil)
        #expect(target.description == "960 GB NVMe SSD disk \"small-nvme\" (the smallest solid-state disk of at least 10 GB)")
        let spinning = MachineConfigs.installTarget(SystemFacts(disks: [.init(name: "d0", sizeBytes: 500_000_000_000, mediaType: "HDD")]))
        #expect(spinning.selector == ["size": "500000000000", "type": "hdd"])
        #expect(MachineConfigs.installTarget(nil).disk == "/dev/sda")
    }

    @Test("dnsmasq configuration: iPXE chained to the boot service, TFTP for legacy ROMs, RAs; bad values refused")
    func dnsmasq() throws {
        let config = DnsmasqConfig(interface: "br-prov", rangeStart: "172.30.0.10", rangeEnd: "172.30.0.250",
                                   bootURL: "http://172.30.0.1:8180/", leaseFile: "/var/lib/dv/dnsmasq.leases")
        let text = try config.render()
        for line in ["port=0", "interface=br-prov", "dhcp-range=172.30.0.10,172.30.0.250,255.255.255.0,1h",
                     "dhcp-leasefile=/var/lib/dv/dnsmasq.leases", "dhcp-match=set:ipxe,175",
                     "dhcp-boot=tag:ipxe,http://172.30.0.1:8180/boot/ipxe?mac=${mac}&uuid=${uuid}&serial=${serial}&arch=${buildarch}",
                     "dhcp-boot=tag:!ipxe,undionly.kpxe", "enable-ra", "dhcp-range=::,constructor:br-prov,ra-only", "dhcp-option=option:router"] {
            #expect(text.split(separator: "\n").contains(Substring(line)), "missing \(line)")
        }
        var noTFTP = config
        noTFTP.tftpRoot = nil
        #expect(!(try noTFTP.render()).contains("enable-tftp"))
        for broken in [
            DnsmasqConfig(interface: "br prov", rangeStart: "172.30.0.10", rangeEnd: "172.30.0.250", bootURL: "http://h:1"),
            DnsmasqConfig(interface: "br0", rangeStart: "172.30.0.300", rangeEnd: "172.30.0.250", bootURL: "http://h:1"),
            DnsmasqConfig(interface: "br0", rangeStart: "172.30.0.10", rangeEnd: "172.30.0.250", bootURL: "ftp://h"),
            DnsmasqConfig(interface: "br0", rangeStart: "172.30.0.10", rangeEnd: "172.30.0.250", bootURL: "http://h:1/x?y=1"),
            DnsmasqConfig(interface: "br0", rangeStart: "172.30.0.10", rangeEnd: "172.30.0.250", leaseTime: "soon", bootURL: "http://h:1"),
            DnsmasqConfig(interface: "br0", rangeStart: "172.30.0.10", rangeEnd: "172.30.0.250", bootURL: "http://h:1", leaseFile: "rel/x"),
        ] {
            #expect(throws: DataverketError.self) { try broken.render() }
        }
    }

    @Test("credential references resolve from files and the environment; secrets are not references")
    func credentials() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("dv-cred-\(UUID().uuidString)").path
        try Data("admin:pa:ss\n".utf8).write(to: URL(fileURLWithPath: path))
        defer { try? FileManager.default.removeItem(atPath: path) }
        let credentials = try CredentialResolver().resolve("file:" + path)
        #expect(credentials.username == "admin" && credentials.password == "pa:ss")
        #expect(CredentialResolver.isReference("env:BMC_NODE_1") && !CredentialResolver.isReference("hunter2")
                && !CredentialResolver.isReference("env:a b") && !CredentialResolver.isReference("file:"))
        #expect(throws: DataverketError.self) { try CredentialResolver().resolve("file:/nonexistent/dv") }
        #expect(throws: DataverketError.self) { try CredentialResolver().resolve("env:DV_SURELY_UNSET_VARIABLE") }
    }
}
