#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import DataverketCore
import NettIntent
import DataverketStore

/// What a prefix is for.
public enum PrefixRole: String, Codable, Sendable, CaseIterable {
    case oob, provisioning, mgmt, storage, tenant, `public`, backup, loadbalancer
}

/// A prefix's state. Only a `container` may hold other prefixes; addresses are allocated from the others.
public enum PrefixStatus: String, Codable, Sendable, CaseIterable {
    case container, active, reserved, deprecated
}

/// The state of an address, range or VLAN.
public enum AllocationStatus: String, Codable, Sendable, CaseIterable {
    case active, reserved, deprecated, dhcp
}

/// A routing table: a name, a route distinguisher and route targets. The VRF `global` always exists.
public struct VRFSpec: Sendable, Hashable, Codable {
    public var name: String
    public var routeDistinguisher: String?
    public var importTargets: [String]
    public var exportTargets: [String]
    public var tenant: String?
    public var description: String?

    public init(name: String, routeDistinguisher: String? = nil, importTargets: [String] = [], exportTargets: [String] = [],
                tenant: String? = nil, description: String? = nil) {
        self.name = name
        self.routeDistinguisher = routeDistinguisher
        self.importTargets = importTargets
        self.exportTargets = exportTargets
        self.tenant = tenant
        self.description = description
    }
}

public struct VRFRecord: Sendable, Hashable, Codable {
    public var id: String
    public var name: String
    public var routeDistinguisher: String?
    public var importTargets: [String]
    public var exportTargets: [String]
    public var tenant: String?
    public var description: String?
    public var version: Int64
    public var createdAt: Date
}

/// A top-level block the organisation holds (from an RIR, or private space).
public struct AggregateSpec: Sendable, Hashable, Codable {
    public var prefix: String
    public var rir: String?
    public var description: String?

    public init(prefix: String, rir: String? = nil, description: String? = nil) {
        self.prefix = prefix
        self.rir = rir
        self.description = description
    }
}

public struct AggregateRecord: Sendable, Hashable, Codable {
    public var id: String
    public var prefix: CIDR
    public var rir: String?
    public var description: String?
    public var version: Int64
    public var createdAt: Date
}

/// A prefix to create. `parent`, when given (an ID or a CIDR in the same VRF), must contain the prefix.
public struct PrefixSpec: Sendable, Hashable, Codable {
    public var prefix: String
    public var vrf: String
    public var role: PrefixRole?
    public var status: PrefixStatus
    /// The ID of the VLAN the prefix is on.
    public var vlan: String?
    /// Every address of a pool is usable (no network, broadcast or subnet-router anycast address is skipped).
    public var isPool: Bool
    public var tenant: String?
    public var datacenter: String?
    public var description: String?
    public var parent: String?

    public init(prefix: String, vrf: String = IPAM.globalVRF, role: PrefixRole? = nil, status: PrefixStatus = .active, vlan: String? = nil,
                isPool: Bool = false, tenant: String? = nil, datacenter: String? = nil, description: String? = nil, parent: String? = nil) {
        self.prefix = prefix
        self.vrf = vrf
        self.role = role
        self.status = status
        self.vlan = vlan
        self.isPool = isPool
        self.tenant = tenant
        self.datacenter = datacenter
        self.description = description
        self.parent = parent
    }
}

public struct PrefixRecord: Sendable, Hashable, Codable {
    public var id: String
    public var vrf: String
    public var prefix: CIDR
    /// The innermost container holding this prefix.
    public var parentID: String?
    public var role: PrefixRole?
    public var status: PrefixStatus
    public var vlan: String?
    public var isPool: Bool
    public var tenant: String?
    public var datacenter: String?
    public var description: String?
    public var idempotencyKey: String?
    public var version: Int64
    public var createdAt: Date
}

/// A run of addresses inside one prefix (a DHCP scope, a reservation): next-free allocation skips it.
public struct IPRangeSpec: Sendable, Hashable, Codable {
    public var vrf: String
    public var start: String
    public var end: String
    public var status: AllocationStatus
    public var description: String?

    public init(vrf: String = IPAM.globalVRF, start: String, end: String, status: AllocationStatus = .reserved, description: String? = nil) {
        self.vrf = vrf
        self.start = start
        self.end = end
        self.status = status
        self.description = description
    }
}

public struct IPRangeRecord: Sendable, Hashable, Codable {
    public var id: String
    public var vrf: String
    public var prefixID: String
    public var start: IPAddress
    public var end: IPAddress
    public var status: AllocationStatus
    public var description: String?
    public var version: Int64
    public var createdAt: Date
}

/// An address to record by hand. `address` is `a.b.c.d` or `a.b.c.d/len` (the length defaults to the
/// prefix's); it must lie in a non-container prefix of the VRF (`prefix`, an ID or CIDR, picks one; else the
/// innermost).
public struct AddressSpec: Sendable, Hashable, Codable {
    public var vrf: String
    public var address: String
    public var prefix: String?
    public var status: AllocationStatus
    public var dnsName: String?
    public var assignedTo: String?
    public var tenant: String?
    public var description: String?

    public init(vrf: String = IPAM.globalVRF, address: String, prefix: String? = nil, status: AllocationStatus = .active, dnsName: String? = nil,
                assignedTo: String? = nil, tenant: String? = nil, description: String? = nil) {
        self.vrf = vrf
        self.address = address
        self.prefix = prefix
        self.status = status
        self.dnsName = dnsName
        self.assignedTo = assignedTo
        self.tenant = tenant
        self.description = description
    }
}

