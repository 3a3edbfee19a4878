import AsyncHTTPClient
import DataverketBus
import DataverketCore
import DataverketServer
import DataverketStore
import DVCommands
import Foundation
@testable import Identitet
import JWTKit
import NIOCore
import NIOHTTP1
import Sentral
import DataverketTasks
import Synchronization
import Testing
import DataverketTestSupport

/// The upstream single sign-on provider of the tests: oidc-provider-mock (PyPI), started by scripts/test.
var oidcMockURL: String {
    ProcessInfo.processInfo.environment["DV_TEST_OIDC_URL"] ?? "http://127.0.0.1:19400"
}

/// A browser that does not follow redirects, so each hop of the login is checked.
struct Browser {
    let http: HTTPClient

    static func with<T: Sendable>(_ body: (Browser) async throws -> T) async throws -> T {
        let browser = Browser(http: HTTPClient(eventLoopGroupProvider: .singleton, configuration: .init(redirectConfiguration: .disallow)))
        do {
            let result = try await body(browser)
            try await browser.http.shutdown()
            return result
        } catch {
            try? await browser.http.shutdown()
            throw error
        }
    }

    func get(_ url: String) async throws -> (status: Int, location: String?, body: String) {
        try await send(HTTPClientRequest(url: url))
    }

    func post(_ url: String, form: [(String, String)]) async throws -> (status: Int, location: String?, body: String) {
        var request = HTTPClientRequest(url: url)
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/x-www-form-urlencoded")
        request.body = .bytes(ByteBuffer(string: form.map { UpstreamOIDC.formEncode($0.0) + "=" + UpstreamOIDC.formEncode($0.1) }
            .joined(separator: "&")))
        return try await send(request)
    }

    func put(_ url: String, json: String) async throws -> Int {
        var request = HTTPClientRequest(url: url)
        request.method = .PUT
        request.headers.add(name: "Content-Type", value: "application/json")
        request.body = .bytes(ByteBuffer(string: json))
        return Int(try await http.execute(request, timeout: .seconds(10)).status.code)
    }

    private func send(_ request: HTTPClientRequest) async throws -> (status: Int, location: String?, body: String) {
        let response = try await http.execute(request, timeout: .seconds(10))
        let body = try await response.body.collect(upTo: 1 << 20)
        return (Int(response.status.code), response.headers.first(name: "Location"), String(buffer: body))
    }

    /// The person's part of a device login: open the link, confirm the code, sign in at the mock as `subject`
    /// (or deny), come back. Returns the final page.
    func approve(_ verificationURL: String, as subject: String?, serverURL: String) async throws -> (status: Int, body: String, authorize: String) {
        let page = try await get(verificationURL)
        #expect(page.status == 200)
        let code = String(verificationURL.split(separator: "=").last ?? "")
        #expect(page.body.contains(code), "the confirmation page shows the code")
        let handOff = try await post(serverURL + "/v1/identity/device/verify", form: [("user_code", code)])
        #expect(handOff.status == 303)
        let authorize = try #require(handOff.location)
        #expect(authorize.hasPrefix(oidcMockURL + "/oauth2/authorize?"))
        for parameter in ["code_challenge_method=S256", "code_challenge=", "nonce=", "state=", "response_type=code"] {
            #expect(authorize.contains(parameter), "authorization request has \(parameter)")
        }
        let form = try await get(authorize)
        #expect(form.status == 200, "the mock shows its sign-in form: \(form.body.prefix(300))")
        let signedIn = try await post(authorize, form: subject.map { [("sub", $0)] } ?? [("action", "deny")])
        #expect(signedIn.status == 302)
        let callback = try #require(signedIn.location)
        #expect(callback.hasPrefix(serverURL + "/v1/identity/device/callback?"))
        let done = try await get(callback)
        return (done.status, done.body, authorize)
    }
}

