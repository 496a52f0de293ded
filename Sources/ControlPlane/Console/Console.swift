import DataPlane
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import SwitchyardCore

/// The web console at `/console`, served by `switchyard serve` from the binary: server-rendered
/// HTML with SVG charts, a stylesheet and a small script of its own, nothing from elsewhere.
///
/// Sign-in exchanges an admin key for a session cookie (`ConsoleSessions`). Every page reads,
/// and every button changes, through the admin API in process (`ConsoleAdminClient`), so the
/// console enforces the API's access table: a tenant-bound credential sees its tenant only, a
/// viewer changes nothing. Every form that changes something carries the session's CSRF token.
public final class Console: ServedRoutes {
    let api: AdminAPI
    let sessions: ConsoleSessions
    let auditVerification = AuditPage.VerificationGate()

    public init(api: AdminAPI) {
        self.api = api
        self.sessions = ConsoleSessions(store: api.store)
    }

    public var fixedRoutes: [FixedRoute] { [] }

    static let maximumFormBytes = 64 * 1024

    public func register(on router: Router<BasicRequestContext>) {
        router.get("/console/assets/console.css") { _, _ in Self.asset(ConsoleAssets.css, type: "text/css; charset=utf-8") }
        router.get("/console/assets/console.js") { _, _ in
            Self.asset(ConsoleAssets.javascript, type: "text/javascript; charset=utf-8")
        }
        router.get("/console/login") { request, _ in self.signInForm(request) }
        router.post("/console/login") { request, _ in await self.signIn(request) }
        router.post("/console/logout") { request, _ in
            await self.change(request) { viewer, _ in await self.signOut(request, viewer) }
        }
        let pages = ConsolePages(console: self)
        for section in ConsoleLayout.Section.allCases {
            router.get(RouterPath(section.path)) { request, _ in
                await self.page(request, section) { await pages.render(section, $0, request) }
            }
        }
        router.get("/console/costs/unit") { request, _ in
            await self.page(request, .costs) {
                await CostExplorerPage(viewer: $0, query: ConsolePages.query(request)).renderUnit()
            }
        }
        router.get("/console/costs.csv") { request, _ in
            await self.signedIn(request) { await pages.costsCSV($0, request) }
        }
        router.get("/console/incidents/:incident") { request, context in
            let id = context.parameters.get("incident") ?? ""
            return await self.page(request, .incidents) { await pages.incident($0, id: id) }
        }
        router.post("/console/incidents/:incident/undo") { request, context in
            let id = context.parameters.get("incident") ?? ""
            return await self.change(request) { await pages.undoIncident($0, id: id, form: $1) }
        }
        router.post("/console/keys") { request, _ in await self.change(request) { await pages.createKey($0, form: $1) } }
        router.post("/console/keys/:key/revoke") { request, context in
            let key = context.parameters.get("key") ?? ""
            return await self.change(request) { await pages.revokeKey($0, key: key, form: $1) }
        }
        router.post("/console/kill-switches") { request, _ in
            await self.change(request) { await pages.engageKillSwitch($0, form: $1) }
        }
    }

    // MARK: Sign-in

    /// The sign-in form. Its own CSRF token is a random value in a short cookie that the form
    /// must send back (no session exists yet to hold one).
    func signInForm(_ request: Request, error: String? = nil) -> Response {
        let token = ConsoleSessions.randomToken()
        let body = """
            <main id="main" class="signin"><h1>Switchyard console</h1>\(error.map(ConsoleLayout.notice) ?? "")\
            <form method="post" action="/console/login"><input type="hidden" name="csrf" value="\(token)">\
            <label for="key">Admin key</label> <input id="key" name="key" type="password" autocomplete="off" required>\
            <button type="submit">Sign in</button></form></main>
            """
        var response = Self.html(ConsoleLayout.document(title: "Sign in", body: body), status: error == nil ? .ok : .unauthorized)
        response.headers.append(
            HTTPField(
                name: .setCookie,
                value: "switchyard_console_login=\(token); Path=/console/login; Max-Age=900; HttpOnly; SameSite=Strict"
                    + (Self.overTLS(request) ? "; Secure" : "")))
        return response
    }

