import Foundation
import DataverketCore
import HTTPTypes
import Hummingbird
import Logging
import NIOFoundationCompat
import OpenAPIRuntime

/// RFC 9457 problem details, rendered as `application/problem+json`.
struct ProblemDocument: Codable, Sendable {
    var type: String
    var title: String
    var status: Int
    var detail: String?
    var instance: String?
    var correlationId: String?
    var errors: [DataverketError.FieldViolation]?
    /// How many violations there were, when `errors` lists only the first `maxErrors`.
    var errorsTotal: Int?

    /// Bounds on an error answer, so a file with 80,000 mistakes gets a readable answer, not megabytes.
    static let maxErrors = 100
    static let maxDetailBytes = 16 << 10

    static let typeBase = "https://dataverket.dev/problems/"

    init(_ error: DataverketError, instance: String?, correlationID: String?) {
        let (status, title) = Self.statusAndTitle(error.code)
        self.type = Self.typeBase + error.code.description
        self.title = title
        self.status = Int(status.code)
        self.detail = Self.bounded(error.message)
        self.instance = instance
        self.correlationId = correlationID
        self.errors = error.violations.isEmpty ? nil : Array(error.violations.prefix(Self.maxErrors))
        self.errorsTotal = error.violations.count > Self.maxErrors ? error.violations.count : nil
    }

    /// `message` up to `maxDetailBytes`, cut at a line break, saying how many lines were left out.
    static func bounded(_ message: String) -> String {
        guard message.utf8.count > maxDetailBytes else { return message }
        var kept = 0, lines = 0
        let all = message.split(separator: "\n", omittingEmptySubsequences: false)
        for line in all {
            guard kept + line.utf8.count + 1 <= maxDetailBytes else { break }
            kept += line.utf8.count + 1
            lines += 1
        }
        if lines == 0 { return String(decoding: message.utf8.prefix(maxDetailBytes), as: UTF8.self) + "…" }
        return all.prefix(lines).joined(separator: "\n") + "\n… and \(all.count - lines) more lines"
    }

    static func statusAndTitle(_ code: DataverketError.Code) -> (HTTPResponse.Status, String) {
        switch code {
        case .malformedRequest: (.badRequest, "Malformed request")
        case .invalidArgument: (.unprocessableContent, "Invalid request")
        case .notFound: (.notFound, "Not found")
        case .alreadyExists: (.conflict, "Already exists")
        case .conflict: (.conflict, "Conflict")
        case .preconditionFailed: (.preconditionFailed, "Precondition failed")
        case .preconditionRequired: (.init(code: 428, reasonPhrase: "Precondition Required"), "Precondition required")
        case .payloadTooLarge: (.contentTooLarge, "Request body too large")
        case .unsupportedMediaType: (.unsupportedMediaType, "Unsupported media type")
        case .idempotencyKeyReused: (.unprocessableContent, "Idempotency key reused")
        case .unavailable: (.serviceUnavailable, "Service unavailable")
        case .notConfigured: (.notFound, "Not configured on this server")
        case .methodNotAllowed: (.methodNotAllowed, "Method not allowed")
        case .unauthenticated: (.unauthorized, "Authentication required")
        case .forbidden: (.forbidden, "Forbidden")
        case .rateLimited: (.tooManyRequests, "Too many requests")
        case .authorizationPending: (.badRequest, "Authorization pending")
        case .slowDown: (.badRequest, "Slow down")
        case .expiredToken: (.badRequest, "Device code expired")
        case .accessDenied: (.badRequest, "Access denied")
        default: (.internalServerError, "Internal error")
        }
    }
}

