#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import AsyncHTTPClient
@_exported import DataverketAPI
import HTTPTypes
import OpenAPIAsyncHTTPClient
import OpenAPIRuntime

/// An RFC 9457 problem returned by the server, as a Swift error.
public struct APIProblem: Error, Sendable, CustomStringConvertible, Decodable {
    public struct Violation: Sendable, Decodable {
        public var field: String
        public var message: String
    }

    public var type: String
    public var title: String
    public var status: Int
    public var detail: String?
    public var instance: String?
    public var correlationId: String?
    public var errors: [Violation]?
    /// How many violations there were, when `errors` lists only the first ones.
    public var errorsTotal: Int?

    /// The stable problem code: the last path segment of `type` (`not-found`, `precondition-failed`, …).
    public var code: String { String(type.split(separator: "/").last ?? Substring(type)) }

    public var description: String { detail ?? title }
}

/// The server could not be reached, did not answer in time, or answered something that is not the API.
public struct TransportFailure: Error, Sendable, CustomStringConvertible {
    public enum Kind: String, Sendable, Hashable {
        /// Nothing listens at the address (connection refused).
        case refused
        /// Connected (or trying to), but no answer within the client's timeout.
        case timedOut = "timed-out"
        /// No connection: name resolution, no route, reset.
        case unreachable
        /// An answer, but not one of the API's.
        case badAnswer = "bad-answer"
    }

    public var serverURL: String
    public var kind: Kind
    public var message: String

    public init(serverURL: String, kind: Kind, message: String) {
        self.serverURL = serverURL
        self.kind = kind
        self.message = message
    }

    public var description: String {
        switch kind {
        case .refused: "nothing is listening at \(serverURL) (connection refused): is the Dataverket server running there? (\(message))"
        case .timedOut: "the Dataverket server at \(serverURL) did not answer in time: \(message)"
        case .unreachable: "cannot reach the Dataverket server at \(serverURL): \(message)"
        case .badAnswer: "the server at \(serverURL) answered something that is not the Dataverket API: \(message)"
        }
    }

    /// Sorts a transport error by what the user can do about it.
    static func kind(of error: any Error) -> Kind {
        if let error = error as? HTTPClientError {
            switch error {
            case .deadlineExceeded, .readTimeout, .writeTimeout, .connectTimeout: return .timedOut
            default: break
            }
        }
        let text = String(describing: error)
        if text.localizedCaseInsensitiveContains("refused") { return .refused }
        if text.localizedCaseInsensitiveContains("timeout") || text.localizedCaseInsensitiveContains("timed out")
            || text.localizedCaseInsensitiveContains("deadline") { return .timedOut }
        return .unreachable
    }
}

/// Builds SDK clients.
public enum DataverketClient {
    /// The HTTP client SDK clients share unless given another: a short connect timeout, so an unreachable
    /// server is reported in seconds rather than after the whole request deadline.
    public static let sharedHTTPClient = HTTPClient(
        eventLoopGroup: HTTPClient.defaultEventLoopGroup,
        configuration: .init(timeout: .init(connect: .seconds(3), read: .seconds(60))))

    /// A client for the server at `serverURL`. Non-2xx problem+json answers are thrown as `APIProblem`.
    public static func make(serverURL: URL, httpClient: HTTPClient = sharedHTTPClient, timeout: Duration = .seconds(30),
                            headers: [String: String] = [:]) -> Client {
        make(serverURL: serverURL,
             transport: AsyncHTTPClientTransport(configuration: .init(client: httpClient, timeout: .seconds(Int64(timeout.components.seconds)))),
             headers: headers)
    }

    /// A client over another transport (tests route requests straight into the server's router).
    public static func make(serverURL: URL, transport: any ClientTransport, headers: [String: String] = [:]) -> Client {
        Client(serverURL: serverURL, configuration: .dataverket, transport: transport,
               middlewares: [ProblemMiddleware(), HeadersMiddleware(headers: headers)])
    }

    /// Unwraps the runtime's `ClientError` to the `APIProblem` or transport failure underneath.
    public static func unwrap(_ error: any Error, serverURL: String) -> any Error {
        if let client = error as? ClientError {
            if let problem = client.underlyingError as? APIProblem { return problem }
            if client.response == nil {
                return TransportFailure(serverURL: serverURL, kind: TransportFailure.kind(of: client.underlyingError),
                                        message: "\(client.underlyingError)")
            }
            return TransportFailure(serverURL: serverURL, kind: .badAnswer,
                                    message: "\(client.causeDescription) \(client.underlyingError)")
        }
        return error
    }
}

/// Turns problem+json responses into thrown `APIProblem`s before the generated decoder sees them.
struct ProblemMiddleware: ClientMiddleware {
    static let maxProblemBytes = 4 << 20

    func intercept(
        _ request: HTTPRequest, body: HTTPBody?, baseURL: URL, operationID: String,
        next: @Sendable (HTTPRequest, HTTPBody?, URL) async throws -> (HTTPResponse, HTTPBody?)
    ) async throws -> (HTTPResponse, HTTPBody?) {
        let (response, responseBody) = try await next(request, body, baseURL)
        guard response.status.code >= 400 else { return (response, responseBody) }
        var data = Data()
        var cut = false
        if let responseBody {
            // Read at most `maxProblemBytes`; a longer error answer is still the server's answer, not a transport failure.
            for try await chunk in responseBody {
                data.append(contentsOf: chunk.prefix(Self.maxProblemBytes - data.count))
                if data.count >= Self.maxProblemBytes {
                    cut = true
                    break
                }
            }
        }
        if !cut, let problem = try? JSONDecoder().decode(APIProblem.self, from: data) { throw problem }
        let detail = String(decoding: data.prefix(512), as: UTF8.self) + (cut ? "… (an error answer over \(Self.maxProblemBytes >> 20) MiB, cut)" : "")
        throw APIProblem(type: "about:blank", title: response.status.reasonPhrase, status: Int(response.status.code),
                         detail: detail, instance: nil, correlationId: nil, errors: nil, errorsTotal: nil)
    }
}

/// Adds fixed headers (e.g. a correlation ID) to every request.
struct HeadersMiddleware: ClientMiddleware {
    let headers: [String: String]

    func intercept(
        _ request: HTTPRequest, body: HTTPBody?, baseURL: URL, operationID: String,
        next: @Sendable (HTTPRequest, HTTPBody?, URL) async throws -> (HTTPResponse, HTTPBody?)
    ) async throws -> (HTTPResponse, HTTPBody?) {
        var request = request
        for (name, value) in headers {
            if let field = HTTPField.Name(name) { request.headerFields[field] = value }
        }
        return try await next(request, body, baseURL)
    }
}