    func signIn(_ request: Request) async -> Response {
        let form = await Self.form(request)
        let expected = ConsoleSessions.token(
            in: request.headers[values: .cookie].joined(separator: "; "), named: "switchyard_console_login")
        guard let expected, ConsoleSessions.same(form["csrf"] ?? "", expected) else {
            return Self.forgedForm()
        }
        guard let key = form["key"], let principal = await api.adminPrincipal(presenting: key) else {
            return signInForm(request, error: "That is not an admin key that is in force.")
        }
        do {
            let (token, _) = try await sessions.open(for: principal, bootstrap: bootstrapMarker)
            var response = Self.redirect("/console")
            response.headers.append(
                HTTPField(name: .setCookie, value: ConsoleSessions.cookie(token, secure: Self.overTLS(request))))
            return response
        } catch {
            return Self.html(
                ConsoleLayout.document(
                    title: "Unavailable", body: ConsoleLayout.notice("The store could not answer; try again.")),
                status: .serviceUnavailable)
        }
    }

    func signOut(_ request: Request, _ viewer: ConsoleViewer) async -> Response {
        if let token = ConsoleSessions.token(in: request.headers[values: .cookie].joined(separator: "; ")) {
            await sessions.close(token: token)
        }
        var response = Self.redirect("/console/login")
        response.headers.append(HTTPField(name: .setCookie, value: ConsoleSessions.cookie(nil, secure: Self.overTLS(request))))
        return response
    }

    // MARK: Who is looking

    /// The signed-in viewer: a live session whose admin key (if a stored one) is still in force,
    /// with the role and tenant the key has now.
    /// A bootstrap-key session from before `admin.key_env` changed (or was unset) is none.
    /// Throws when the store cannot answer.
    func viewer(_ request: Request) async throws -> ConsoleViewer? {
        guard
            let (_, session) = try await sessions.session(
                cookieHeader: request.headers[values: .cookie].joined(separator: "; "))
        else { return nil }
        let principal: AdminPrincipal
        switch session.keyID {
        case let marker? where marker.hasPrefix("bootstrap:"):
            guard marker == bootstrapMarker else { return nil }
            principal = AdminPrincipal(role: .admin, tenant: nil, keyID: nil)
        case let keyID?:
            guard let record = try await api.store.adminKey(id: keyID), record.revokedAt == nil else { return nil }
            principal = AdminPrincipal(role: record.role, tenant: record.tenant, keyID: record.id)
        case nil:
            return nil
        }
        return ConsoleViewer(principal: principal, session: session, admin: ConsoleAdminClient(api: api, principal: principal))
    }

    var bootstrapMarker: String? { ConsoleSessions.bootstrapMarker(api.environment, variable: api.configuration.admin.keyEnv) }

    /// Runs `body` for a signed-in viewer, off the event loop; anyone else is sent to sign in.
    /// The answer says how long the server took (`Server-Timing`), which `bench/console.sh` reads.
    func signedIn(_ request: Request, _ body: @escaping @Sendable (ConsoleViewer) async -> Response) async -> Response {
        await withTaskExecutorPreference(globalConcurrentExecutor) {
            let started = ContinuousClock.now
            let signedIn: ConsoleViewer?
            do {
                signedIn = try await self.viewer(request)
            } catch {
                return Self.html(
                    ConsoleLayout.document(
                        title: "Unavailable", body: ConsoleLayout.notice("The store could not answer; try again.")),
                    status: .serviceUnavailable)
            }
            guard let viewer = signedIn else { return Self.redirect("/console/login") }
            var response = await body(viewer)
            let elapsed = ContinuousClock.now - started
            let milliseconds = Double(elapsed.components.seconds) * 1000 + Double(elapsed.components.attoseconds) / 1e15
            response.headers[Self.serverTiming] = "app;dur=" + String(format: "%.1f", milliseconds)
            return response
        }
    }

    static let serverTiming = HTTPField.Name("Server-Timing")!

