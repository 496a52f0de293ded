import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOCore
import Storage
import SwitchyardCore
import TestSupport
import Testing

@testable import ControlPlane
@testable import DataPlane

/// The admin API's roles, and tenant isolation over every endpoint: the cases are generated from
/// `AdminEndpoint.all`, so an endpoint added there is covered here without touching this file.
@Suite struct AdminAPITests {
    static let bootstrapKey = "sy-admin-bootstrap"
    static let yaml =
        TestGateway.configurationYAML.replacingOccurrences(
            of: "  - name: acme\n", with: "  - name: acme\n    projects: [web]\n")
            + """

            admin:
              key_env: TEST_ADMIN_KEY
            budgets:
              - { name: globex-monthly, scope: "tenant:globex", limit: "10" }
              - { name: acme-monthly, scope: "tenant:acme", limit: "10" }
            """

    struct Setup {
        var test: TestGateway
        var acmeAdmin: String
        var acmeViewer: String
        var globalViewer: String
        var globexKeyID: String
        var acmeKeyID: String
    }

    static func setup(_ engine: TestEngine = .sqlite) async throws -> Setup {
        let test = try await TestGateway.make(yaml: yaml, environment: ["TEST_ADMIN_KEY": bootstrapKey], engine: engine) { _ in
            ReplayTransport.respond([Recorded.llamaCompletion])
        }
        func issue(_ role: AdminRole, _ tenant: String?) async throws -> String {
            let (secret, record) = AdminKeyFormat.issue(role: role, tenant: tenant)
            try await test.store.insertAdminKey(record)
            return secret
        }
        let globexKeyID = try #require(try await test.store.keys(tenant: "globex").first?.id)
        let acmeKeyID = try #require(try await test.store.keys(tenant: "acme").first?.id)
        // Something of globex's in every place an endpoint could leak it from.
        try await test.store.appendAudit([
            AuditEntry(principal: "cli", action: "key.create", target: "key:\(globexKeyID)", tenant: "globex")
        ])
        try await test.store.engageKillSwitch(
            KillSwitch(scope: .agent(tenant: "globex", agent: "night"), reason: "globex-private-reason", engagedBy: "cli"),
            principal: "cli")
        test.gateway.governor.kills.replaceAll(try await test.store.killSwitches())
        let now = UnixMicros.now()
        try await test.store.insertUsage([
            UsageRecord(
                id: "globex-run-record", startedAt: now, finishedAt: now, tenant: "globex", agent: nil, keyID: globexKeyID,
                endpoint: "chat.completions", route: "chat", deployment: nil, provider: nil, upstreamModel: nil,
                streamed: false, usage: .none, cost: Money.zero("USD"), latencyMicros: 1, timeToFirstTokenMicros: nil,
                status: 200, errorClass: nil, tags: [:], run: "globex-private-run")
        ])
        return Setup(
            test: test, acmeAdmin: try await issue(.tenantAdmin, "acme"), acmeViewer: try await issue(.viewer, "acme"),
            globalViewer: try await issue(.viewer, nil), globexKeyID: globexKeyID, acmeKeyID: acmeKeyID)
    }

    /// A concrete call of `endpoint` for `tenant`: path parameters filled, a valid body or query for writes.
    static func call(_ endpoint: AdminEndpoint, tenant: String, key: String) -> (uri: String, body: String?) {
        var uri = endpoint.path.replacingOccurrences(of: "{tenant}", with: tenant)
            .replacingOccurrences(of: "{key}", with: key).replacingOccurrences(of: "{kind}", with: "cost")
            .replacingOccurrences(of: "{project}", with: "web").replacingOccurrences(of: "{name}", with: "globex-monthly")
            .replacingOccurrences(of: "{run}", with: "globex-private-run")
            .replacingOccurrences(of: "{incident}", with: "inc_globex")
        var body: String?
        switch (endpoint.method, endpoint.path.hasSuffix("kill-switches")) {
        case (.post, true): body = #"{"scope":"agent:\#(tenant)/intruder","reason":"test"}"#
        case (.delete, true): uri += "?scope=agent:\(tenant)/night"
        case (.post, false): body = #"{"agent":"intruder"}"#
        default: break
        }
        return (uri, body)
    }

    func execute(
        _ client: LiveClient, _ method: HTTPRequest.Method, _ uri: String, credential: String, body: String? = nil
    ) async throws -> (HTTPResponse.Status, String) {
        try await client.execute(
            uri: uri, method: method, headers: [.authorization: "Bearer \(credential)"], body: body.map { ByteBuffer(string: $0) }
        ) { ($0.status, String(buffer: $0.body)) }
    }

