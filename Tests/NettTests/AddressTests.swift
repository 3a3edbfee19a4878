import DataverketCore
import Testing
@testable import Nett
@testable import NettIntent

@Suite("IP addresses and CIDR arithmetic")
struct AddressTests {
    @Test("IPv4 parses strictly and prints as a dotted quad")
    func ipv4() throws {
        let address = try #require(IPAddress("192.168.1.254"))
        #expect(address.family == .v4)
        #expect(address.value == 0xC0A8_01FE)
        #expect(address.description == "192.168.1.254")
        #expect(IPAddress("0.0.0.0")?.value == 0)
        #expect(IPAddress("255.255.255.255")?.value == 0xFFFF_FFFF)
        for bad in ["", "1.2.3", "1.2.3.4.5", "256.0.0.1", "01.2.3.4", "1.2.3.-4", "1..3.4", "1.2.3.4 ", "a.b.c.d", "1.2.3.1234"] {
            #expect(IPAddress(bad) == nil, "'\(bad)' parsed")
        }
    }

    @Test("IPv6 parses RFC 4291 text and prints RFC 5952 canonical form",
          arguments: [
            ("2001:db8::1", "2001:db8::1"),
            ("2001:0DB8:0000:0000:0000:0000:0000:0001", "2001:db8::1"),
            ("::", "::"),
            ("::1", "::1"),
            ("1::", "1::"),
            ("2001:db8:0:0:1:0:0:1", "2001:db8::1:0:0:1"),
            ("2001:db8:0:1:1:1:1:1", "2001:db8:0:1:1:1:1:1"),
            ("2001:0:0:1:0:0:0:1", "2001:0:0:1::1"),
            ("fe80::1:2:3:4", "fe80::1:2:3:4"),
            ("::ffff:192.0.2.1", "::ffff:192.0.2.1"),
            ("64:ff9b::192.0.2.33", "64:ff9b::c000:221"),
            ("1:2:3:4:5:6:7:8", "1:2:3:4:5:6:7:8"),
            ("1:2:3:4:5:6:1.2.3.4", "1:2:3:4:5:6:102:304"),
          ])
    func ipv6(_ input: String, _ canonical: String) throws {
        let address = try #require(IPAddress(input), "'\(input)' did not parse")
        #expect(address.family == .v6)
        #expect(address.description == canonical)
        #expect(IPAddress(canonical) == address)
    }

    @Test("malformed IPv6 is refused")
    func ipv6Bad() {
        for bad in [":", ":::", "1:2:3:4:5:6:7", "1:2:3:4:5:6:7:8:9", "1::2::3", "12345::", "g::1", "1:2:3:4:5:6:7::8:9",
                    "::1.2.3", "fe80::1%eth0", "1:2:3:4:5:6:7:1.2.3.4", "1::2:3:4:5:6:7:8", ":1::2", "1::2:"] {
            #expect(IPAddress(bad) == nil, "'\(bad)' parsed")
        }
        // `::` may stand for a single zero group.
        #expect(IPAddress("1:2:3:4:5:6::7")?.description == "1:2:3:4:5:6:0:7")
    }

    @Test("CIDR parsing names what is wrong")
    func cidrErrors() async {
        await expectError(.invalidArgument, "host bits set", "10.0.0.0/24") { try CIDR.parse("10.0.0.1/24") }
        await expectError(.invalidArgument, "not in CIDR notation") { try CIDR.parse("10.0.0.0") }
        await expectError(.invalidArgument, "0–32") { try CIDR.parse("10.0.0.0/33") }
        await expectError(.invalidArgument, "0–128") { try CIDR.parse("2001:db8::/129") }
        await expectError(.invalidArgument, "not an IPv4 or IPv6 address") { try CIDR.parse("10.0.0/8") }
        await expectError(.invalidArgument, "host bits set", "2001:db8::/32") { try CIDR.parse("2001:db8::1/32") }
        await expectError(.invalidArgument) { try CIDR.parse("10.0.0.0/-1") }
        await expectError(.invalidArgument) { try CIDR.parse("10.0.0.0/") }
        do {
            _ = try CIDR.parse("10.0.0.1/24")
        } catch {
            #expect(error.violations == [.init(field: "prefix", message: "'10.0.0.1/24' has host bits set: the network is 10.0.0.0/24")])
        }
    }

    @Test("first, last, containment and overlap")
    func math() throws {
        let net = try CIDR.parse("10.0.4.0/22")
        #expect(net.first.description == "10.0.4.0")
        #expect(net.last.description == "10.0.7.255")
        #expect(net.lastOffset == 1023)
        #expect(net.contains(try #require(IPAddress("10.0.7.255"))))
        #expect(!net.contains(try #require(IPAddress("10.0.8.0"))))
        #expect(!net.contains(try #require(IPAddress("::a00:400"))))
        #expect(net.contains(try CIDR.parse("10.0.5.0/24")))
        #expect(!net.contains(try CIDR.parse("10.0.0.0/16")))
        #expect(net.overlaps(try CIDR.parse("10.0.0.0/16")))
        #expect(!net.overlaps(try CIDR.parse("10.0.8.0/22")))
        #expect(try CIDR.parse("0.0.0.0/0").last.description == "255.255.255.255")
        #expect(try CIDR.parse("0.0.0.0/0").lastOffset == 0xFFFF_FFFF)
        #expect(try CIDR.parse("::/0").lastOffset == UInt128.max)
        #expect(try CIDR.parse("2001:db8::/64").last.description == "2001:db8::ffff:ffff:ffff:ffff")
        #expect(try CIDR.parse("192.0.2.7/32").lastOffset == 0)
        #expect(CIDR(containing: try #require(IPAddress("192.0.2.77")), length: 26).description == "192.0.2.64/26")
        #expect(try CIDR.parse("10.0.0.0/8") < CIDR.parse("10.0.0.0/16"))
        #expect(try CIDR.parse("10.0.0.0/16") < CIDR.parse("10.1.0.0/16"))
    }

