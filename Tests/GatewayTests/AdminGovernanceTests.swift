import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import SwitchyardConfig
import SwitchyardCore
import TestSupport
import Testing

@testable import ControlPlane
@testable import DataPlane

/// Admin API writes to live governance state: in force on the next request, checked like the
/// file, audited, and reported as drift against the file.
extension AdminAPITests {
    static let searchingChat =
        #"{"model":"chat","messages":[{"role":"user","content":"Hi"}],"tools":[{"type":"function","function":{"name":"search","parameters":{"type":"object"}}}]}"#

    func chat(_ client: LiveClient, key: String, body: String = searchingChat) async throws -> (
        HTTPResponse.Status, String
    ) {
        try await client.execute(
            uri: "/v1/chat/completions", method: .post, headers: [.authorization: "Bearer \(key)"],
            body: ByteBuffer(string: body)
        ) { ($0.status, String(buffer: $0.body)) }
    }

    @Test(arguments: TestEngine.available) func aPolicyWrittenThroughTheAPIIsInForceOnTheNextRequest(_ engine: TestEngine)
        async throws
    {
        let setup = try await Self.setup(engine)
        let test = setup.test
        let admin = Self.bootstrapKey
        try await test.gateway.withLiveServer { client in
            #expect(try await chat(client, key: test.acmeKey).0 == .ok)
            let policy = #"{"scope":"tenant:acme","denied_tools":["search"]}"#
            // A tenant-admin cannot loosen or tighten its own tenant's rules; only an admin can.
            #expect(
                try await execute(
                    client, .put, "/admin/v1/tenants/acme/policies/no-search", credential: setup.acmeAdmin, body: policy
                )
                .0 == .forbidden)
            let (created, stored) = try await execute(
                client, .put, "/admin/v1/tenants/acme/policies/no-search", credential: admin, body: policy)
            #expect(created == .created)
            #expect(stored == #"{"name":"no-search","scope":"tenant:acme","denied_tools":["search"]}"#)

            let (refused, error) = try await chat(client, key: test.acmeKey)
            #expect(refused == .forbidden)
            #expect(error.contains("no-search"))
            #expect(try await chat(client, key: test.globexKey).0 == .ok)

            let (listed, policies) = try await execute(
                client, .get, "/admin/v1/tenants/acme/policies", credential: setup.acmeViewer)
            #expect(listed == .ok && policies.contains(#""name":"no-search""#))

            let (deleted, _) = try await execute(
                client, .delete, "/admin/v1/tenants/acme/policies/no-search", credential: admin)
            #expect(deleted == .ok)
            #expect(try await chat(client, key: test.acmeKey).0 == .ok)
        }
        let entries = try await test.auditEntries().filter { $0.target == "policy:no-search" }
        #expect(entries.map(\.action) == ["policy.create", "policy.delete"])
        #expect(entries.allSatisfy { $0.principal == "admin" && $0.tenant == "acme" })
        #expect(try await test.store.verifyAudit().firstBreak == nil)
    }

    @Test func writesAreCheckedLikeTheFileAndStayWithinTheirTenant() async throws {
        let setup = try await Self.setup()
        let test = setup.test
        let admin = Self.bootstrapKey
        let before = try await test.store.governanceState()
        try await test.gateway.withLiveServer { client in
            let (invalid, message) = try await execute(
                client, .put, "/admin/v1/tenants/acme/policies/bad", credential: admin,
                body: #"{"scope":"tenant:acme","max_input_tokens":0}"#)
            #expect(invalid == .badRequest)
            #expect(message.contains("policies[bad].max_input_tokens"))
            let (unknown, unknownMessage) = try await execute(
                client, .put, "/admin/v1/tenants/acme/budgets/b", credential: admin,
                body: #"{"scope":"tenant:acme","limit":"5","perid":"day"}"#)
            #expect(unknown == .badRequest && unknownMessage.contains("unknown key 'perid'"))
            // Another tenant's scope under acme's path, and another tenant's budget by name.
            #expect(
                try await execute(
                    client, .put, "/admin/v1/tenants/acme/budgets/b", credential: admin,
                    body: #"{"scope":"tenant:globex","limit":"5"}"#
                ).0 == .badRequest)
            #expect(
                try await execute(
                    client, .put, "/admin/v1/tenants/acme/budgets/globex-monthly", credential: admin,
                    body: #"{"scope":"tenant:acme","limit":"5"}"#
                ).0 == .notFound)
            #expect(
                try await execute(client, .delete, "/admin/v1/tenants/acme/budgets/globex-monthly", credential: admin).0
                    == .notFound)
            #expect(
                try await execute(client, .put, "/admin/v1/tenants/acme/policies/x", credential: admin, body: "[1]").0
                    == .badRequest)
            #expect(
                try await execute(
                    client, .put, "/admin/v1/tenants/acme/policies/x", credential: admin,
                    body: #"{"name":"y","scope":"tenant:acme"}"#
                ).0 == .badRequest)
        }
        #expect(try await test.store.governanceState() == before)
    }

    @Test(arguments: TestEngine.available) func tenantsAndProjectsAreCreatedAndRemovedOnlyWhenNothingNamesThem(
        _ engine: TestEngine
    ) async throws {
        let setup = try await Self.setup(engine)
        let test = setup.test
        let admin = Self.bootstrapKey
        try await test.gateway.withLiveServer { client in
            let (created, tenant) = try await execute(
                client, .put, "/admin/v1/tenants/initech", credential: admin, body: #"{"projects":["labs"],"weight":2}"#)
            #expect(created == .created)
            #expect(tenant == #"{"name":"initech","projects":["labs"],"weight":2}"#)
            #expect(test.gateway.tenants["initech"]?.weight == 2)
            // Another tenant's path, to a credential bound to acme: as if initech did not exist.
            #expect(
                try await execute(client, .put, "/admin/v1/tenants/initech", credential: setup.acmeAdmin, body: "{}").0
                    == .notFound)
            // Its budget names it, so it cannot go until the budget does.
            #expect(
                try await execute(
                    client, .put, "/admin/v1/tenants/initech/budgets/initech-day", credential: admin,
                    body: #"{"scope":"project:initech/labs","period":"day","limit":"2.5","alert_at":[0.5]}"#
                ).0 == .created)
            let (blocked, why) = try await execute(client, .delete, "/admin/v1/tenants/initech", credential: admin)
            #expect(blocked == .conflict && why.contains("budgets[initech-day].scope"))
            let (projectBlocked, _) = try await execute(
                client, .delete, "/admin/v1/tenants/initech/projects/labs", credential: admin)
            #expect(projectBlocked == .conflict)
            #expect(
                try await execute(client, .delete, "/admin/v1/tenants/initech/budgets/initech-day", credential: admin).0 == .ok)
            #expect(try await execute(client, .delete, "/admin/v1/tenants/initech", credential: admin).0 == .ok)
            #expect(test.gateway.tenants["initech"] == nil)
            #expect(try await execute(client, .get, "/admin/v1/tenants/initech", credential: admin).0 == .notFound)

            // A tenant-admin manages its own projects; a project with active keys stays.
            let (added, acme) = try await execute(
                client, .put, "/admin/v1/tenants/acme/projects/mobile", credential: setup.acmeAdmin)
            #expect(added == .ok && acme.contains(#""projects":["mobile","web"]"#))
            #expect(
                try await execute(
                    client, .post, "/admin/v1/tenants/acme/keys", credential: setup.acmeAdmin,
                    body: #"{"project":"mobile","agent":"app"}"#
                ).0 == .created)
            let (inUse, inUseWhy) = try await execute(
                client, .delete, "/admin/v1/tenants/acme/projects/mobile", credential: setup.acmeAdmin)
            #expect(inUse == .conflict && inUseWhy.contains("active key"))
            let (agents, agentList) = try await execute(
                client, .get, "/admin/v1/tenants/acme/agents", credential: setup.acmeViewer)
            #expect(agents == .ok && agentList.contains(#""agent":"app","projects":["mobile"]"#))
            #expect(!agentList.contains("globex"))
        }
        let actions = try await test.auditEntries().filter { $0.target.hasPrefix("tenant:") }.map(\.action)
        #expect(actions == ["tenant.create", "tenant.delete", "tenant.update"])
        // The file no longer matches live state: that is drift, which `config plan` shows.
        let live = try await test.store.governanceState()
        let plan = GovernancePlan(live: live.records, desired: GovernanceDeclaration(test.gateway.configuration).records)
        #expect(plan.changes.map(\.target) == ["tenant:acme"])
    }

    @Test func limitsAreNamedByScope() async throws {
        let setup = try await Self.setup()
        let test = setup.test
        let admin = Self.bootstrapKey
        try await test.gateway.withLiveServer { client in
            #expect(
                try await execute(
                    client, .put, "/admin/v1/tenants/acme/limits", credential: admin,
                    body: #"{"scope":"agent:acme/triage-bot","requests_per_minute":1}"#
                ).0 == .created)
            #expect(try await chat(client, key: test.acmeKey, body: Self.plainChat).0 == .ok)
            let (limited, _) = try await chat(client, key: test.acmeKey, body: Self.plainChat)
            #expect(limited == .tooManyRequests)
            #expect(
                try await execute(client, .delete, "/admin/v1/tenants/acme/limits?scope=agent:acme/triage-bot", credential: admin)
                    .0 == .ok)
            #expect(try await chat(client, key: test.acmeKey, body: Self.plainChat).0 == .ok)
        }
    }

    static let plainChat = #"{"model":"chat","messages":[{"role":"user","content":"Hi"}]}"#
}
