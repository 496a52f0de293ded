import Foundation
import Storage
import SwitchyardCore
import TestSupport
import Testing

@Suite struct KillSwitchStoreTests {
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
}
