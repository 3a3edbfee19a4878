import DataverketCore
import Foundation
import HTTPTypes
import Hummingbird
import Logging
import Maskin
import NIOCore
import ServiceLifecycle

/// The request context of the boot listener: it knows the peer's address (rate limits, boot events).
public struct BootRequestContext: RequestContext, RemoteAddressRequestContext {
    public var coreContext: CoreRequestContextStorage
    public let remoteAddress: SocketAddress?

    public init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        remoteAddress = source.channel.remoteAddress
    }
}

/// The boot service's HTTP listener, separate from the API (machines on the provisioning network reach only this):
///
/// - `GET /boot/ipxe?mac=…&uuid=…&serial=…&arch=…` — the machine's iPXE script
/// - `GET /boot/config?uuid=…&token=…` — its machine config, once
/// - `POST /boot/callback?uuid=…&token=…&event=install-complete` — the installer's report
/// - `GET|HEAD /boot/assets/<name>` — kernel and initramfs from the image cache (checksummed, with `Range`)
///
/// Rate limited per source address (malformed queries are 400 and recorded nowhere).
public struct BootServer: Service {
    public var host: String
    public var port: Int
    public let boot: BootService
    public let cache: ImageCache?
    let logger: Logger
    let limiter: BootRateLimiter
    let onListening: @Sendable (Int) async -> Void

    public init(host: String, port: Int, boot: BootService, logger: Logger, burst: Int = 60, perSecond: Double = 20,
                onListening: @escaping @Sendable (Int) async -> Void = { _ in }) throws {
        self.host = host
        self.port = port
        self.boot = boot
        self.cache = try boot.configuration.assetsDirectory.map { try ImageCache(directory: $0) }
        self.logger = logger
        self.limiter = BootRateLimiter(burst: burst, perSecond: perSecond)
        self.onListening = onListening
    }

    public func run() async throws {
        let router = Router(context: BootRequestContext.self)
        let boot = self.boot
        let cache = self.cache
        let limiter = self.limiter
        let logger = self.logger
        router.add(middleware: BootGuard(limiter: limiter, logger: logger))
        router.get("/boot/ipxe") { request, context in
            let script = try await boot.script(query: Self.query(request), address: context.remoteAddress?.ipAddress)
            return Self.text(script, type: "text/plain; charset=utf-8")
        }
        router.get("/boot/config") { request, context in
            let config = try await boot.config(query: Self.query(request), address: context.remoteAddress?.ipAddress)
            var response = Self.text(config, type: "application/yaml")
            response.headers[.cacheControl] = "no-store"
            return response
        }
        router.post("/boot/callback") { request, context in
            try await boot.callback(query: Self.query(request), address: context.remoteAddress?.ipAddress)
            return Response(status: .noContent)
        }
        router.on("/boot/assets/{name}", method: .get) { request, context in
            try await Self.asset(cache, request: request, name: context.parameters.get("name") ?? "", head: false)
        }
        router.on("/boot/assets/{name}", method: .head) { request, context in
            try await Self.asset(cache, request: request, name: context.parameters.get("name") ?? "", head: true)
        }
        let host = self.host
        let onListening = self.onListening
        let app = Application(
            router: router,
            configuration: .init(address: .hostname(host, port: port), serverName: "dataverket-boot"),
            onServerRunning: { channel in
                let port = channel.localAddress?.port ?? 0
                logger.info("boot service listening on http://\(host):\(port)")
                await onListening(port)
            },
            logger: logger)
        try await app.runService()
    }

    /// The query as (key, value) pairs, percent-decoded, in order.
    static func query(_ request: Request) -> [(String, String)] {
        request.uri.queryParameters.map { (String($0.key), String($0.value)) }
    }

    static func text(_ body: String, type: String) -> Response {
        var headers = HTTPFields()
        headers[.contentType] = type
        return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(string: body)))
    }

    static func asset(_ cache: ImageCache?, request: Request, name: String, head: Bool) async throws -> Response {
        guard let cache else { throw HTTPError(.notFound, message: "no image cache is configured") }
        let asset = try cache.asset(name)
        var headers = HTTPFields()
        headers[.contentType] = "application/octet-stream"
        headers[.acceptRanges] = "bytes"
        headers[.eTag] = "\"\(asset.sha256)\""
        headers[HTTPField.Name("X-Checksum-SHA256")!] = asset.sha256
        var range = 0..<asset.size
        var status = HTTPResponse.Status.ok
        if let header = request.headers[.range] {
            guard let parsed = ImageCache.parseRange(header, size: asset.size) else {
                headers[.contentRange] = "bytes */\(asset.size)"
                return Response(status: .rangeNotSatisfiable, headers: headers)
            }
            range = parsed
            status = .partialContent
            headers[.contentRange] = "bytes \(range.lowerBound)-\(range.upperBound - 1)/\(asset.size)"
        }
        headers[.contentLength] = "\(range.count)"
        if head { return Response(status: status, headers: headers) }
        let bytes = try cache.read(asset, range: range)
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: bytes)))
    }
}

/// Rate limits per source address and turns errors into short text answers with the right status.
struct BootGuard: RouterMiddleware {
    typealias Context = BootRequestContext
    let limiter: BootRateLimiter
    let logger: Logger

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let address = context.remoteAddress?.ipAddress ?? "unknown"
        guard await limiter.take(address) else {
            var headers = HTTPFields()
            headers[.retryAfter] = "1"
            return Response(status: .tooManyRequests, headers: headers, body: .init(byteBuffer: ByteBuffer(string: "rate limited\n")))
        }
        guard request.uri.string.utf8.count <= 2048 else {
            return Response(status: .uriTooLong, body: .init(byteBuffer: ByteBuffer(string: "URI too long\n")))
        }
        do {
            return try await next(request, context)
        } catch let error as DataverketError {
            let status: HTTPResponse.Status = switch error.code {
            case .malformedRequest, .invalidArgument: .badRequest
            case .forbidden: .forbidden
            case .notFound: .notFound
            case .conflict: .conflict
            case .unavailable: .serviceUnavailable
            default: .internalServerError
            }
            if status == .internalServerError {
                logger.error("boot request failed", metadata: ["error": "\(error)"])
            }
            return Response(status: status, body: .init(byteBuffer: ByteBuffer(string: error.message + "\n")))
        }
    }
}