/// Runs a server whose Identitet federates device logins to the mock, on a known port (the issuer and the
/// callback URL must be its real address).
func withSSOServer(pollInterval: Duration = .seconds(1), deviceCodeLifetime: Duration = .seconds(600), clientID: String = "dataverket-test",
                   now: @escaping @Sendable () -> Int64 = StoreTime.now,
                   _ body: @Sendable @escaping (TestServer) async throws -> Void) async throws {
    try await withDatabase(.sqlite) { database in
        let port = try freePort()
        let issuer = "http://127.0.0.1:\(port)"
        var configuration = ServerConfiguration(host: "127.0.0.1", port: port)
        configuration.rateLimits = .loadTesting
        configuration.issuerOverride = issuer
        let upstream = UpstreamIdentityProvider(issuer: oidcMockURL, clientID: clientID, clientSecret: "test-client-secret")
        configuration.upstreamIdentity = upstream
        let identity = Identitet(database: database, issuer: issuer, masterKey: .random(), upstream: upstream,
                                 deviceCodeLifetime: deviceCodeLifetime, devicePollInterval: pollInterval, now: now)
        _ = try await ControlPlane(database: database).migrate()
        try await identity.prepare()
        try await identity.bind("user:test-admin", .platformAdmin, by: "test")
        let token = try await identity.issueSession(for: "user:test-admin").accessToken
        let bus = InProcessBus(logger: quietLogger)
        let sentral = ControlPlane(database: database, bus: bus)
        try await DataverketServer.withRunning(sentral: sentral, identity: identity, configuration: configuration, logger: quietLogger,
                                               bus: bus, worker: false) { actualPort in
            #expect(actualPort == port)
            try await body(TestServer(baseURL: issuer, database: database, sentral: sentral, identity: identity, token: token))
        }
    }
}

