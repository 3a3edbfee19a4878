import DataverketCore
import Foundation

/// A BMC's user name and password, resolved from a secret reference just before use. Not `Codable` (it is never
/// stored or sent anywhere but to the BMC) and its descriptions, debug descriptions and mirror hide the password.
public struct BMCCredentials: Sendable, CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
    public var username: String
    public var password: String

    public init(username: String, password: String) {
        self.username = username
        self.password = password
    }

    public var description: String { "BMCCredentials(username: \(username), password: <redacted>)" }
    public var debugDescription: String { description }
    public var customMirror: Mirror { Mirror(self, children: ["username": username, "password": "<redacted>"]) }
}

/// How to reach a BMC.
public enum BMCProtocol: String, Codable, Sendable, CaseIterable, CustomStringConvertible {
    case redfish, ipmi
    public var description: String { rawValue }
}

/// How Maskin trusts a Redfish BMC's certificate.
public enum RedfishTLS: Sendable, Hashable {
    /// Trust only certificates issued by this CA (PEM). The usual case: BMCs carry self-signed or site-CA certificates.
    case pinnedCA(pem: String)
    /// The system's trust roots.
    case systemRoots
    /// No verification at all; must be asked for explicitly and is logged as a warning on every driver made.
    case insecure
    /// Plain HTTP, accepted for loopback addresses only (emulators in tests and labs).
    case plaintextLoopbackOnly
}

/// Where a BMC is and how to reach it. `host` is a name, an IPv4 address or an IPv6 address (without brackets).
public struct BMCEndpoint: Sendable, Hashable, CustomStringConvertible {
    public var `protocol`: BMCProtocol
    public var host: String
    public var port: Int
    /// Redfish only.
    public var tls: RedfishTLS

    /// Parses `host[:port]` (`[v6]:port` for IPv6 with a port). The default port is 443 for Redfish (80 for plain
    /// HTTP) and 623 for IPMI.
    public init(protocol: BMCProtocol, address: String, tls: RedfishTLS = .systemRoots) throws(DataverketError) {
        let (host, port) = try Self.parse(address)
        self.protocol = `protocol`
        self.host = host
        self.tls = tls
        switch `protocol` {
        case .ipmi: self.port = port ?? 623
        case .redfish: self.port = port ?? (tls == .plaintextLoopbackOnly ? 80 : 443)
        }
        if `protocol` == .redfish, tls == .plaintextLoopbackOnly, !isLoopback {
            throw DataverketError.invalid("address",
                "plain HTTP to a BMC is allowed on loopback only; use a pinned CA (or insecure, explicitly) for \(address)")
        }
    }

    /// `127.0.0.1:8000`, `[::1]:623`, `bmc1.example:443`.
    public var address: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }

    public var description: String { "\(`protocol`) BMC at \(address)" }

    /// True for 127.0.0.0/8, ::1 and `localhost`.
    public var isLoopback: Bool {
        host == "localhost" || host == "::1" || host.hasPrefix("127.")
            && host.split(separator: ".").count == 4 && host.split(separator: ".").allSatisfy { UInt8($0) != nil }
    }

    /// The scheme, host and port of a Redfish service (`https://10.0.0.5:443`).
    var redfishBaseURL: String {
        let scheme = tls == .plaintextLoopbackOnly ? "http" : "https"
        return "\(scheme)://\(address)"
    }

    static func parse(_ address: String) throws(DataverketError) -> (String, Int?) {
        let text = address.trimmingCharacters(in: .whitespaces)
        func bad(_ why: String) -> DataverketError {
            DataverketError.invalid("address", "'\(address)' is not a BMC address (host[:port]): \(why)")
        }
        guard !text.isEmpty, text.count <= 255 else { throw bad("empty or too long") }
        var host: Substring
        var portText: Substring?
        if text.hasPrefix("[") {
            guard let close = text.firstIndex(of: "]") else { throw bad("unclosed [") }
            host = text[text.index(after: text.startIndex)..<close]
            let rest = text[text.index(after: close)...]
            if !rest.isEmpty {
                guard rest.hasPrefix(":") else { throw bad("unexpected text after ]") }
                portText = rest.dropFirst()
            }
        } else if text.filter({ $0 == ":" }).count == 1, let colon = text.firstIndex(of: ":") {
            host = text[..<colon]
            portText = text[text.index(after: colon)...]
        } else {
            host = Substring(text)
        }
        guard !host.isEmpty else { throw bad("no host") }
        let allowed = CharacterSet.alphanumerics.union(CharacterSet(charactersIn: ".-:%_"))
        guard host.unicodeScalars.allSatisfy({ $0.isASCII && allowed.contains($0) }) else {
            throw bad("the host has characters a host name cannot have")
        }
        var port: Int?
        if let portText {
            guard let value = Int(portText), (1...65535).contains(value) else { throw bad("the port must be 1–65535") }
            port = value
        }
        return (String(host), port)
    }
}
