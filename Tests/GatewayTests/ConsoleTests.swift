import HTTPTypes
import NIOCore
import SwitchyardCore
import TestSupport
import Testing

@testable import ControlPlane
@testable import DataPlane

/// The console through the server production runs: sign-in, sessions, CSRF, and tenant isolation
/// over every page (generated from `ConsoleLayout.Section.allCases`, so a page added there is
/// covered here). The seeded globex data is `AdminAPITests.setup`'s.
@Suite struct ConsoleTests {
    /// A signed-in browser: its session cookie and the CSRF token its pages carry.
    struct Session {
        var cookie: String
        var csrf: String
    }

    static func encode(_ text: String) -> String { ConsoleAdminClient.encode(text) }

    static func cookie(named name: String, in response: ServedResponse) -> String? {
        for value in response.headers[values: .setCookie] where value.hasPrefix(name + "=") {
            return String(value.dropFirst(name.count + 1).prefix { $0 != ";" })
        }
        return nil
    }

    static func csrf(in body: String) -> String? {
        guard let range = body.range(of: #"name="csrf" value=""#) else { return nil }
        return String(body[range.upperBound...].prefix { $0 != "\"" })
    }

    func signIn(_ client: LiveClient, key: String, headers extra: HTTPFields = [:]) async throws -> (ServedResponse, Session?) {
        let form = try await client.execute(uri: "/console/login", method: .get)
        let token = try #require(Self.cookie(named: "switchyard_console_login", in: form))
        #expect(Self.csrf(in: String(buffer: form.body)) == token)
        var headers: HTTPFields = [
            .cookie: "switchyard_console_login=\(token)", .contentType: "application/x-www-form-urlencoded",
        ]
        headers.append(contentsOf: extra)
        let answer = try await client.execute(
            uri: "/console/login", method: .post, headers: headers,
            body: ByteBuffer(string: "csrf=\(token)&key=\(Self.encode(key))"))
        guard let session = Self.cookie(named: "switchyard_console", in: answer) else { return (answer, nil) }
        let page = try await get(client, "/console", Session(cookie: session, csrf: ""))
        return (answer, Session(cookie: session, csrf: Self.csrf(in: String(buffer: page.body)) ?? ""))
    }

    func get(_ client: LiveClient, _ uri: String, _ session: Session) async throws -> ServedResponse {
        try await client.execute(uri: uri, method: .get, headers: [.cookie: "switchyard_console=\(session.cookie)"])
    }

    func post(_ client: LiveClient, _ uri: String, _ session: Session, _ form: String) async throws -> ServedResponse {
        try await client.execute(
            uri: uri, method: .post,
            headers: [.cookie: "switchyard_console=\(session.cookie)", .contentType: "application/x-www-form-urlencoded"],
            body: ByteBuffer(string: form))
    }

    @Test func signInNeedsAnAdminKeyInForceAndTheFormsToken() async throws {
        let setup = try await AdminAPITests.setup()
        try await setup.test.gateway.withLiveServer { client in
            let (wrong, none) = try await signIn(client, key: "sya-not-a-key")
            #expect(wrong.status == .unauthorized && none == nil)
            // Without the sign-in form's own token (a cross-site form), nothing is opened.
            let forged = try await client.execute(
                uri: "/console/login", method: .post, headers: [.contentType: "application/x-www-form-urlencoded"],
                body: ByteBuffer(string: "key=\(Self.encode(AdminAPITests.bootstrapKey))"))
            #expect(forged.status == .forbidden && Self.cookie(named: "switchyard_console", in: forged) == nil)
            let (answer, session) = try await signIn(client, key: AdminAPITests.bootstrapKey)
            #expect(answer.status == .seeOther && answer.headers[.location] == "/console")
            let flags = try #require(answer.headers[values: .setCookie].first { $0.hasPrefix("switchyard_console=") })
            #expect(flags.contains("; HttpOnly") && flags.contains("; SameSite=Strict") && flags.contains("; Path=/console"))
            #expect(!flags.contains("Secure"))
            let (overTLS, _) = try await signIn(
                client, key: AdminAPITests.bootstrapKey, headers: [HTTPField.Name("X-Forwarded-Proto")!: "https"])
            #expect(
                overTLS.headers[values: .setCookie].contains { $0.hasPrefix("switchyard_console=") && $0.hasSuffix("; Secure") })
            let page = try await get(client, "/console/costs", try #require(session))
            #expect(page.status == .ok)
            let policy = try #require(page.headers[.contentSecurityPolicy])
            #expect(policy.contains("script-src 'self'") && !policy.contains("unsafe-inline"))
            #expect(page.headers[HTTPField.Name("X-Frame-Options")!] == "DENY")
            let anonymous = try await client.execute(uri: "/console/costs", method: .get)
            #expect(anonymous.status == .seeOther && anonymous.headers[.location] == "/console/login")
            // Two session cookies (one planted for a narrower path): which is meant cannot be told.
            let cookie = try #require(session).cookie
            let doubled = try await client.execute(
                uri: "/console/costs", method: .get,
                headers: [.cookie: "switchyard_console=\(cookie); switchyard_console=\(cookie)"])
            #expect(doubled.status == .seeOther)
            // A report over HTTP is bounded: hours over a year are refused.
            let wide = try await client.execute(
                uri: "/admin/v1/reports/cost?bucket=hour&since=2025-01-01&until=2026-01-01", method: .get,
                headers: [.authorization: "Bearer \(AdminAPITests.bootstrapKey)"])
            #expect(wide.status == .badRequest)
            let console = try await get(
                client, "/console/costs?bucket=hour&since=2025-01-01&until=2026-01-01", try #require(session))
            #expect(console.status == .badRequest && String(buffer: console.body).contains("at most 62 days"))
        }
    }

    /// Every page, with and without `?tenant=globex`, for acme's tenant-admin and acme's viewer:
    /// nothing of globex's shows, gateway-wide pages are not found, another tenant is "No such
    /// tenant".
    @Test(arguments: TestEngine.available) func noPageShowsATenantBoundCredentialAnotherTenant(_ engine: TestEngine)
        async throws
    {
        let setup = try await AdminAPITests.setup(engine)
        try await setup.test.gateway.withLiveServer { client in
            for key in [setup.acmeAdmin, setup.acmeViewer] {
                let session = try #require(try await signIn(client, key: key).1)
                for section in ConsoleLayout.Section.allCases {
                    for uri in [section.path, section.path + "?tenant=globex", section.path + "?tenant=acme"] {
                        let page = try await get(client, uri, session)
                        let body = String(buffer: page.body)
                        #expect(!body.contains("globex"), "\(uri)")
                        if section.gatewayWide {
                            #expect(page.status == .notFound, "\(uri)")
                        } else if uri.hasSuffix("globex"), [.keys, .runs, .audit].contains(section) {
                            #expect(page.status == .notFound && body.contains("No such tenant."), "\(uri)")
                        } else {
                            #expect(page.status == .ok, "\(uri): \(page.status)")
                        }
                    }
                }
                let csv = try await get(client, "/console/costs.csv?by=tenant", session)
                #expect(csv.status == .ok && !String(buffer: csv.body).contains("globex"))
            }
        }
    }

    @Test func formsNeedTheSessionsTokenAndAViewerChangesNothing() async throws {
        let setup = try await AdminAPITests.setup()
        let store = setup.test.store
        try await setup.test.gateway.withLiveServer { client in
            let admin = try #require(try await signIn(client, key: AdminAPITests.bootstrapKey).1)
            let acmeKeys = try await store.keys(tenant: "acme").count
            for form in ["tenant=acme&agent=forged", "tenant=acme&agent=forged&csrf=" + String(repeating: "0", count: 64)] {
                let refused = try await post(client, "/console/keys", admin, form)
                #expect(refused.status == .forbidden && String(buffer: refused.body).contains("CSRF"))
            }
            #expect(try await store.keys(tenant: "acme").count == acmeKeys)
            let issued = try await post(client, "/console/keys", admin, "tenant=acme&agent=console-bot&csrf=\(admin.csrf)")
            #expect(issued.status == .created && String(buffer: issued.body).contains("id=\"new-key-secret\">sk-"))
            #expect(try await store.keys(tenant: "acme").count == acmeKeys + 1)
            // A viewer's change is refused even with its own valid token.
            let viewer = try #require(try await signIn(client, key: setup.acmeViewer).1)
            #expect(!viewer.csrf.isEmpty)
            let keysPage = String(buffer: try await get(client, "/console/keys", viewer).body)
            #expect(!keysPage.contains("/revoke") && !keysPage.contains("create-key"))
            let byViewer = try await post(client, "/console/keys", viewer, "tenant=acme&agent=v&csrf=\(viewer.csrf)")
            #expect(byViewer.status == .forbidden)
            // A tenant-admin cannot reach another tenant's keys through a form's fields.
            let tenantAdmin = try #require(try await signIn(client, key: setup.acmeAdmin).1)
            let globexKeys = try await store.keys(tenant: "globex")
            let foreign = try await post(client, "/console/keys", tenantAdmin, "tenant=globex&agent=x&csrf=\(tenantAdmin.csrf)")
            #expect(foreign.status == .notFound)
            let revoke = try await post(
                client, "/console/keys/\(setup.globexKeyID)/revoke", tenantAdmin, "tenant=acme&csrf=\(tenantAdmin.csrf)")
            #expect(revoke.status == .notFound)
            let kill = try await post(
                client, "/console/kill-switches", tenantAdmin,
                "tenant=acme&scope=\(Self.encode("agent:globex/x"))&reason=r&csrf=\(tenantAdmin.csrf)")
            #expect(kill.status.code >= 400)
            #expect(try await store.keys(tenant: "globex") == globexKeys)
            #expect(try await store.keys(tenant: "acme").count == acmeKeys + 1)
        }
    }

    @Test func aSessionEndsWithItsAdminKeyOnSignOutAndWhenItExpires() async throws {
        let setup = try await AdminAPITests.setup()
        let store = setup.test.store
        try await setup.test.gateway.withLiveServer { client in
            let session = try #require(try await signIn(client, key: setup.acmeAdmin).1)
            #expect(try await get(client, "/console/keys", session).status == .ok)
            #expect(
                try await store.revokeAdminKey(id: try #require(AdminKeyFormat.keyID(of: setup.acmeAdmin)), auditedAs: "test"))
            #expect(try await get(client, "/console/keys", session).status == .seeOther)

            let admin = try #require(try await signIn(client, key: AdminAPITests.bootstrapKey).1)
            #expect(try await post(client, "/console/logout", admin, "csrf=\(admin.csrf)").status == .seeOther)
            #expect(try await get(client, "/console", admin).status == .seeOther)
        }
        let now = UnixMicros.now()
        let session = ConsoleSession(
            keyID: nil, role: .admin, tenant: nil, csrf: "c", createdAt: now, expiresAt: UnixMicros(now.value + 1_000_000))
        try await store.insertConsoleSession(session, tokenHash: "hash")
        #expect(try await store.consoleSession(tokenHash: "hash", at: now) == session)
        #expect(try await store.consoleSession(tokenHash: "hash", at: UnixMicros(now.value + 1_000_000)) == nil)
    }
}