/// Turns every error escaping a handler (ours, the OpenAPI runtime's, Hummingbird's) into problem+json,
/// so clients see one error format with a stable `type`. Unexpected errors are logged and reported as 500
/// without internals.
struct ProblemMiddleware: RouterMiddleware {
    typealias Context = DataverketRequestContext
    /// The registered routes: a known path asked with another method is 405 with `Allow`, not 404.
    var routes = RouteTable()

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let error as HTTPError where error.status == .notFound {
            let allowed = routes.methods(at: request.uri.path)
            guard !allowed.isEmpty, !allowed.contains(request.method) else {
                return Self.response(ProblemDocument(Self.classify(error), instance: request.uri.path, correlationID: RequestScope.current?.correlationID))
            }
            let list = allowed.map(\.rawValue).sorted().joined(separator: ", ")
            let problem = DataverketError(.methodNotAllowed, "\(request.method.rawValue) is not allowed on \(request.uri.path); it answers \(list)")
            var response = Self.response(ProblemDocument(problem, instance: request.uri.path, correlationID: RequestScope.current?.correlationID))
            response.headers[.allow] = list
            return response
        } catch {
            let scope = RequestScope.current
            let logger = scope?.logger ?? context.logger
            let problem = Self.classify(error, bodyRequest: [.post, .put, .patch].contains(request.method))
            if problem.code == .internal || problem.code == .storeFailure {
                logger.error("request failed", metadata: ["error": "\(String(reflecting: error))"])
            } else if problem.code == .unavailable {
                logger.warning("dependency unavailable", metadata: ["error": "\(error)"])
            }
            let document = ProblemDocument(problem, instance: request.uri.path, correlationID: scope?.correlationID)
            return Self.response(document)
        }
    }

    static func response(_ document: ProblemDocument) -> Response {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let body = (try? encoder.encode(document)) ?? Data("{}".utf8)
        var headers = HTTPFields()
        headers[.contentType] = "application/problem+json"
        if document.status == 401 { headers[.wwwAuthenticate] = #"Bearer realm="dataverket""# }
        return Response(status: .init(code: document.status), headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: body)))
    }

    /// Maps any error to a `DataverketError` with the right code.
    /// `bodyRequest`: decoding errors of requests with a body are about the body (422); of the others,
    /// about a query or path parameter (400). Body syntax was already checked by `RequestShapeMiddleware`.
    static func classify(_ error: any Error, bodyRequest: Bool = true) -> DataverketError {
        switch error {
        case let error as DataverketError:
            return error
        case let error as ServerError:
            return classifyServerError(error, bodyRequest: bodyRequest)
        case let error as HTTPError:
            switch error.status {
            case .notFound: return DataverketError(.notFound, "no such endpoint")
            case .contentTooLarge: return DataverketError(.payloadTooLarge, "request body exceeds the limit")
            case .methodNotAllowed: return DataverketError(.malformedRequest, "method not allowed on this endpoint")
            default:
                if error.status.code < 500 { return DataverketError(.malformedRequest, error.body ?? error.status.reasonPhrase) }
                return DataverketError(.internal, "internal error", cause: error)
            }
        case let error as DecodingError:
            return bodyRequest ? classifyDecoding(error) : parameterError(error)
        default:
            return DataverketError(.internal, "internal error", cause: error)
        }
    }

    static func classifyServerError(_ error: ServerError, bodyRequest: Bool) -> DataverketError {
        if let ours = error.underlyingError as? DataverketError { return ours }
        if let decoding = error.underlyingError as? DecodingError {
            return bodyRequest ? classifyDecoding(decoding) : parameterError(decoding)
        }
        if let nested = error.underlyingError as? ServerError { return classifyServerError(nested, bodyRequest: bodyRequest) }
        // Everything else the runtime rejects before our handler (a missing or malformed parameter,
        // a bad header) is a malformed request.
        return DataverketError(.malformedRequest, "\(error.causeDescription): \(error.underlyingError)")
    }

    static func parameterError(_ error: DecodingError) -> DataverketError {
        let detail: String
        switch error {
        case .typeMismatch(let type, _): detail = "expected \(type)"
        case .dataCorrupted(let context): detail = context.debugDescription
        case .keyNotFound(let key, _): detail = "\(key.stringValue) is required"
        case .valueNotFound(let type, _): detail = "expected \(type)"
        @unknown default: detail = "\(error)"
        }
        return DataverketError(.malformedRequest, "a query or path parameter is malformed: \(detail)")
    }

    static func classifyDecoding(_ error: DecodingError) -> DataverketError {
        func path(_ context: DecodingError.Context) -> String {
            let joined = context.codingPath.map { $0.intValue.map { "[\($0)]" } ?? $0.stringValue }.joined(separator: ".")
            return joined.isEmpty ? "body" : joined
        }
        switch error {
        case .dataCorrupted(let context) where context.codingPath.isEmpty && context.underlyingError != nil:
            return DataverketError(.malformedRequest, "the request body is not valid JSON")
        case .dataCorrupted(let context):
            return .invalid(path(context), context.debugDescription)
        case .keyNotFound(let key, let context):
            let field = (context.codingPath.map(\.stringValue) + [key.stringValue]).joined(separator: ".")
            return .invalid(field, "is required")
        case .typeMismatch(let type, let context):
            return .invalid(path(context), "expected \(type)")
        case .valueNotFound(let type, let context):
            return .invalid(path(context), "expected \(type), found null")
        @unknown default:
            return DataverketError(.malformedRequest, "the request body could not be decoded")
        }
    }
}