public struct IPAddressRecord: Sendable, Hashable, Codable {
    public var id: String
    public var vrf: String
    public var address: IPAddress
    /// The mask length the address is configured with (`10.0.0.5/24`).
    public var length: Int
    public var prefixID: String
    public var status: AllocationStatus
    public var dnsName: String?
    /// Free text or an object reference (`device:osl1-r01-srv01/eno1`, `vm_…`).
    public var assignedTo: String?
    public var tenant: String?
    public var description: String?
    public var idempotencyKey: String?
    public var version: Int64
    public var createdAt: Date

    /// `address/length`.
    public var cidrNotation: String { "\(address)/\(length)" }
}

/// A set of VLANs sharing one ID space, e.g. one datacenter's fabric: IDs `minVID...maxVID`.
public struct VLANGroupSpec: Sendable, Hashable, Codable {
    public var name: String
    /// Where the IDs are unique, e.g. a datacenter code.
    public var scope: String?
    public var minVID: Int
    public var maxVID: Int
    public var description: String?

    public init(name: String, scope: String? = nil, minVID: Int = 1, maxVID: Int = 4094, description: String? = nil) {
        self.name = name
        self.scope = scope
        self.minVID = minVID
        self.maxVID = maxVID
        self.description = description
    }
}

public struct VLANGroupRecord: Sendable, Hashable, Codable {
    public var id: String
    public var name: String
    public var scope: String?
    public var minVID: Int
    public var maxVID: Int
    public var description: String?
    public var version: Int64
    public var createdAt: Date
}

public struct VLANSpec: Sendable, Hashable, Codable {
    public var group: String
    public var vid: Int
    public var name: String
    public var tenant: String?
    public var status: AllocationStatus
    public var description: String?

    public init(group: String, vid: Int, name: String, tenant: String? = nil, status: AllocationStatus = .active, description: String? = nil) {
        self.group = group
        self.vid = vid
        self.name = name
        self.tenant = tenant
        self.status = status
        self.description = description
    }
}

public struct VLANRecord: Sendable, Hashable, Codable {
    public var id: String
    public var group: String
    public var groupID: String
    public var vid: Int
    public var name: String
    public var tenant: String?
    public var status: AllocationStatus
    public var description: String?
    public var idempotencyKey: String?
    public var version: Int64
    public var createdAt: Date
}

/// A range of autonomous system numbers to hand out (`first...last`, 1–4294967294).
public struct ASNPoolSpec: Sendable, Hashable, Codable {
    public var name: String
    public var first: Int64
    public var last: Int64
    public var description: String?

    public init(name: String, first: Int64, last: Int64, description: String? = nil) {
        self.name = name
        self.first = first
        self.last = last
        self.description = description
    }
}

public struct ASNPoolRecord: Sendable, Hashable, Codable {
    public var id: String
    public var name: String
    public var first: Int64
    public var last: Int64
    public var description: String?
    public var version: Int64
    public var createdAt: Date
}

public struct ASNSpec: Sendable, Hashable, Codable {
    public var pool: String
    public var asn: Int64
    public var tenant: String?
    public var description: String?

    public init(pool: String, asn: Int64, tenant: String? = nil, description: String? = nil) {
        self.pool = pool
        self.asn = asn
        self.tenant = tenant
        self.description = description
    }
}

public struct ASNRecord: Sendable, Hashable, Codable {
    public var id: String
    public var pool: String
    public var poolID: String
    public var asn: Int64
    public var tenant: String?
    public var description: String?
    public var idempotencyKey: String?
    public var version: Int64
    public var createdAt: Date
}

/// A page of a list, with the cursor for the next one.
/// Filters for `IPAM.prefixes`.
public struct PrefixFilter: Sendable, Hashable {
    public var vrf: String?
    public var role: PrefixRole?
    public var status: PrefixStatus?
    public var family: IPAddress.Family?
    /// Only prefixes inside this one (a CIDR; not itself).
    public var within: String?
    public var datacenter: String?
    public var tenant: String?

    public init(vrf: String? = nil, role: PrefixRole? = nil, status: PrefixStatus? = nil, family: IPAddress.Family? = nil,
                within: String? = nil, datacenter: String? = nil, tenant: String? = nil) {
        self.vrf = vrf
        self.role = role
        self.status = status
        self.family = family
        self.within = within
        self.datacenter = datacenter
        self.tenant = tenant
    }
}

/// Filters for `IPAM.addresses`.
public struct AddressFilter: Sendable, Hashable {
    public var vrf: String?
    /// Addresses allocated from this prefix (an ID, or a CIDR in `vrf`).
    public var prefix: String?
    public var assignedTo: String?
    public var dnsName: String?

    public init(vrf: String? = nil, prefix: String? = nil, assignedTo: String? = nil, dnsName: String? = nil) {
        self.vrf = vrf
        self.prefix = prefix
        self.assignedTo = assignedTo
        self.dnsName = dnsName
    }
}

/// One audit record an IPAM mutation asks its host to write (in the mutation's transaction).
public struct IPAMAuditEntry: Sendable, Hashable {
    /// `nett.<kind>.<verb>`, e.g. `nett.address.allocate`.
    public var action: String
    public var resourceKind: String
    public var resourceID: String
    /// A human reference: the CIDR, `group/vid`, the name.
    public var resourceName: String?
    public var beforeVersion: Int64?
    public var afterVersion: Int64?
}

/// Writes an audit record inside the mutation's transaction; the server wires it to Sentral's audit log
/// (Nett does not depend on Sentral).
public typealias IPAMAuditor = @Sendable (Session, OperationContext, IPAMAuditEntry) async throws -> Void