    @Test(arguments: TestEngine.available) func noTenantCredentialReachesAnotherTenantThroughAnyEndpoint(_ engine: TestEngine)
        async throws
    {
        let setup = try await Self.setup(engine)
        let test = setup.test
        let keysBefore = try await test.store.keys(tenant: "globex")
        let governanceBefore = try await test.store.governanceState()
        try await test.gateway.withLiveServer { client in
            for endpoint in AdminEndpoint.all {
                let (uri, body) = Self.call(endpoint, tenant: "globex", key: setup.globexKeyID)
                let absent = Self.call(endpoint, tenant: "no-such-tenant", key: setup.globexKeyID)
                for credential in [setup.acmeAdmin, setup.acmeViewer] {
                    let (status, text) = try await execute(client, endpoint.method, uri, credential: credential, body: body)
                    if endpoint.tenantScoped {
                        // Exactly what a tenant that does not exist gets: nothing tells that globex does.
                        #expect(status == .notFound, "\(endpoint.method) \(uri) answered \(status)")
                        let (absentStatus, absentText) = try await execute(
                            client, endpoint.method, absent.uri, credential: credential, body: absent.body)
                        #expect(absentStatus == status, "\(endpoint.method) \(absent.uri) answered \(absentStatus)")
                        #expect(absentText == text, "\(endpoint.method) \(uri): \(text) but \(absentText) for an absent tenant")
                    } else if endpoint.gatewayWide {
                        #expect(status == .forbidden, "\(endpoint.method) \(uri) answered \(status)")
                    } else {
                        // Lists across tenants answer, with the caller's tenant only.
                        #expect(!text.contains("globex"), "\(endpoint.method) \(uri) showed globex")
                    }
                    #expect(!text.contains(setup.globexKeyID), "\(endpoint.method) \(uri) leaked a globex key id")
                    #expect(!text.contains("globex-private-reason"), "\(endpoint.method) \(uri) leaked a kill switch")
                    #expect(!text.contains("globex-monthly"), "\(endpoint.method) \(uri) leaked a budget")
                    #expect(!text.contains("globex-private-run"), "\(endpoint.method) \(uri) leaked a run")
                }
                // Data-plane keys are not admin credentials at all.
                let (status, _) = try await execute(client, endpoint.method, uri, credential: test.acmeKey, body: body)
                #expect(status == .unauthorized, "\(endpoint.method) \(uri) with a data-plane key answered \(status)")
            }
        }
        #expect(try await test.store.keys(tenant: "globex") == keysBefore)
        #expect(try await test.store.governanceState() == governanceBefore)
        #expect(try await test.store.killSwitches().map(\.scope) == [.agent(tenant: "globex", agent: "night")])
        #expect(try await test.auditEntries().allSatisfy { !$0.principal.hasPrefix("admin-key:") })
    }

