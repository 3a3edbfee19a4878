/// Cross-object checks of a declaration: references resolve, rack units fit and do not overlap, an
/// interface has at most one link, MACs are unique. Every problem is collected; none stops the others.
public enum SiteValidator {
    /// Returns the model with devices resolved to their rack's datacenter and failure domain, and the issues
    /// (sorted by file and line). `locations` may be empty (a stored model being re-validated).
    public static func validate(_ model: SiteModel, locations: [ObjectRef: ObjectLocation] = [:], broken: Set<ObjectRef> = [])
        -> (SiteModel, [SiteIssue])
    {
        var issues: [SiteIssue] = []
        func at(_ ref: ObjectRef, _ field: String? = nil) -> SourceLocation? {
            guard let location = locations[ref] else { return nil }
            return field.map { location[$0] } ?? location.location
        }
        func report(_ ref: ObjectRef, _ field: String?, _ message: String) {
            issues.append(SiteIssue(at(ref, field), message))
        }
        /// Whether `target` exists; when not (and it is not a broken declaration), reports it.
        func resolve(_ target: ObjectRef, from ref: ObjectRef, field: String?, exists: Bool) -> Bool {
            if exists { return true }
            if !broken.contains(target) {
                let shown = target.kind == .failureDomain || target.kind == .room ? String(target.key.split(separator: "/").last ?? "") : target.key
                report(ref, field, "\(ref) refers to unknown \(target.kind.rawValue) '\(shown)'")
            }
            return false
        }

        let datacenters = Set(model.datacenters.map(\.name))
        let failureDomains = Set(model.failureDomains.map { "\($0.datacenter)/\($0.name)" })
        let rooms = Set(model.rooms.map { "\($0.datacenter)/\($0.name)" })
        let networks = Dictionary(model.networks.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
        let racks = Dictionary(model.racks.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
        let deviceKinds = Dictionary(model.devices.map { ($0.name, $0.kind) }, uniquingKeysWith: { a, _ in a })

        for network in model.networks {
            let ref = ObjectRef(.network, network.name)
            _ = resolve(ObjectRef(.datacenter, network.datacenter), from: ref, field: "datacenter", exists: datacenters.contains(network.datacenter))
        }

        for rack in model.racks {
            let ref = ObjectRef(.rack, rack.name)
            if resolve(ObjectRef(.datacenter, rack.datacenter), from: ref, field: "datacenter", exists: datacenters.contains(rack.datacenter)) {
                let room = "\(rack.datacenter)/\(rack.room)", fd = "\(rack.datacenter)/\(rack.failureDomain)"
                _ = resolve(ObjectRef(.room, room), from: ref, field: "room", exists: rooms.contains(room))
                _ = resolve(ObjectRef(.failureDomain, fd), from: ref, field: "failureDomain", exists: failureDomains.contains(fd))
            }
            for (field, feed) in [("power.a", rack.feedA), ("power.b", rack.feedB)] {
                guard let feed else { continue }
                let target = ObjectRef(.device, feed)
                if resolve(target, from: ref, field: field, exists: deviceKinds[feed] != nil), deviceKinds[feed] != .pdu {
                    report(ref, field, "rack \(rack.name) \(field) must be a pdu, but '\(feed)' is a \(deviceKinds[feed]!.rawValue)")
                }
            }
        }

        var resolved = model
        var occupancy: [String: [(range: ClosedRange<Int>, device: String)]] = [:]
        for index in resolved.devices.indices {
            var device = resolved.devices[index]
            let ref = ObjectRef(.device, device.name)
            if let rackName = device.rack {
                if let rack = racks[rackName] {
                    if !device.datacenter.isEmpty, device.datacenter != rack.datacenter {
                        report(ref, "datacenter", "device \(device.name) is in rack \(rack.name) of datacenter \(rack.datacenter), not \(device.datacenter) (omit datacenter for racked devices)")
                    }
                    if !device.failureDomain.isEmpty, device.failureDomain != rack.failureDomain {
                        report(ref, "failureDomain", "device \(device.name) is in rack \(rack.name) of failure domain \(rack.failureDomain), not \(device.failureDomain) (omit failureDomain for racked devices)")
                    }
                    device.datacenter = rack.datacenter
                    device.failureDomain = rack.failureDomain
                    if let position = device.position {
                        let top = position + device.height - 1
                        if top > rack.units {
                            report(ref, "position", "device \(device.name) at U\(position) with height \(device.height) does not fit rack \(rack.name) of \(rack.units) units")
                        } else {
                            let range = position...top
                            for other in occupancy[rackName, default: []] where other.range.overlaps(range) {
                                report(ref, "position", "device \(device.name) (U\(range.lowerBound)–U\(range.upperBound)) overlaps \(other.device) (U\(other.range.lowerBound)–U\(other.range.upperBound)) in rack \(rack.name)")
                            }
                            occupancy[rackName, default: []].append((range, device.name))
                        }
                    }
                } else {
                    _ = resolve(ObjectRef(.rack, rackName), from: ref, field: "rack", exists: false)
                }
            } else {
                if device.position != nil {
                    report(ref, "position", "device \(device.name) has a position but no rack")
                }
                if device.datacenter.isEmpty || device.failureDomain.isEmpty {
                    report(ref, nil, "device \(device.name) needs a rack, or a datacenter and failureDomain")
                } else if resolve(ObjectRef(.datacenter, device.datacenter), from: ref, field: "datacenter", exists: datacenters.contains(device.datacenter)) {
                    let fd = "\(device.datacenter)/\(device.failureDomain)"
                    _ = resolve(ObjectRef(.failureDomain, fd), from: ref, field: "failureDomain", exists: failureDomains.contains(fd))
                }
            }
            for feed in device.powerFeeds {
                let target = ObjectRef(.device, feed)
                if resolve(target, from: ref, field: "powerFeeds", exists: deviceKinds[feed] != nil) {
                    let kind = deviceKinds[feed]!
                    if feed == device.name {
                        report(ref, "powerFeeds", "device \(device.name) cannot feed itself")
                    } else if kind != .pdu && kind != .ups {
                        report(ref, "powerFeeds", "device \(device.name) power feed '\(feed)' is a \(kind.rawValue), not a pdu or ups")
                    }
                }
            }
            resolved.devices[index] = device
        }

        var interfaces: Set<Endpoint> = []
        var macs: [String: String] = [:]
        for interface in model.interfaces {
            let ref = ObjectRef(.interface, interface.endpoint.description)
            interfaces.insert(interface.endpoint)
            _ = resolve(ObjectRef(.device, interface.device), from: ref, field: nil, exists: deviceKinds[interface.device] != nil)
            if let network = interface.network {
                _ = resolve(ObjectRef(.network, network), from: ref, field: "network", exists: networks[network] != nil)
            }
            if let mac = interface.mac {
                if let first = macs[mac] {
                    report(ref, "mac", "MAC \(mac) of \(interface.endpoint) is also the MAC of \(first)")
                } else {
                    macs[mac] = interface.endpoint.description
                }
            }
        }

        var cabled: [Endpoint: Link] = [:]
        for link in model.links {
            let ref = ObjectRef(.link, link.key)
            if link.a == link.b {
                report(ref, "a", "link connects \(link.a) to itself")
                continue
            }
            var endsExist = true
            for (field, end) in [("a", link.a), ("b", link.b)] {
                let deviceRef = ObjectRef(.device, end.device)
                if deviceKinds[end.device] == nil {
                    endsExist = false
                    if !broken.contains(deviceRef) { report(ref, field, "link end \(end) refers to unknown device '\(end.device)'") }
                } else if !interfaces.contains(end) {
                    endsExist = false
                    if !broken.contains(ObjectRef(.interface, end.description)) {
                        report(ref, field, "link end \(end) refers to unknown interface '\(end.interface)' of device \(end.device)")
                    }
                }
            }
            guard endsExist else { continue }
            for (field, end) in [("a", link.a), ("b", link.b)] {
                if let other = cabled[end] {
                    let first = at(ObjectRef(.link, other.key)).map { " (declared at \($0))" } ?? ""
                    report(ref, field, "interface \(end) already has a link, to \(other.a == end ? other.b : other.a)\(first)")
                } else {
                    cabled[end] = link
                }
            }
        }

        issues.sort { ($0.location?.file ?? "", $0.location?.line ?? 0) < ($1.location?.file ?? "", $1.location?.line ?? 0) }
        return (resolved, issues)
    }
}
