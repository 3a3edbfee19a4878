import Crypto
import DataverketCore
import Foundation
import HTTPTypes
import Hummingbird
import Logging
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

/// A token bucket per source address; bounded (quiet addresses are dropped).
actor BootRateLimiter {
    private struct Bucket { var tokens: Double; var at: ContinuousClock.Instant }
    private let burst: Double
    private let perSecond: Double
    private var buckets: [String: Bucket] = [:]
    private let clock = ContinuousClock()

    init(burst: Int, perSecond: Double) {
        self.burst = Double(max(1, burst))
        self.perSecond = max(0.001, perSecond)
    }

    func take(_ address: String) -> Bool {
        let now = clock.now
        if buckets.count > 10_000 { buckets = buckets.filter { now - $0.value.at < .seconds(60) } }
        var bucket = buckets[address] ?? Bucket(tokens: burst, at: now)
        let elapsed = now - bucket.at
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        bucket.tokens = min(burst, bucket.tokens + seconds * perSecond)
        bucket.at = now
        guard bucket.tokens >= 1 else {
            buckets[address] = bucket
            return false
        }
        bucket.tokens -= 1
        buckets[address] = bucket
        return true
    }
}

/// Kernel and initramfs images from a directory, each checked against `SHA256SUMS` (when present, only the files
/// it lists are served, and a file whose checksum does not match is refused).
public struct ImageCache: Sendable {
    public struct Asset: Sendable, Hashable {
        public var name: String
        public var path: String
        public var size: Int
        public var sha256: String
    }

    public let directory: String
    let sums: [String: String]?

    public init(directory: String) throws {
        self.directory = directory
        if let data = FileManager.default.contents(atPath: directory + "/SHA256SUMS") {
            var sums: [String: String] = [:]
            for line in String(decoding: data, as: UTF8.self).split(separator: "\n") {
                let parts = line.split(separator: " ", maxSplits: 1)
                guard parts.count == 2 else { continue }
                let name = parts[1].trimmingCharacters(in: .whitespaces).replacingOccurrences(of: "*", with: "")
                sums[(name as NSString).lastPathComponent] = String(parts[0]).lowercased()
            }
            self.sums = sums
        } else {
            self.sums = nil
        }
    }

    public func asset(_ name: String) throws -> Asset {
        guard !name.isEmpty, name.count <= 128, !name.hasPrefix("."),
              name.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || "._-".contains($0)) }) else {
            throw DataverketError(.malformedRequest, "not an asset name")
        }
        let path = directory + "/" + name
        guard let attributes = try? FileManager.default.attributesOfItem(atPath: path),
              (attributes[.type] as? FileAttributeType) == .typeRegular, let size = attributes[.size] as? Int else {
            throw DataverketError.notFound("asset", name)
        }
        if let sums {
            guard let expected = sums[name] else { throw DataverketError.notFound("asset", name) }
            return Asset(name: name, path: path, size: size, sha256: expected)
        }
        return Asset(name: name, path: path, size: size, sha256: try Self.sha256(path))
    }

    /// Verifies a listed asset's checksum (at start, and by `dataverket maskin assets verify`).
    public func verify(_ name: String) throws -> Bool {
        let asset = try asset(name)
        return try Self.sha256(asset.path) == asset.sha256
    }

    func read(_ asset: Asset, range: Range<Int>) throws -> [UInt8] {
        guard let handle = FileHandle(forReadingAtPath: asset.path) else { throw DataverketError.notFound("asset", asset.name) }
        defer { try? handle.close() }
        try handle.seek(toOffset: UInt64(range.lowerBound))
        return Array(try handle.read(upToCount: range.count) ?? Data())
    }

    static func sha256(_ path: String) throws -> String {
        guard let handle = FileHandle(forReadingAtPath: path) else { throw DataverketError.notFound("asset", path) }
        defer { try? handle.close() }
        var hasher = SHA256()
        while let chunk = try handle.read(upToCount: 1 << 20), !chunk.isEmpty { hasher.update(data: chunk) }
        return hasher.finalize().map { String(format: "%02x", $0) }.joined()
    }

    /// `bytes=a-b`, `bytes=a-`, `bytes=-n` (one range); nil when unsatisfiable or malformed.
    static func parseRange(_ header: String, size: Int) -> Range<Int>? {
        guard header.hasPrefix("bytes="), size > 0 else { return nil }
        let spec = header.dropFirst(6)
        guard !spec.contains(","), let dash = spec.firstIndex(of: "-") else { return nil }
        let first = spec[..<dash], last = spec[spec.index(after: dash)...]
        if first.isEmpty {
            guard let suffix = Int(last), suffix > 0 else { return nil }
            return max(0, size - suffix)..<size
        }
        guard let start = Int(first), start >= 0, start < size else { return nil }
        if last.isEmpty { return start..<size }
        guard let end = Int(last), end >= start else { return nil }
        return start..<(min(end, size - 1) + 1)
    }
}
