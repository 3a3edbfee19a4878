import DataverketCore
import HTTPTypes
import Identitet
import Hummingbird
import Logging
import NIOCore

/// Per-request facts the generated handlers cannot receive as arguments: who, from where, which correlation.
/// Set by `RequestScopeMiddleware` as a task-local for the duration of the request.
public struct RequestScope: Sendable {
    public var correlationID: String
    public var sourceAddress: String?
    public var actor: String
    public var logger: Logger
    public var path: String
    /// The verified caller, once `AccessMiddleware` authenticated the request.
    public var principal: Principal?

    @TaskLocal public static var current: RequestScope?

    /// The mutation context for this request.
    func operation(idempotencyKey: String? = nil) -> OperationContext {
        OperationContext(actor: actor, correlationID: correlationID, sourceAddress: sourceAddress, idempotencyKey: idempotencyKey)
    }
}

/// Hummingbird's request context plus the client's address.
public struct DataverketRequestContext: RequestContext, RemoteAddressRequestContext {
    public var coreContext: CoreRequestContextStorage
    public let remoteAddress: SocketAddress?

    public init(source: ApplicationRequestContextSource) {
        self.coreContext = .init(source: source)
        self.remoteAddress = source.channel.remoteAddress
    }
}

/// Assigns the correlation ID (from `X-Correlation-ID` when it is sane, else new), puts it on every log
/// line and on the response, and logs one line per request.
struct RequestScopeMiddleware: RouterMiddleware {
    typealias Context = DataverketRequestContext

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let supplied = request.headers[.correlationID]
        let correlationID = supplied.flatMap { id in
            id.utf8.count <= 128 && id.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || "-_.:".contains($0)) } ? id : nil
        } ?? ULID.make()
        var logger = context.logger
        logger[metadataKey: "correlation_id"] = "\(correlationID)"
        var context = context
        context.logger = logger
        let source = context.remoteAddress?.ipAddress
        let scope = RequestScope(correlationID: correlationID, sourceAddress: source, actor: OperationContext.anonymousActor,
                                 logger: logger, path: request.uri.path)
        let started = ContinuousClock.now
        var response = try await RequestScope.$current.withValue(scope) {
            try await next(request, context)
        }
        response.headers[.correlationID] = correlationID
        let elapsed = ContinuousClock.now - started
        logger.info("request", metadata: [
            "method": "\(request.method)", "path": "\(request.uri.path)", "status": "\(response.status.code)",
            "duration_ms": "\(Double(elapsed.components.attoseconds / 1_000_000_000_000) / 1000 + Double(elapsed.components.seconds) * 1000)",
            "source": "\(source ?? "-")",
        ])
        return response
    }
}

extension HTTPField.Name {
    static let correlationID = HTTPField.Name("X-Correlation-ID")!
}