/// The OpenAPI runtime percent-encodes response header values; `ETag` and `Location` must go out verbatim
/// (`"3"`, `/v1/tasks/…`) for ordinary HTTP clients.
struct HeaderEncodingMiddleware: RouterMiddleware {
    typealias Context = DataverketRequestContext

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        var response = try await next(request, context)
        for name in [HTTPField.Name.eTag, .location] {
            if let value = response.headers[name], value.contains("%"), let decoded = value.removingPercentEncoding {
                response.headers[name] = decoded
            }
        }
        return response
    }
}

/// Rejects oversized bodies (413) before any handler runs and before the credential is checked, so that nothing
/// unbounded is read; the body is collected (up to the limit) for what follows. What the request says is checked
/// after authentication, by `RequestShapeMiddleware`.
struct BodyGuardMiddleware: RouterMiddleware {
    typealias Context = DataverketRequestContext
    let maxBodyBytes: Int
    static let inventoryApplyBytes = 32 << 20

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard request.method == .post || request.method == .put || request.method == .patch else {
            return try await next(request, context)
        }
        // Site files declare whole datacenters: the inventory apply takes more.
        let limit = request.uri.path == "/v1/inventory/apply" ? max(maxBodyBytes, Self.inventoryApplyBytes) : maxBodyBytes
        if let length = request.headers[.contentLength].flatMap(Int.init), length > limit {
            throw DataverketError(.payloadTooLarge, "request body is \(length) bytes; the limit is \(limit)")
        }
        var request = request
        do {
            _ = try await request.collectBody(upTo: limit)
        } catch {
            throw DataverketError(.payloadTooLarge, "request body exceeds the limit of \(limit) bytes")
        }
        return try await next(request, context)
    }
}

/// What a request says, checked for every operation after `AccessMiddleware` (a request without a valid credential is
/// 401 whatever else is wrong with it) and before the generated code decodes it: no NUL in the path or query (400;
/// PostgreSQL cannot store one), a body of a media type the API takes (415), valid JSON (400) with no NUL in a string
/// and no `null` anywhere (422: the API has no null — an optional field is left out), and `If-Match` on a PATCH (428).
struct RequestShapeMiddleware: ServerMiddleware {
    /// How many `null`s a refusal names; the count says how many there were.
    static let maxNamedNulls = 20

    func intercept(
        _ request: HTTPRequest, body: HTTPBody?, metadata: ServerRequestMetadata, operationID: String,
        next: @Sendable (HTTPRequest, HTTPBody?, ServerRequestMetadata) async throws -> (HTTPResponse, HTTPBody?)
    ) async throws -> (HTTPResponse, HTTPBody?) {
        // No text anywhere here may hold NUL: refused up front, wherever it hides.
        if request.path?.contains("%00") == true {
            throw DataverketError(.malformedRequest, "the path or query contains a NUL byte (%00); no parameter accepts one")
        }
        var body = body
        if request.method == .post || request.method == .put || request.method == .patch, let received = body {
            // Collected by BodyGuardMiddleware already (bounded there): this reads it from memory.
            let bytes = try await [UInt8](collecting: received, upTo: .max)
            try Self.checkBody(bytes, mediaType: request.headerFields[.contentType], operationID: operationID)
            body = HTTPBody(bytes)
        }
        // Header values are percent-decoded (the generated clients percent-encode them: `If-Match: %221%22`), and the
        // generated code takes one that does not decode for none at all: the precondition and the key are checked here
        // as they decode, so a garbled one is refused rather than ignored (a DELETE made unconditional by it).
        if request.method == .patch || request.method == .delete {
            _ = try EntityTag.parse(try Self.decoded(request.headerFields[.ifMatch], "If-Match"), required: request.method == .patch)
        }
        if request.method == .post {
            _ = try APIHandlers.checkIdempotencyKey(try Self.decoded(request.headerFields[.idempotencyKey], "Idempotency-Key"))
        }
        return try await next(request, body, metadata)
    }