    @Test("the first free block skips taken ones, nested or not, aligned")
    func firstFree() throws {
        let parent = try CIDR.parse("10.0.0.0/24")
        #expect(parent.firstFree(length: 26, avoiding: [])?.description == "10.0.0.0/26")
        let taken = try ["10.0.0.0/26", "10.0.0.64/28"].map { try CIDR.parse($0) }
        #expect(parent.firstFree(length: 26, avoiding: taken)?.description == "10.0.0.128/26")
        #expect(parent.firstFree(length: 28, avoiding: taken)?.description == "10.0.0.80/28")
        // A taken block inside another taken block, unsorted input.
        let nested = try ["10.0.0.128/25", "10.0.0.0/25", "10.0.0.0/26"].map { try CIDR.parse($0) }
        #expect(parent.firstFree(length: 30, avoiding: nested) == nil)
        #expect(parent.firstFree(length: 24, avoiding: []) == parent)
        #expect(parent.firstFree(length: 23, avoiding: []) == nil)
        let v6 = try CIDR.parse("2001:db8::/32")
        #expect(v6.firstFree(length: 48, avoiding: [try CIDR.parse("2001:db8::/48")])?.description == "2001:db8:1::/48")
        // The top of the address space: no overflow.
        let top = try CIDR.parse("ffff:ffff:ffff:ffff:ffff:ffff:ffff:fff0/124")
        #expect(top.firstFree(length: 128, avoiding: [top]) == nil)
        #expect(top.firstFree(length: 125, avoiding: [try CIDR.parse("ffff:ffff:ffff:ffff:ffff:ffff:ffff:fff0/125")])?.description
                == "ffff:ffff:ffff:ffff:ffff:ffff:ffff:fff8/125")
    }

    @Test("stored halves order addresses numerically")
    func split() throws {
        let values: [UInt128] = [0, 1, 0x7FFF_FFFF_FFFF_FFFF, 0x8000_0000_0000_0000, UInt128(UInt64.max), UInt128(UInt64.max) + 1, UInt128.max - 1, UInt128.max]
        for value in values { #expect(Split(value).value == value) }
        for (a, b) in zip(values, values.dropFirst()) {
            let x = Split(a), y = Split(b)
            #expect((x.hi, x.lo) < (y.hi, y.lo), "\(a) vs \(b)")
        }
    }

    @Test("allocatable offsets skip network, broadcast and subnet-router anycast unless a pool or /31, /32, /127, /128")
    func slots() throws {
        #expect(IPAM.addressSlots(try CIDR.parse("10.0.0.0/24"), isPool: false) == 1...254)
        #expect(IPAM.addressSlots(try CIDR.parse("10.0.0.0/24"), isPool: true) == 0...255)
        #expect(IPAM.addressSlots(try CIDR.parse("10.0.0.0/31"), isPool: false) == 0...1)
        #expect(IPAM.addressSlots(try CIDR.parse("10.0.0.1/32"), isPool: false) == 0...0)
        #expect(IPAM.addressSlots(try CIDR.parse("2001:db8::/64"), isPool: false) == 1...(1 << 62))
        #expect(IPAM.addressSlots(try CIDR.parse("2001:db8::/127"), isPool: false) == 0...1)
        #expect(IPAM.addressSlots(try CIDR.parse("2001:db8::/120"), isPool: false) == 1...255)
    }

    @Test("route distinguishers and targets, DNS names")
    func rules() async throws {
        for good in ["65000:100", "4200000000:10", "192.0.2.1:7", "1:4294967295"] { try Rules.checkRouteValue(good, field: "rd") }
        for bad in ["65000", "65000:", "x:1", "4200000000:70000", "192.0.2.1:70000", "1:2:3", "4294967296:1", "65000:-1"] {
            await expectError(.invalidArgument, "rd") { try Rules.checkRouteValue(bad, field: "rd") }
        }
        #expect(try Rules.dnsName("Srv01.OSL1.example.") == "srv01.osl1.example")
        #expect(try Rules.dnsName(nil) == nil)
        await expectError(.invalidArgument, "dnsName") { try Rules.dnsName("bad name.example") }
        await expectError(.invalidArgument, "dnsName") { try Rules.dnsName("-x.example") }
        await expectError(.invalidArgument, "dnsName") { try Rules.dnsName("a..b") }
        await expectError(.invalidArgument, "dnsName") { try Rules.dnsName("") }
        await expectError(.invalidArgument, "dnsName") { try Rules.dnsName(".") }
    }
}
