import Crypto
import DataverketCore
import DataverketStore
import Foundation
import SwiftASN1
import X509
import Yams

/// A cluster's secrets, generated once per cluster and stored sealed (AES-GCM under a key derived from the master
/// key): the CAs (Talos OS, Kubernetes, aggregator, etcd), the service-account key, the bootstrap and machine
/// tokens, the cluster ID and secret, and the secretbox key for secrets at rest in etcd.
public struct ClusterSecrets: Codable, Sendable, Hashable {
    public struct KeyPair: Codable, Sendable, Hashable {
        /// PEM.
        public var certificate: String
        /// PEM (PKCS#8).
        public var key: String
    }

    public var clusterID: String
    public var clusterSecret: String
    /// `[a-z0-9]{6}.[a-z0-9]{16}` (a Kubernetes bootstrap token).
    public var bootstrapToken: String
    /// `[a-z0-9]{6}.[a-z0-9]{16}` (Talos trustd's machine token).
    public var machineToken: String
    public var secretboxKey: String
    public var osCA: KeyPair
    public var kubernetesCA: KeyPair
    public var aggregatorCA: KeyPair
    public var etcdCA: KeyPair
    /// PEM (PKCS#8).
    public var serviceAccountKey: String

    /// Fresh secrets for `cluster`.
    public static func generate(cluster: String, now: Date = Date()) throws -> ClusterSecrets {
        func random(_ count: Int) -> Data {
            var rng = SystemRandomNumberGenerator()
            return Data((0..<count).map { _ in UInt8.random(in: .min ... .max, using: &rng) })
        }
        func token() -> String {
            let alphabet = Array("abcdefghijklmnopqrstuvwxyz0123456789")
            var rng = SystemRandomNumberGenerator()
            let pick = { (count: Int) in String((0..<count).map { _ in alphabet.randomElement(using: &rng)! }) }
            return pick(6) + "." + pick(16)
        }
        return ClusterSecrets(
            clusterID: random(32).base64EncodedString(), clusterSecret: random(32).base64EncodedString(),
            bootstrapToken: token(), machineToken: token(), secretboxKey: random(32).base64EncodedString(),
            osCA: try certificateAuthority(commonName: "talos", organization: cluster, now: now),
            kubernetesCA: try certificateAuthority(commonName: "kubernetes", organization: cluster, now: now),
            aggregatorCA: try certificateAuthority(commonName: "front-proxy", organization: cluster, now: now),
            etcdCA: try certificateAuthority(commonName: "etcd", organization: cluster, now: now),
            serviceAccountKey: P256.Signing.PrivateKey().pemRepresentation)
    }

    /// A self-signed ECDSA P-256 CA valid for ten years.
    static func certificateAuthority(commonName: String, organization: String, now: Date) throws -> KeyPair {
        let key = P256.Signing.PrivateKey()
        let name = try DistinguishedName {
            OrganizationName(organization)
            CommonName(commonName)
        }
        let certificate = try Certificate(
            version: .v3, serialNumber: Certificate.SerialNumber(), publicKey: .init(key.publicKey),
            notValidBefore: now.addingTimeInterval(-300), notValidAfter: now.addingTimeInterval(10 * 365 * 86_400),
            issuer: name, subject: name, signatureAlgorithm: .ecdsaWithSHA256,
            extensions: try Certificate.Extensions {
                Critical(BasicConstraints.isCertificateAuthority(maxPathLength: nil))
                Critical(KeyUsage(digitalSignature: true, keyCertSign: true, cRLSign: true))
            },
            issuerPrivateKey: .init(key))
        return KeyPair(certificate: try certificate.serializeAsPEM().pemString, key: key.pemRepresentation)
    }
}

/// Talos `v1alpha1` machine configs for machines being deployed, and the wipe instructions for machines being wiped.
///
/// Cluster secrets are generated on first use per cluster and kept sealed in `maskin.clusters`.
public struct MachineConfigs: Sendable {
    let database: Database
    let sealingKey: SymmetricKey
    /// The Talos installer image and Kubernetes version written into configs.
    public var installerImage: String
    public var kubernetesVersion: String
    /// The control-plane endpoint for clusters that do not name one (`https://<name>.cluster.internal:6443`).
    public var defaultEndpointDomain: String

    public init(database: Database, sealingKey: SymmetricKey, installerImage: String = "ghcr.io/siderolabs/installer:v1.8.3",
                kubernetesVersion: String = "v1.31.2", defaultEndpointDomain: String = "cluster.internal") {
        self.database = database
        self.sealingKey = sealingKey
        self.installerImage = installerImage
        self.kubernetesVersion = kubernetesVersion
        self.defaultEndpointDomain = defaultEndpointDomain
    }

