#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import DataverketAPI
import DataverketCore
import Identitet
import OpenAPIRuntime
import Hummingbird
import HTTPTypes

/// The browser side of device login: the verification page, the hand-off to the upstream identity provider,
/// and the page it returns to. These answer in HTML (a person reads them), errors included.
extension APIHandlers {
    func startDeviceAuthorization(_ input: Operations.StartDeviceAuthorization.Input) async throws -> Operations.StartDeviceAuthorization.Output {
        let started = try await identity.startDeviceAuthorization(sourceAddress: scope.sourceAddress)
        return .ok(.init(body: .json(.init(
            deviceCode: started.deviceCode, userCode: started.userCode, verificationUri: started.verificationURI,
            verificationUriComplete: started.verificationURIComplete, expiresIn: started.expiresIn, interval: started.interval))))
    }

    func showDeviceVerification(_ input: Operations.ShowDeviceVerification.Input) async throws -> Operations.ShowDeviceVerification.Output {
        guard let typed = input.query.userCode, !typed.isEmpty else {
            return .ok(.init(body: .html(HTTPBody(DevicePages.codeForm(code: "", message: nil)))))
        }
        do {
            let code = try await identity.pendingDeviceAuthorization(userCode: typed)
            return .ok(.init(body: .html(HTTPBody(DevicePages.confirmation(code: code)))))
        } catch let error as DataverketError {
            return .default(statusCode: DevicePages.status(error), .init(body: .html(HTTPBody(DevicePages.codeForm(code: typed, message: error.message)))))
        }
    }

    func beginDeviceVerification(_ input: Operations.BeginDeviceVerification.Input) async throws -> Operations.BeginDeviceVerification.Output {
        guard case .urlEncodedForm(let form) = input.body else { throw unsupportedBody }
        do {
            let location = try await identity.beginDeviceVerification(userCode: form.userCode)
            return .seeOther(.init(headers: .init(location: location)))
        } catch let error as DataverketError {
            return .default(statusCode: DevicePages.status(error),
                            .init(body: .html(HTTPBody(DevicePages.codeForm(code: form.userCode, message: error.message)))))
        }
    }

    func completeDeviceVerification(_ input: Operations.CompleteDeviceVerification.Input) async throws -> Operations.CompleteDeviceVerification.Output {
        do {
            let identity = try await identity.completeDeviceVerification(
                code: input.query.code, state: input.query.state ?? "", error: input.query.error, errorDescription: input.query.errorDescription)
            return .ok(.init(body: .html(HTTPBody(DevicePages.done(subject: identity.subject, groups: identity.groups)))))
        } catch let error as DataverketError {
            scope.logger.info("device login refused", metadata: ["reason": "\(error.message)"])
            return .default(statusCode: DevicePages.status(error), .init(body: .html(HTTPBody(DevicePages.failed(error.message)))))
        }
    }
}

/// Minimal, dependency-free HTML. Everything interpolated is escaped.
enum DevicePages {
    static func status(_ error: DataverketError) -> Int {
        ProblemDocument.statusAndTitle(error.code).0.code
    }

    static func codeForm(code: String, message: String?) -> String {
        page("Dataverket login", """
            \(message.map { "<p class=\"error\">\(escape($0))</p>" } ?? "")
            <p>Enter the code your terminal shows.</p>
            <form method="get" action="verify">
              <input name="user_code" value="\(escape(code))" autocomplete="off" autofocus maxlength="16" placeholder="BCDF-GHJK">
              <button type="submit">Continue</button>
            </form>
            """)
    }

    static func confirmation(code: String) -> String {
        page("Dataverket login", """
            <p>A terminal asks to log in to Dataverket as you with the code</p>
            <p class="code">\(escape(code))</p>
            <p>Continue only if your terminal shows this code and you started the login yourself.</p>
            <form method="post" action="verify">
              <input type="hidden" name="user_code" value="\(escape(code))">
              <button type="submit">Continue to sign in</button>
            </form>
            """)
    }

    static func done(subject: String, groups: [String]) -> String {
        page("Logged in", """
            <p>You are logged in as <b>\(escape(subject))</b>\(groups.isEmpty ? "" : " (groups: \(escape(groups.joined(separator: ", "))))").</p>
            <p>Return to your terminal; you can close this window.</p>
            """)
    }

    static func failed(_ message: String) -> String {
        page("Login failed", "<p class=\"error\">\(escape(message))</p><p>Run <code>dvid login</code> again to retry.</p>")
    }

    static func page(_ title: String, _ body: String) -> String {
        """
        <!doctype html>
        <html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">
        <meta name="referrer" content="no-referrer"><title>\(escape(title))</title>
        <style>body{font-family:system-ui,sans-serif;max-width:32rem;margin:4rem auto;padding:0 1rem}
        .code{font:2rem monospace;letter-spacing:.2rem}.error{color:#b00}</style></head>
        <body><h1>\(escape(title))</h1>
        \(body)
        </body></html>
        """
    }

    static func escape(_ text: String) -> String {
        var out = ""
        for character in text {
            switch character {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&#39;"
            default: out.append(character)
            }
        }
        return out
    }
}

/// HTML pages may not be framed (clickjacking the confirmation), cached, or load anything but their own
/// inline style.
struct PageSecurityMiddleware: RouterMiddleware {
    typealias Context = DataverketRequestContext

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        var response = try await next(request, context)
        if response.headers[.contentType]?.hasPrefix("text/html") == true {
            response.headers[.contentSecurityPolicy] = "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'"
            response.headers[HTTPField.Name("X-Frame-Options")!] = "DENY"
            response.headers[.cacheControl] = "no-store"
        }
        return response
    }
}
