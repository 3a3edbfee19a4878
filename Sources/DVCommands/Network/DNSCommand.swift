import ArgumentParser

/// `dvnet dns …`
struct DNSCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dns", abstract: "DNS: the forward (A/AAAA) and reverse (PTR) record sets Nett keeps in PowerDNS for the IPAM's addresses.",
        subcommands: [DNSList.self])
}

enum NetworkDNSText {
    static let recordColumns: [(header: String, path: String)] = [
        ("NAME", "name"), ("TYPE", "type"), ("TTL", "ttl"), ("CONTENT", "contents"),
    ]
}