    /// What the machine fetches from `/boot/config` in its current state.
    func render(for machine: MachineRecord, taskID: String) async throws -> String {
        if machine.state == .wiping {
            return try YAMLEncoder().encode(WipeInstructions(machine: machine.name, task: taskID, disks: machine.facts?.disks.map(\.name) ?? []))
        }
        guard let cluster = machine.cluster else {
            throw DataverketError(.conflict, "machine \(machine.name) is not allocated to a cluster")
        }
        let (endpoint, secrets) = try await secrets(for: cluster)
        return try Self.render(machine: machine, cluster: cluster, endpoint: endpoint, secrets: secrets,
                               installerImage: installerImage, kubernetesVersion: kubernetesVersion)
    }

    /// The cluster's endpoint and secrets, generated and stored sealed on first use.
    public func secrets(for cluster: String) async throws -> (String, ClusterSecrets) {
        let key = sealingKey
        let endpoint = "https://\(cluster).\(defaultEndpointDomain):6443"
        return try await database.transaction { session in
            let table = session.table("maskin", "clusters")
            if let row = try await session.first("SELECT endpoint, sealed_secrets FROM \(table) WHERE name = \(bind: cluster)") {
                let sealed = try row.decode(column: "sealed_secrets", as: String.self)
                guard let data = Data(base64Encoded: sealed) else { throw DataverketError(.internal, "sealed cluster secrets are not base64") }
                let plain: Data
                do {
                    plain = try AES.GCM.open(AES.GCM.SealedBox(combined: data), using: key)
                } catch {
                    throw DataverketError(.internal, "cannot open the secrets of cluster \(cluster): wrong master key?", cause: error)
                }
                return (try row.decode(column: "endpoint", as: String.self), try JSONDecoder().decode(ClusterSecrets.self, from: plain))
            }
            let secrets = try ClusterSecrets.generate(cluster: cluster)
            guard let sealed = try AES.GCM.seal(try JSONEncoder().encode(secrets), using: key).combined else {
                throw DataverketError(.internal, "sealing failed")
            }
            try await session.run("""
                INSERT INTO \(table) (name, endpoint, sealed_secrets, created_at)
                VALUES (\(bind: cluster), \(bind: endpoint), \(bind: sealed.base64EncodedString()), \(bind: StoreTime.now()))
                """)
            return (endpoint, secrets)
        }
    }

    /// The install disk chosen from inspected facts: the smallest solid-state (SSD/NVMe) disk of at least 10 GB, else
    /// the smallest disk of at least 10 GB. BMCs do not know Linux device names, so Talos gets a disk selector (the
    /// serial when known, else size and type); without facts it installs to `/dev/sda`.
    public struct InstallTarget: Sendable, Hashable {
        /// What operators see (`dvce machine show`).
        public var description: String
        public var disk: String?
        public var selector: [String: String]?
    }

    public static func installTarget(_ facts: SystemFacts?) -> InstallTarget {
        let disks = (facts?.disks ?? []).filter { ($0.sizeBytes ?? 0) >= 10_000_000_000 }
        func solid(_ disk: SystemFacts.Disk) -> Bool {
            (disk.mediaType ?? "").uppercased() == "SSD" || (disk.interface ?? "").uppercased() == "NVME"
        }
        let candidates = disks.contains(where: solid) ? disks.filter(solid) : disks
        guard let pick = candidates.min(by: { ($0.sizeBytes ?? 0) < ($1.sizeBytes ?? 0) }), let size = pick.sizeBytes else {
            return InstallTarget(description: "/dev/sda (no disk facts)", disk: "/dev/sda", selector: nil)
        }
        let kind = [pick.interface, pick.mediaType].compactMap { $0 }.joined(separator: " ")
        let description = "\(size / 1_000_000_000) GB \(kind.isEmpty ? "" : kind + " ")disk \"\(pick.name)\" (the smallest \(solid(pick) ? "solid-state disk " : "")of at least 10 GB)"
        if let serial = pick.serial, !serial.isEmpty {
            return InstallTarget(description: description, disk: nil, selector: ["serial": serial])
        }
        var selector = ["size": "\(size)"]
        if (pick.interface ?? "").uppercased() == "NVME" { selector["type"] = "nvme" }
        else if (pick.mediaType ?? "").uppercased() == "SSD" { selector["type"] = "ssd" }
        else if (pick.mediaType ?? "").uppercased() == "HDD" { selector["type"] = "hdd" }
        return InstallTarget(description: description, disk: nil, selector: selector)
    }