    @Test(arguments: TestEngine.available) func aTenantAdminManagesItsOwnTenantAndAViewerOnlyReads(_ engine: TestEngine)
        async throws
    {
        let setup = try await Self.setup(engine)
        let test = setup.test
        try await test.gateway.withLiveServer { client in
            let (listed, keys) = try await execute(client, .get, "/admin/v1/tenants/acme/keys", credential: setup.acmeAdmin)
            #expect(listed == .ok)
            #expect(keys.contains(setup.acmeKeyID) && !keys.contains(setup.globexKeyID))
            let (tenantsStatus, tenants) = try await execute(client, .get, "/admin/v1/tenants", credential: setup.acmeViewer)
            #expect(tenantsStatus == .ok)
            #expect(tenants == #"[{"name":"acme","projects":["web"],"allowed_routes":null,"weight":1}]"#)

            let (created, issued) = try await execute(
                client, .post, "/admin/v1/tenants/acme/keys", credential: setup.acmeAdmin,
                body: #"{"project":"web","agent":"checkout"}"#)
            #expect(created == .created)
            let object = try JSONSerialization.jsonObject(with: Data(issued.utf8)) as? [String: Any]
            let newKey = try #require(object?["key"] as? String)
            let newID = try #require(object?["id"] as? String)
            #expect(object?["project"] as? String == "web")
            #expect(
                try await execute(
                    client, .post, "/admin/v1/tenants/acme/keys", credential: setup.acmeAdmin, body: #"{"project":"shop"}"#
                ).0
                    == .badRequest)
            #expect(
                try await execute(client, .post, "/admin/v1/tenants/acme/keys", credential: setup.acmeViewer, body: "{}").0
                    == .forbidden)

            // The new key works on the data plane, then stops once revoked.
            let chat = #"{"model":"chat","messages":[{"role":"user","content":"Hi"}]}"#
            let (served, _) = try await client.execute(
                uri: "/v1/chat/completions", method: .post, headers: [.authorization: "Bearer \(newKey)"],
                body: ByteBuffer(string: chat)
            ) { ($0.status, 0) }
            #expect(served == .ok)
            let (revoked, revokedBody) = try await execute(
                client, .delete, "/admin/v1/tenants/acme/keys/\(newID)", credential: setup.acmeAdmin)
            #expect(revoked == .ok && revokedBody.contains(#""state":"revoked""#))

            let (budgetStatus, budgets) = try await execute(
                client, .get, "/admin/v1/tenants/acme/budgets", credential: setup.acmeViewer)
            #expect(budgetStatus == .ok && budgets.contains("acme-monthly") && !budgets.contains("globex-monthly"))
            let (_, audit) = try await execute(client, .get, "/admin/v1/tenants/acme/audit", credential: setup.acmeViewer)
            #expect(audit.contains("key.create") && audit.contains("key.revoke") && !audit.contains(setup.globexKeyID))
            #expect(!audit.contains(newKey))

            // Gateway-wide endpoints: only unbound credentials.
            #expect(try await execute(client, .get, "/admin/v1/kill-switches", credential: setup.acmeAdmin).0 == .forbidden)
            #expect(try await execute(client, .get, "/admin/v1/kill-switches", credential: setup.globalViewer).0 == .ok)
            #expect(
                try await execute(
                    client, .post, "/admin/v1/kill-switches", credential: setup.globalViewer,
                    body: #"{"scope":"tenant:acme","reason":"x"}"#
                ).0 == .forbidden)
            #expect(try await execute(client, .get, "/admin/v1/reports/cost", credential: Self.bootstrapKey).0 == .ok)
        }
        let actions = try await test.store.auditEntries(tenant: "acme").map(\.action)
        #expect(actions.suffix(2) == ["key.create", "key.revoke"])
        #expect(try await test.store.auditEntries(tenant: "acme").last?.principal.hasPrefix("admin-key:") == true)
    }

    /// Scopes in a body or query under the caller's own path: another tenant's and an absent one's answer alike.
    @Test func aScopeOfAnotherTenantAnswersLikeOneOfNoTenant() async throws {
        let setup = try await Self.setup()
        try await setup.test.gateway.withLiveServer { client in
            let path = "/admin/v1/tenants/acme/kill-switches"
            for credential in [setup.acmeAdmin, Self.bootstrapKey] {
                var answers: [String: [String]] = [:]
                for tenant in ["globex", "no-such-tenant"] {
                    for scope in ["tenant:\(tenant)", "agent:\(tenant)/night"] {
                        let (engaged, engagedText) = try await execute(
                            client, .post, path, credential: credential, body: #"{"scope":"\#(scope)","reason":"x"}"#)
                        let (released, releasedText) = try await execute(
                            client, .delete, path + "?scope=" + scope, credential: credential)
                        #expect(engaged == .badRequest && released == .notFound, "\(scope): \(engaged), \(released)")
                        answers[tenant, default: []] += [engagedText, releasedText]
                    }
                }
                #expect(answers["globex"] == answers["no-such-tenant"])
                #expect(answers["globex"]?.allSatisfy { !$0.contains("globex") && !$0.contains("no-such-tenant") } == true)
            }
        }
        #expect(try await setup.test.store.killSwitches().map(\.scope) == [.agent(tenant: "globex", agent: "night")])
    }

    @Test func aRevokedAdminKeyIsRefused() async throws {
        let setup = try await Self.setup()
        let id = try #require(AdminKeyFormat.keyID(of: setup.acmeAdmin))
        #expect(try await setup.test.store.revokeAdminKey(id: id))
        try await setup.test.gateway.withLiveServer { client in
            let (status, _) = try await execute(client, .get, "/admin/v1/tenants", credential: setup.acmeAdmin)
            #expect(status == .unauthorized)
        }
    }

    @Test func theOpenAPIDocumentDescribesEveryEndpoint() async throws {
        let setup = try await Self.setup()
        try await setup.test.gateway.withLiveServer { client in
            try await client.execute(uri: "/admin/v1/openapi.json", method: .get) { response in
                #expect(response.status == .ok)
                let document = try #require(try JSONSerialization.jsonObject(with: Data(buffer: response.body)) as? [String: Any])
                #expect(document["openapi"] as? String == "3.1.0")
                let paths = try #require(document["paths"] as? [String: [String: Any]])
                for endpoint in AdminEndpoint.all {
                    #expect(paths[endpoint.path]?[endpoint.method.rawValue.lowercased()] != nil, "\(endpoint.path) missing")
                }
            }
        }
    }
}