@Suite("device login (RFC 8628) federated to an OIDC provider")
struct DeviceLoginTests {
    @Test("dvid login against oidc-provider-mock, then create and list with the session; groups map to bindings")
    func cliLogin() async throws {
        try await withSSOServer { server in try await Browser.with { browser in
            let subject = "alice-\(ULID.make().suffix(6).lowercased())"
            #expect(try await browser.put(oidcMockURL + "/users/\(subject)", json: #"{"email": "alice@example.test", "groups": ["dv-admins", "staff"]}"#) == 204)
            try await server.identity.bind("group:dv-admins", .platformAdmin, by: "test")
            let config = FileManager.default.temporaryDirectory.appendingPathComponent("dvid-\(ULID.make())").path
            defer { try? FileManager.default.removeItem(atPath: config) }

            // dvid login prints the link while it polls: read it from its output as it comes.
            let (lines, continuation) = AsyncStream<String>.makeStream()
            let output = Mutex("")
            let terminal = Terminal(out: { text in output.withLock { $0 += text + "\n" }; continuation.yield(text) }, err: { _ in })
            let login = Task {
                await Terminal.$current.withValue(terminal) {
                    await DVCLI.run(DVIDCommand.self, arguments: ["login", "--server", server.baseURL, "--config-dir", config])
                }
            }
            var link: String?
            for await text in lines {
                link = text.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }
                    .first { $0.hasPrefix(server.baseURL + "/v1/identity/device/verify?user_code=") }
                if link != nil { break }
            }
            let verification = try #require(link, "dvid login printed the verification link")
            let done = try await browser.approve(verification, as: subject, serverURL: server.baseURL)
            #expect(done.status == 200)
            #expect(done.body.contains("user:\(subject)"))
            #expect(done.body.contains("dv-admins"))
            #expect(await login.value == 0)
            continuation.finish()
            #expect(output.withLock { $0 }.contains("logged in to \(server.baseURL) as user:\(subject)"))

            // The saved session works for dv: create and list (platform-admin only through the group binding).
            func dvSession(_ arguments: String...) async -> (code: Int32, out: String, err: String) {
                await run(DVCommand.self, arguments + ["--server", server.baseURL, "--config-dir", config])
            }
            let created = await dvSession("tenant", "create", "sso-made")
            #expect(created.code == 0, "\(created.err)")
            let listed = await dvSession("tenant", "list", "-o", "json")
            #expect(listed.out.contains("sso-made"))
            let whoami = await run(DVIDCommand.self, ["whoami", "--server", server.baseURL, "--config-dir", config])
            #expect(whoami.out.contains("user:\(subject)"))
            #expect(whoami.out.contains("platform-admin"))
            let audit = try await server.client.listAudit(query: .init(actor: "user:\(subject)")).ok.body.json.items
            #expect(audit.map(\.action).contains("identity.login"))
            #expect(audit.map(\.action).contains("tenant.create"))

            // Unbinding the group takes the role away from the session (after the verification cache expires).
            let binding = try #require(try await server.identity.allBindings(subject: "group:dv-admins").first)
            try await server.identity.unbind(binding.id)
            #expect(await dvSession("tenant", "create", "not-any-more").code == 1)
        } }
    }

    @Test("the device-code grant: pending, slow-down, denied, used once, unknown, expired")
    func grantStates() async throws {
        // Device-login time stands still unless the test moves it: "too fast" does not depend on the machine's load.
        let time = ManualTime()
        try await withSSOServer(pollInterval: .seconds(2), now: time.source) { server in try await Browser.with { browser in
            func poll(_ code: String) async throws -> (status: Int, headers: [String: String], body: String) {
                try await server.raw(.POST, "/v1/identity/token", body: #"{"grantType": "device_code", "token": "\#(code)"}"#,
                                     headers: ["Authorization": ""])
            }
            func start() async throws -> [String: Any] {
                let response = try await server.raw(.POST, "/v1/identity/device", headers: ["Authorization": ""], contentType: nil)
                #expect(response.status == 200)
                return try #require(try JSONSerialization.jsonObject(with: Data(response.body.utf8)) as? [String: Any])
            }
            let first = try await start()
            let deviceCode = try #require(first["deviceCode"] as? String)
            #expect((first["interval"] as? Int) == 2)
            #expect((first["userCode"] as? String)?.count == 9)

            let pending = try await poll(deviceCode)
            #expect(pending.status == 400)
            #expect(try server.problem(pending)["type"] as? String == "https://dataverket.dev/problems/authorization-pending")
            let tooFast = try await poll(deviceCode)
            #expect(try server.problem(tooFast)["type"] as? String == "https://dataverket.dev/problems/slow-down")

            // The person denies at the provider: the page says so. The mock leaves the state off its error
            // response, so that login stays pending; a provider that sends it back (as RFC 6749 asks) ends it.
            let denied = try await browser.approve(try #require(first["verificationUriComplete"] as? String), as: nil, serverURL: server.baseURL)
            #expect(denied.status == 400)
            #expect(denied.body.contains("refused the login: access_denied"))
            let state = try #require(URLComponents(string: denied.authorize)?.queryItems?.first { $0.name == "state" }?.value)
            let refusedPage = try await browser.get(server.baseURL + "/v1/identity/device/callback?error=access_denied&state=\(state)")
            #expect(refusedPage.status == 400)
            let replay = try await browser.get(server.baseURL + "/v1/identity/device/callback?code=x&state=\(state)")
            #expect(replay.status == 404, "a finished login's state is not accepted again")
            time.advance(.seconds(7))
            let refused = try await poll(deviceCode)
            #expect(try server.problem(refused)["type"] as? String == "https://dataverket.dev/problems/access-denied")
            #expect(try server.problem(refused)["detail"] as? String == "the identity provider refused the login: access_denied")

            // Approved: the session comes exactly once.
            let second = try await start()
            let secondCode = try #require(second["deviceCode"] as? String)
            let approved = try await browser.approve(try #require(second["verificationUriComplete"] as? String), as: "bob", serverURL: server.baseURL)
            #expect(approved.status == 200)
            time.advance(.seconds(2))
            let tokens = try await poll(secondCode)
            #expect(tokens.status == 200, "\(tokens.body)")
            let session = try #require(try JSONSerialization.jsonObject(with: Data(tokens.body.utf8)) as? [String: Any])
            #expect(session["subject"] as? String == "user:bob")
            #expect((session["refreshToken"] as? String)?.hasPrefix("dvr_") == true)
            time.advance(.seconds(2))
            let again = try await poll(secondCode)
            #expect(try server.problem(again)["type"] as? String == "https://dataverket.dev/problems/expired-token")
            let unknown = try await poll("dvd_not-a-code")
            #expect(try server.problem(unknown)["type"] as? String == "https://dataverket.dev/problems/expired-token")
        } }
    }

    @Test("device codes expire")
    func expiry() async throws {
        let time = ManualTime()
        try await withSSOServer(pollInterval: .seconds(1), deviceCodeLifetime: .seconds(1), now: time.source) { server in
            let started = try await server.client(token: nil).startDeviceAuthorization().ok.body.json
            time.advance(.milliseconds(1500))
            let response = try await server.raw(.POST, "/v1/identity/token",
                                                body: #"{"grantType": "device_code", "token": "\#(started.deviceCode)"}"#,
                                                headers: ["Authorization": ""])
            #expect(try server.problem(response)["type"] as? String == "https://dataverket.dev/problems/expired-token")
            let page = try await server.raw(.GET, "/v1/identity/device/verify?user_code=\(started.userCode)", headers: ["Authorization": ""],
                                            contentType: nil)
            #expect(page.status == 400)
            #expect(page.body.contains("expired"))
        }
    }

    @Test("verification pages: bad, unknown and used codes, forged callbacks, HTML escaped, not frameable")
    func pages() async throws {
        try await withSSOServer { server in
            func page(_ method: NIOHTTP1.HTTPMethod, _ path: String, form: String? = nil) async throws -> (status: Int, headers: [String: String], body: String) {
                try await server.raw(method, path, body: form, headers: ["Authorization": ""],
                                     contentType: form == nil ? nil : "application/x-www-form-urlencoded")
            }
            let entry = try await page(.GET, "/v1/identity/device/verify")
            #expect(entry.status == 200)
            #expect(entry.headers["content-type"]?.hasPrefix("text/html") == true)
            #expect(entry.headers["x-frame-options"] == "DENY")
            #expect(entry.headers["content-security-policy"]?.contains("frame-ancestors 'none'") == true)
            #expect(entry.headers["cache-control"] == "no-store")

            let malformed = try await page(.GET, "/v1/identity/device/verify?user_code=%3Cscript%3E")
            #expect(malformed.status == 422)
            #expect(!malformed.body.contains("<script>"))
            #expect(malformed.body.contains("&lt;script&gt;"))
            let unknown = try await page(.POST, "/v1/identity/device/verify", form: "user_code=BCDF-GHJK")
            #expect(unknown.status == 404)
            #expect(unknown.body.contains("no login is waiting"))
            let tooLong = try await page(.POST, "/v1/identity/device/verify", form: "user_code=" + String(repeating: "B", count: 64))
            #expect(tooLong.status >= 400 && tooLong.status < 500)

            let forged = try await page(.GET, "/v1/identity/device/callback?code=abc&state=forged")
            #expect(forged.status == 404)
            let noState = try await page(.GET, "/v1/identity/device/callback?code=abc")
            #expect(noState.status == 422)

            // A JSON body where the form is expected, and a form where JSON is expected, are refused.
            let wrongType = try await server.raw(.POST, "/v1/identity/token", body: "grantType=device_code&token=x",
                                                 headers: ["Authorization": ""], contentType: "application/x-www-form-urlencoded")
            #expect(wrongType.status == 415)
        }
    }

    @Test("without a configured provider, device login is 404 not-configured naming the settings (not a server fault); discovery does not offer it")
    func notConfigured() async throws {
        try await withServer(.sqlite) { server in
            let response = try await server.raw(.POST, "/v1/identity/device", headers: ["Authorization": ""], contentType: nil)
            #expect(response.status == 404)
            let problem = try server.problem(response)
            #expect(problem["type"] as? String == "https://dataverket.dev/problems/not-configured")
            #expect((problem["detail"] as? String ?? "").contains("DV_OIDC_ISSUER"), "\(response.body)")
            // The browser pages answer 404 too (as HTML), never 503: no such code, and no provider to return from.
            let verify = try await server.raw(.GET, "/v1/identity/device/verify?user_code=BCDF-GHJK", headers: ["Authorization": ""], contentType: nil)
            #expect(verify.status == 404, "\(verify.status) \(verify.body)")
            let callback = try await server.raw(.GET, "/v1/identity/device/callback?code=x&state=y", headers: ["Authorization": ""], contentType: nil)
            #expect(callback.status == 404 && callback.body.contains("single sign-on is not configured"), "\(callback.status) \(callback.body)")
            let discovery = try await server.client(token: nil).getOpenIDConfiguration().ok.body.json
            #expect(discovery.deviceAuthorizationEndpoint == nil)
            #expect(!discovery.grantTypesSupported.contains("device_code"))
            let login = await run(DVIDCommand.self, ["login", "--server", server.baseURL, "--config-dir", "/nonexistent-dv"])
            #expect(login.code == 1)
            #expect(login.err.contains("single sign-on is not configured"))
        }
    }
}

/// ID-token verification without a provider: tokens signed here, keys installed directly.
@Suite("upstream ID token verification")
struct UpstreamIDTokenTests {
    static let issuer = "https://idp.example.test"
    static let client = "dataverket"

    struct Claims: JWTPayload {
        var iss: IssuerClaim
        var sub: SubjectClaim
        var aud: AudienceClaim
        var exp: ExpirationClaim
        var iat: IssuedAtClaim
        var nonce: String?
        var azp: String?
        var email: String?
        var groups: [String]?
        func verify(using algorithm: some JWTAlgorithm) async throws {}
    }

    func claims(iss: String = issuer, sub: String = "alice", aud: [String] = [client], expiresIn: TimeInterval = 300,
                issuedIn: TimeInterval = 0, nonce: String? = "n-1", azp: String? = nil, groups: [String]? = ["ops"]) -> Claims {
        Claims(iss: .init(value: iss), sub: .init(value: sub), aud: .init(value: aud), exp: .init(value: Date().addingTimeInterval(expiresIn)),
               iat: .init(value: Date().addingTimeInterval(issuedIn)), nonce: nonce, azp: azp, email: "alice@example.test", groups: groups)
    }

    /// A verifier trusting `key` as kid `k1`, and a signer with `signingKey` (default: the same key).
    func verifier(provider: UpstreamIdentityProvider = .init(issuer: issuer, clientID: client)) async -> (UpstreamOIDC, ES256PrivateKey) {
        let key = ES256PrivateKey()
        let keys = JWTKeyCollection()
        await keys.add(ecdsa: key.publicKey, kid: "k1")
        let upstream = UpstreamOIDC(configuration: provider, http: .shared)
        await upstream.install(keys: keys)
        return (upstream, key)
    }

    func sign(_ claims: Claims, with key: ES256PrivateKey, kid: String = "k1") async throws -> String {
        let signer = JWTKeyCollection()
        await signer.add(ecdsa: key, kid: JWKIdentifier(string: kid))
        return try await signer.sign(claims, kid: JWKIdentifier(string: kid))
    }

    func refusal(_ upstream: UpstreamOIDC, _ token: String, nonce: String = "n-1") async -> String? {
        do {
            _ = try await upstream.verify(idToken: token, nonce: nonce)
            return nil
        } catch let error as DataverketError {
            #expect(error.code == .accessDenied)
            return error.message
        } catch {
            return "\(error)"
        }
    }

    @Test("a valid token maps to user: and group: subjects")
    func valid() async throws {
        let (upstream, key) = await verifier()
        let identity = try await upstream.verify(idToken: try await sign(claims(groups: ["ops", "bad group!", "ops"]), with: key), nonce: "n-1")
        #expect(identity.subject == "user:alice")
        #expect(identity.groups == ["ops"], "invalid names dropped, duplicates folded")
        #expect(identity.email == "alice@example.test")
    }

    @Test("refused: wrong issuer, wrong audience, several audiences without azp, expired, future, nonce, signature, alg")
    func refused() async throws {
        let (upstream, key) = await verifier()
        #expect(await refusal(upstream, try await sign(claims(iss: "https://evil.example.test"), with: key))?.contains("issued by") == true)
        #expect(await refusal(upstream, try await sign(claims(aud: ["someone-else"]), with: key))?.contains("not for client") == true)
        #expect(await refusal(upstream, try await sign(claims(aud: [Self.client, "other"]), with: key))?.contains("authorized party") == true)
        #expect(await refusal(upstream, try await sign(claims(aud: [Self.client, "other"], azp: Self.client), with: key)) == nil)
        #expect(await refusal(upstream, try await sign(claims(expiresIn: -120), with: key))?.contains("expired") == true)
        #expect(await refusal(upstream, try await sign(claims(expiresIn: -30), with: key)) == nil, "within the clock-skew leeway")
        #expect(await refusal(upstream, try await sign(claims(issuedIn: 600), with: key))?.contains("future") == true)
        #expect(await refusal(upstream, try await sign(claims(), with: key), nonce: "n-2")?.contains("nonce") == true)
        #expect(await refusal(upstream, try await sign(claims(nonce: nil), with: key))?.contains("nonce") == true)
        #expect(await refusal(upstream, try await sign(claims(), with: ES256PrivateKey()))?.contains("signature") == true)
        #expect(await refusal(upstream, try await sign(claims(), with: ES256PrivateKey(), kid: "k-unknown"))?.contains("signature") == true)
        // Tampered payload: same header and signature, a different subject.
        let token = try await sign(claims(), with: key)
        let parts = token.split(separator: ".").map(String.init)
        let forged = UpstreamOIDC.base64URL(Data(#"{"iss":"\#(Self.issuer)","sub":"admin","aud":["\#(Self.client)"],"exp":9999999999,"nonce":"n-1"}"#.utf8))
        #expect(await refusal(upstream, [parts[0], forged, parts[2]].joined(separator: "."))?.contains("signature") == true)
        // Unsigned (alg none) and symmetric tokens are refused before any key is consulted.
        let none = UpstreamOIDC.base64URL(Data(#"{"alg":"none","typ":"JWT"}"#.utf8))
        #expect(await refusal(upstream, [none, parts[1], ""].joined(separator: "."))?.contains("accepted algorithm") == true)
        let hs = UpstreamOIDC.base64URL(Data(#"{"alg":"HS256","typ":"JWT","kid":"k1"}"#.utf8))
        #expect(await refusal(upstream, [hs, parts[1], parts[2]].joined(separator: "."))?.contains("accepted algorithm") == true)
        #expect(await refusal(upstream, "not-a-jwt")?.isEmpty == false)
    }

    @Test("username and groups claims are configurable; an object claim counts its keys (ZITADEL roles)")
    func claimMapping() async throws {
        var provider = UpstreamIdentityProvider(issuer: Self.issuer, clientID: Self.client)
        provider.usernameClaim = "email"
        provider.groupsClaim = "urn:zitadel:iam:org:project:roles"
        let upstream = UpstreamOIDC(configuration: provider, http: .shared)
        let mapped = try await upstream.map(payload: ["email": "alice@example.test",
                                                      "urn:zitadel:iam:org:project:roles": ["dv-admins": ["org": "x"], "viewers": ["org": "x"]]],
                                            upstreamSubject: "2318")
        #expect(mapped.subject == "user:alice@example.test")
        #expect(mapped.groups == ["dv-admins", "viewers"])
        await #expect(throws: DataverketError.self) {
            try await upstream.map(payload: ["sub": "x"], upstreamSubject: "x")
        }
        await #expect(throws: DataverketError.self) {
            try await upstream.map(payload: ["email": "has space@example.test"], upstreamSubject: "x")
        }
    }
}