    /// A header value percent-decoded, as the generated code reads it; one with a broken escape (`a% b`) is malformed.
    static func decoded(_ value: String?, _ name: String) throws(DataverketError) -> String? {
        guard let value else { return nil }
        guard let decoded = value.removingPercentEncoding else {
            throw DataverketError(.malformedRequest, "\(name) has a broken percent-escape: \(value.prefix(80))")
        }
        return decoded
    }

    /// A body of a media type the API takes (415), valid JSON (400) without NUL or `null` (422). No body is no body.
    static func checkBody(_ bytes: [UInt8], mediaType header: String?, operationID: String) throws(DataverketError) {
        guard !bytes.isEmpty else { return }
        let mediaType = header?.split(separator: ";").first?.trimmingCharacters(in: .whitespaces).lowercased() ?? ""
        // The one HTML form (device-login confirmation) posts form-encoded; everything else is JSON.
        if mediaType == "application/x-www-form-urlencoded", operationID == "beginDeviceVerification" { return }
        guard mediaType == "application/json" else {
            throw DataverketError(.unsupportedMediaType, "request bodies must be application/json, got '\(mediaType.isEmpty ? "none" : mediaType)'")
        }
        guard let json = try? JSONSerialization.jsonObject(with: Data(bytes), options: [.fragmentsAllowed]) else {
            throw DataverketError(.malformedRequest, "the request body is not valid JSON")
        }
        if containsEscapedNUL(bytes) {
            throw DataverketError(.invalidArgument, "the request body has a string with a NUL character (\\u0000); no field accepts one")
        }
        try refuseNulls(json)
    }

    /// Refuses a JSON value with `null` in it, naming where (`bmc.caFile`, `interfaces[0].neighbor`).
    static func refuseNulls(_ json: Any) throws(DataverketError) {
        var found: [String] = []
        var count = 0
        nulls(in: json, at: "", found: &found, count: &count)
        guard count > 0 else { return }
        let message = "null is not a value in this API: leave the field out"
        let violations = found.map { DataverketError.FieldViolation(field: $0, message: message) }
        let more = count > found.count ? " (and \(count - found.count) more)" : ""
        throw DataverketError(.invalidArgument, "\(found.joined(separator: ", "))\(more): \(message)", violations: violations)
    }

    private static func nulls(in value: Any, at path: String, found: inout [String], count: inout Int) {
        switch value {
        case is NSNull:
            count += 1
            if found.count < maxNamedNulls { found.append(path.isEmpty ? "body" : path) }
        case let object as [String: Any]:
            for (key, member) in object.sorted(by: { $0.key < $1.key }) {
                nulls(in: member, at: path.isEmpty ? key : "\(path).\(key)", found: &found, count: &count)
            }
        case let array as [Any]:
            for (index, element) in array.enumerated() { nulls(in: element, at: "\(path)[\(index)]", found: &found, count: &count) }
        default:
            return
        }
    }

    /// Whether valid JSON text has a string holding U+0000 (written `\u0000`; a raw NUL is not valid JSON).
    static func containsEscapedNUL(_ bytes: some Collection<UInt8>) -> Bool {
        var iterator = bytes.makeIterator()
        // Bounded by the body: each round consumes at least one byte.
        while let byte = iterator.next() {
            guard byte == UInt8(ascii: "\\") else { continue }
            guard let escaped = iterator.next() else { return false }
            guard escaped == UInt8(ascii: "u") else { continue }
            var hex: [UInt8] = []
            while hex.count < 4, let digit = iterator.next() { hex.append(digit) }
            if hex == Array("0000".utf8) { return true }
        }
        return false
    }
}

extension HTTPField.Name {
    static let idempotencyKey = HTTPField.Name("Idempotency-Key")!
}
