import HTTPTypes
import Hummingbird
import OpenAPIRuntime
import Synchronization

/// The API's routes as the generated code registered them: which methods each path template answers, so a
/// request with another method on a known path gets 405 with `Allow` (RFC 9110 §15.5.6) instead of 404.
final class RouteTable: Sendable {
    private let routes = Mutex<[(segments: [Substring], methods: Set<HTTPRequest.Method>)]>([])

    func add(_ method: HTTPRequest.Method, _ template: String) {
        let segments = template.split(separator: "/")
        routes.withLock { routes in
            if let index = routes.firstIndex(where: { $0.segments == segments }) {
                routes[index].methods.insert(method)
            } else {
                routes.append((segments, [method]))
            }
        }
    }

    /// The methods answered at `path` (GET implies HEAD, as the router adds it); empty for an unknown path. As in
    /// the router, a literal segment wins over a parameter: `/v1/network/asns/allocate` is not `/v1/network/asns/{asn}`.
    func methods(at path: String) -> Set<HTTPRequest.Method> {
        let parts = path.split(separator: "?", maxSplits: 1).first?.split(separator: "/") ?? []
        var best: [Bool] = []
        var found: Set<HTTPRequest.Method> = []
        for route in routes.withLock({ $0 }) where route.segments.count == parts.count {
            let literal = route.segments.map { !($0.hasPrefix("{") && $0.hasSuffix("}")) }
            guard zip(zip(route.segments, parts), literal).allSatisfy({ pair, isLiteral in !isLiteral || pair.0 == pair.1 }) else { continue }
            if literal.lexicographicallyPrecedes(best, by: { !$0 && $1 }) { continue }
            if best.lexicographicallyPrecedes(literal, by: { !$0 && $1 }) || best.isEmpty {
                best = literal
                found = []
            }
            found.formUnion(route.methods)
        }
        if found.contains(.get) { found.insert(.head) }
        return found
    }
}

/// Registers each generated operation with the router, noting its method and path in a `RouteTable`.
struct RecordingTransport: ServerTransport {
    let router: Router<DataverketRequestContext>
    let table: RouteTable

    func register(
        _ handler: @escaping @Sendable (HTTPRequest, HTTPBody?, ServerRequestMetadata) async throws -> (HTTPResponse, HTTPBody?),
        method: HTTPRequest.Method, path: String
    ) throws {
        table.add(method, path)
        router.register(handler, method: method, path: path)
    }
}
