import AsyncHTTPClient
import Crypto
import DataverketCore
import Foundation
import Logging

/// Resolves BMC credential references just before use; the secret never reaches the store, logs or API output.
///
/// - `file:/path`: a file holding `username:password` (one line; the password may contain `:`).
/// - `env:NAME`: an environment variable holding `username:password`.
public struct CredentialResolver: Sendable {
    public init() {}

    public static func isReference(_ text: String) -> Bool {
        (text.hasPrefix("file:/") && text.count > 6) || (text.hasPrefix("env:") && text.count > 4
            && text.dropFirst(4).allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "_") })
    }

    public func resolve(_ reference: String) throws(DataverketError) -> BMCCredentials {
        let text: String
        if reference.hasPrefix("file:") {
            let path = String(reference.dropFirst(5))
            guard let data = FileManager.default.contents(atPath: path), data.count <= 4096 else {
                throw DataverketError(.unavailable, "the BMC credentials file named by \(reference) cannot be read")
            }
            text = String(decoding: data, as: UTF8.self)
        } else if reference.hasPrefix("env:") {
            guard let value = ProcessInfo.processInfo.environment[String(reference.dropFirst(4))] else {
                throw DataverketError(.unavailable, "the environment variable named by \(reference) is not set")
            }
            text = value
        } else {
            throw DataverketError.invalid("bmc.credentials", "not a secret reference (file:/path or env:NAME)")
        }
        let line = text.split(whereSeparator: \.isNewline).first.map(String.init) ?? ""
        guard let colon = line.firstIndex(of: ":"), colon != line.startIndex else {
            throw DataverketError(.unavailable, "the secret named by \(reference) is not username:password")
        }
        return BMCCredentials(username: String(line[..<colon]), password: String(line[line.index(after: colon)...]))
    }
}

/// Makes the driver for a machine's BMC. Drivers are cheap; the HTTP client is shared (and owned by the caller).
public struct BMCConnector: Sendable {
    public var httpClient: HTTPClient
    public var resolver: CredentialResolver
    public var redfish: RedfishDriver.Options
    public var ipmi: IPMIDriver.Options
    public var logger: Logger

    public init(httpClient: HTTPClient, logger: Logger, resolver: CredentialResolver = CredentialResolver(),
                redfish: RedfishDriver.Options = RedfishDriver.Options(), ipmi: IPMIDriver.Options = IPMIDriver.Options()) {
        self.httpClient = httpClient
        self.logger = logger
        self.resolver = resolver
        self.redfish = redfish
        self.ipmi = ipmi
    }

    /// The same connector with every BMC call bounded tighter (the power reconciler: one quick try per sweep).
    public func quick(timeout: Duration) -> BMCConnector {
        var copy = self
        copy.redfish.requestTimeout = timeout
        copy.redfish.attempts = 1
        copy.ipmi.sessionRetries = 0
        copy.ipmi.commandTimeout = timeout
        return copy
    }

    /// A fingerprint of the credentials `bmc` resolves to now (SHA-256 over protocol, address, user and secret;
    /// the secret cannot be recovered from it): a refusal is remembered for exactly these credentials.
    public func fingerprint(_ bmc: BMCConfig) throws(DataverketError) -> String {
        let credentials = try resolver.resolve(bmc.credentials)
        let digest = SHA256.hash(data: Data("\(bmc.protocol.rawValue)\n\(bmc.address)\n\(credentials.username)\n\(credentials.password)".utf8))
        return digest.prefix(16).map { String(format: "%02x", $0) }.joined()
    }

    /// The driver for a machine's BMC — unless that BMC refused these very credentials before: then an
    /// `unauthorized` failure with 0 attempts, and no login (real BMCs lock an account after a few failures).
    public func driver(for machine: MachineRecord) throws(DataverketError) -> any BMCDriver {
        if let refused = machine.bmcRefusedCredentials, let at = machine.bmcCredentialsRefusedAt, (try? fingerprint(machine.bmc)) == refused {
            throw DataverketError.bmc(.unauthorized, attempts: 0,
                "the BMC at \(machine.bmc.address) refused these credentials at \(at.formatted(.iso8601)); they are not used again until they change or an operator verifies the machine (dvce machine verify \(machine.name))")
        }
        return try driver(for: machine.bmc)
    }

    public func driver(for bmc: BMCConfig) throws(DataverketError) -> any BMCDriver {
        let credentials = try resolver.resolve(bmc.credentials)
        switch bmc.protocol {
        case .ipmi:
            let endpoint = try BMCEndpoint(protocol: .ipmi, address: bmc.address)
            return try IPMIDriver(endpoint: endpoint, credentials: credentials, logger: logger, options: ipmi)
        case .redfish:
            let tls: RedfishTLS
            switch bmc.tls {
            case .plaintext: tls = .plaintextLoopbackOnly
            case .insecure: tls = .insecure
            case .verify:
                if let caFile = bmc.caFile {
                    guard let pem = FileManager.default.contents(atPath: caFile) else {
                        throw DataverketError(.unavailable, "the BMC CA file \(caFile) cannot be read")
                    }
                    tls = .pinnedCA(pem: String(decoding: pem, as: UTF8.self))
                } else {
                    tls = .systemRoots
                }
            }
            let endpoint = try BMCEndpoint(protocol: .redfish, address: bmc.address, tls: tls)
            var options = redfish
            options.systemID = bmc.systemID ?? options.systemID
            return try RedfishDriver(endpoint: endpoint, credentials: credentials, httpClient: httpClient, logger: logger,
                                     options: options)
        }
    }
}