    /// A page: gateway-wide sections are not found for a tenant-bound credential.
    func page(
        _ request: Request, _ section: ConsoleLayout.Section,
        _ render: @escaping @Sendable (ConsoleViewer) async -> ConsolePages.Rendered
    ) async -> Response {
        await signedIn(request) { viewer in
            guard viewer.seesGatewayWide || !section.gatewayWide else {
                return Self.html(
                    ConsoleLayout.page(
                        section, viewer: viewer, heading: "Not found", body: ConsoleLayout.notice("No such page.")),
                    status: .notFound)
            }
            let rendered = await render(viewer)
            return Self.html(
                ConsoleLayout.page(section, viewer: viewer, heading: rendered.heading, body: rendered.body),
                status: rendered.status)
        }
    }

    /// A form that changes something: it must carry the session's CSRF token, and a viewer's is
    /// refused before anything runs (the admin API would refuse it too).
    func change(
        _ request: Request, _ body: @escaping @Sendable (ConsoleViewer, [String: String]) async -> Response
    ) async -> Response {
        await signedIn(request) { viewer in
            let form = await Self.form(request)
            guard ConsoleSessions.same(form["csrf"] ?? "", viewer.session.csrf) else { return Self.forgedForm() }
            guard viewer.mayChange || request.uri.path == "/console/logout" else {
                return Self.html(
                    ConsoleLayout.page(
                        .overview, viewer: viewer, heading: "Not allowed",
                        body: ConsoleLayout.notice("A viewer may not change anything.")), status: .forbidden)
            }
            return await body(viewer, form)
        }
    }

    // MARK: Responses

    /// No script or style but the console's own, no frame, nothing fetched from elsewhere.
    static let contentSecurityPolicy =
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
        + "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

    static let referrerPolicy = HTTPField.Name("Referrer-Policy")!
    static let xFrameOptions = HTTPField.Name("X-Frame-Options")!

    static func html(_ text: String, status: HTTPResponse.Status = .ok) -> Response {
        Response(
            status: status,
            headers: [
                .contentType: "text/html; charset=utf-8", .contentSecurityPolicy: contentSecurityPolicy,
                .xContentTypeOptions: "nosniff", .cacheControl: "no-store", referrerPolicy: "no-referrer",
                xFrameOptions: "DENY",
            ],
            body: .init(byteBuffer: ByteBuffer(string: text)))
    }

    static func asset(_ text: String, type: String) -> Response {
        Response(
            status: .ok,
            headers: [.contentType: type, .xContentTypeOptions: "nosniff", .cacheControl: "max-age=300"],
            body: .init(byteBuffer: ByteBuffer(string: text)))
    }

    static func redirect(_ location: String) -> Response {
        Response(status: .seeOther, headers: [.location: location, .cacheControl: "no-store"])
    }

    static func forgedForm() -> Response {
        html(
            ConsoleLayout.document(
                title: "Refused",
                body: ConsoleLayout.notice("This form is stale or forged: its CSRF token is missing or wrong. Reload the page.")),
            status: .forbidden)
    }

    /// Whether the request reached the proxy in front of the gateway over TLS.
    static func overTLS(_ request: Request) -> Bool {
        request.headers[HTTPField.Name("X-Forwarded-Proto")!]?.lowercased() == "https"
    }

    // MARK: Forms and cookies

    /// An `application/x-www-form-urlencoded` body (at most 64 KiB), decoded.
    static func form(_ request: Request) async -> [String: String] {
        guard let buffer = try? await request.body.collect(upTo: maximumFormBytes) else { return [:] }
        return decodeForm(String(buffer: buffer))
    }

    static func decodeForm(_ text: String) -> [String: String] {
        var fields: [String: String] = [:]
        for pair in text.split(separator: "&") {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            guard let name = percentDecoded(parts[0]) else { continue }
            fields[name] = parts.count > 1 ? percentDecoded(parts[1]) ?? "" : ""
        }
        return fields
    }

    static func percentDecoded(_ text: Substring) -> String? {
        var bytes: [UInt8] = []
        var iterator = Array(text.utf8).makeIterator()
        while let byte = iterator.next() {
            switch byte {
            case UInt8(ascii: "+"): bytes.append(UInt8(ascii: " "))
            case UInt8(ascii: "%"):
                guard let high = iterator.next(), let low = iterator.next(),
                    let value = UInt8(String(decoding: [high, low], as: UTF8.self), radix: 16)
                else { return nil }
                bytes.append(value)
            default: bytes.append(byte)
            }
        }
        return String(validating: bytes, as: UTF8.self)
    }

}
