import Foundation
import Storage
import SwitchyardCore
import TestSupport
import Testing

@Suite struct KillSwitchStoreTests {
    /// A change whose audit entry cannot be written is not made: the switch, the keys (API and
    /// admin) and a revocation are written in the audit entry's transaction (here the audit key is unusable,
    /// so every append fails).
    @Test(arguments: TestEngine.available) func nothingIsChangedUnaudited(_ engine: TestEngine) async throws {
        let url = try engine.freshURL()
        let store = try await SQLStore.open(url)
        try await store.ensureTenants(["acme"])
        let (_, active) = APIKeyFormat.issue(tenant: "acme", agent: nil, expiresAt: nil)
        try await store.insertKey(active, auditedAs: "cli")
        await store.close()

        let unaudited = try await SQLStore.open(url, auditSigning: .unavailable("the audit key is not set"))
        let kill = KillSwitch(scope: .tenant("acme"), reason: "stop", engagedBy: "admin")
        await #expect(throws: SQLStore.AuditKeyUnavailable.self) {
            try await unaudited.engageKillSwitch(kill, principal: "admin")
        }
        #expect(try await unaudited.killSwitches().isEmpty)
        let (_, record) = APIKeyFormat.issue(tenant: "acme", agent: nil, expiresAt: nil)
        await #expect(throws: SQLStore.AuditKeyUnavailable.self) { try await unaudited.insertKey(record, auditedAs: "cli") }
        #expect(try await unaudited.key(id: record.id) == nil)
        await #expect(throws: SQLStore.AuditKeyUnavailable.self) {
            try await unaudited.revokeKey(id: active.id, auditedAs: "cli")
        }
        #expect(try await unaudited.key(id: active.id)?.revokedAt == nil)
        let (_, adminKey) = AdminKeyFormat.issue(role: .admin, tenant: nil)
        await #expect(throws: SQLStore.AuditKeyUnavailable.self) {
            try await unaudited.insertAdminKey(adminKey, auditedAs: "cli")
        }
        #expect(try await unaudited.adminKey(id: adminKey.id) == nil)
        await unaudited.close()

        // With the audit working, the same changes are made and audited once each.
        let store2 = try await SQLStore.open(url)
        #expect(try await store2.engageKillSwitch(kill, principal: "admin"))
        #expect(try await store2.revokeKey(id: active.id, auditedAs: "cli")?.after.revokedAt != nil)
        #expect(try await store2.auditEntries().map(\.action) == ["key.create", "kill_switch.engage", "key.revoke"])
        await store2.close()
    }

    @Test(arguments: TestEngine.available) func engagingAndReleasingIsStoredOnceAndAudited(_ engine: TestEngine) async throws {
        let store = try await SQLStore.open(try engine.freshURL())
        let scope = GovernanceScope.agent(tenant: "acme", agent: "bot")
        let kill = KillSwitch(scope: scope, engagedAt: UnixMicros(1_000), reason: "looping", engagedBy: "cli")
        #expect(try await store.engageKillSwitch(kill, principal: "cli"))
        #expect(try await !store.engageKillSwitch(KillSwitch(scope: scope, reason: "again", engagedBy: "cli"), principal: "cli"))
        #expect(try await store.killSwitches() == [kill])
        #expect(try await store.releaseKillSwitch(scope, principal: "admin") == kill)
        #expect(try await store.releaseKillSwitch(scope, principal: "admin") == nil)
        #expect(try await store.killSwitches().isEmpty)
        let entries = try await store.auditEntries()
        #expect(entries.map(\.action) == ["kill_switch.engage", "kill_switch.release"])
        #expect(entries.map(\.principal) == ["cli", "admin"])
        #expect(entries[0].tenant == "acme" && entries[0].after?.contains("looping") == true)
        #expect(try await store.verifyAudit().firstBreak == nil)
    }

    @Test(arguments: TestEngine.available) func releasingTakesTheAuthorityTheSwitchWasEngagedWith(_ engine: TestEngine)
        async throws
    {
        let store = try await SQLStore.open(try engine.freshURL())
        let scope = GovernanceScope.tenant("acme")
        let kill = KillSwitch(scope: scope, reason: "admin stop", engagedBy: "admin")
        #expect(try await store.engageKillSwitch(kill, principal: "admin"))
        await #expect(throws: KillSwitch.ReleaseRefused.self) {
            try await store.releaseKillSwitch(scope, principal: "admin-key:t1", authority: .tenantAdmin)
        }
        #expect(try await store.killSwitches() == [kill])

        // A tenant-admin's switch is the tenant-admin's to release, and an admin's engagement takes it over.
        let agent = GovernanceScope.agent(tenant: "acme", agent: "bot")
        let own = KillSwitch(scope: agent, reason: "mine", engagedBy: "admin-key:t1", authority: .tenantAdmin)
        #expect(try await store.engageKillSwitch(own, principal: "admin-key:t1"))
        #expect(try await store.releaseKillSwitch(agent, principal: "admin-key:t1", authority: .tenantAdmin) == own)
        #expect(try await store.engageKillSwitch(own, principal: "admin-key:t1"))
        #expect(try await store.engageKillSwitch(KillSwitch(scope: agent, reason: "held", engagedBy: "cli"), principal: "cli"))
        #expect(try await store.killSwitches().first { $0.scope == agent }?.authority == .admin)
        await #expect(throws: KillSwitch.ReleaseRefused.self) {
            try await store.releaseKillSwitch(agent, principal: "admin-key:t1", authority: .tenantAdmin)
        }

        // A row stored before authority was recorded is the admin's.
        try await store.run { try $0.query("UPDATE kill_switches SET authority = NULL") }
        #expect(try await store.killSwitches().map(\.authority) == [.admin, .admin])
        #expect(try await store.releaseKillSwitch(scope, principal: "cli") == kill)

        let entries = try await store.auditEntries()
        #expect(
            entries.map(\.action) == [
                "kill_switch.engage", "kill_switch.release_refused", "kill_switch.engage", "kill_switch.release",
                "kill_switch.engage", "kill_switch.engage", "kill_switch.release_refused", "kill_switch.release",
            ])
        let refused = entries[1]
        #expect(refused.principal == "admin-key:t1" && refused.tenant == "acme")
        #expect(refused.before?.contains(#""engaged_by":"admin""#) == true)
        #expect(refused.before?.contains(#""authority":"admin""#) == true)
        #expect(entries[5].before?.contains(#""authority":"tenant-admin""#) == true)
        #expect(try await store.verifyAudit().firstBreak == nil)
    }
}