    static func render(machine: MachineRecord, cluster: String, endpoint: String, secrets: ClusterSecrets,
                       installerImage: String, kubernetesVersion: String) throws -> String {
        let controlPlane = machine.role == "controlplane"
        func base64(_ text: String) -> String { Data(text.utf8).base64EncodedString() }
        var labels: [String: String] = ["dataverket.io/machine": machine.name, "dataverket.io/role": machine.role ?? "worker"]
        if let datacenter = machine.datacenter { labels["topology.kubernetes.io/region"] = datacenter }
        if let device = machine.device { labels["dataverket.io/device"] = device }
        let target = installTarget(machine.facts)
        let config = TalosV1Alpha1(
            version: "v1alpha1", debug: false, persist: true,
            machine: .init(
                type: controlPlane ? "controlplane" : "worker", token: secrets.machineToken,
                ca: .init(crt: base64(secrets.osCA.certificate), key: controlPlane ? base64(secrets.osCA.key) : ""),
                certSANs: [], kubelet: .init(image: "ghcr.io/siderolabs/kubelet:\(kubernetesVersion)"),
                nodeLabels: labels,
                network: .init(hostname: machine.name,
                               interfaces: [.init(deviceSelector: .init(hardwareAddr: machine.mac), dhcp: true)]),
                install: .init(disk: target.disk, diskSelector: target.selector, image: installerImage, wipe: false)),
            cluster: .init(
                id: secrets.clusterID, secret: secrets.clusterSecret, controlPlane: .init(endpoint: endpoint),
                clusterName: cluster,
                network: .init(dnsDomain: "cluster.local", podSubnets: ["10.244.0.0/16"], serviceSubnets: ["10.96.0.0/12"]),
                token: secrets.bootstrapToken,
                secretboxEncryptionSecret: controlPlane ? secrets.secretboxKey : nil,
                ca: .init(crt: base64(secrets.kubernetesCA.certificate), key: controlPlane ? base64(secrets.kubernetesCA.key) : ""),
                aggregatorCA: controlPlane ? .init(crt: base64(secrets.aggregatorCA.certificate), key: base64(secrets.aggregatorCA.key)) : nil,
                serviceAccount: controlPlane ? .init(key: base64(secrets.serviceAccountKey)) : nil,
                etcd: controlPlane ? .init(ca: .init(crt: base64(secrets.etcdCA.certificate), key: base64(secrets.etcdCA.key))) : nil))
        return try YAMLEncoder().encode(config)
    }
}

/// The documented Talos `v1alpha1` machine configuration, the subset Maskin writes.
struct TalosV1Alpha1: Codable, Hashable {
    struct PEMEncodedKeyPair: Codable, Hashable {
        var crt: String
        var key: String
    }

    struct Machine: Codable, Hashable {
        struct Kubelet: Codable, Hashable { var image: String }
        struct Network: Codable, Hashable {
            struct Interface: Codable, Hashable {
                struct DeviceSelector: Codable, Hashable { var hardwareAddr: String }
                var deviceSelector: DeviceSelector
                var dhcp: Bool
            }
            var hostname: String
            var interfaces: [Interface]
        }
        struct Install: Codable, Hashable {
            var disk: String?
            var diskSelector: [String: String]?
            var image: String
            var wipe: Bool
        }
        var type: String
        var token: String
        var ca: PEMEncodedKeyPair
        var certSANs: [String]
        var kubelet: Kubelet
        var nodeLabels: [String: String]
        var network: Network
        var install: Install
    }

    struct Cluster: Codable, Hashable {
        struct ControlPlane: Codable, Hashable { var endpoint: String }
        struct Network: Codable, Hashable {
            var dnsDomain: String
            var podSubnets: [String]
            var serviceSubnets: [String]
        }
        struct ServiceAccount: Codable, Hashable { var key: String }
        struct Etcd: Codable, Hashable { var ca: PEMEncodedKeyPair }
        var id: String
        var secret: String
        var controlPlane: ControlPlane
        var clusterName: String
        var network: Network
        var token: String
        var secretboxEncryptionSecret: String?
        var ca: PEMEncodedKeyPair
        var aggregatorCA: PEMEncodedKeyPair?
        var serviceAccount: ServiceAccount?
        var etcd: Etcd?
    }

    var version: String
    var debug: Bool
    var persist: Bool
    var machine: Machine
    var cluster: Cluster
}

/// What a machine being wiped fetches instead of a machine config.
struct WipeInstructions: Codable, Hashable {
    var kind = "dataverket.io/wipe"
    var machine: String
    var task: String
    var disks: [String]
}
