import Foundation
import Storage
import SwitchyardCore
import TestSupport
import Testing

@Suite struct GovernanceStoreTests {
    static let acme = GovernanceRecord(kind: .tenant, name: "acme", declaration: #"{"name":"acme"}"#)
    static let policy = GovernanceRecord(
        kind: .policy, name: "no-shell", declaration: #"{"name":"no-shell","scope":"tenant:acme","denied_tools":["shell"]}"#)

    @Test(arguments: TestEngine.available) func writesMoveTheRevisionOnAndAreAuditedTogether(_ engine: TestEngine) async throws {
        let store = try await SQLStore.open(try engine.freshURL())
        #expect(try await store.governanceState() == (0, []))
        let first = try await store.writeGovernance(
            [.put(Self.acme), .put(Self.policy)],
            audit: [
                AuditEntry(principal: "cli", action: "tenant.create", target: "tenant:acme", tenant: "acme"),
                AuditEntry(principal: "cli", action: "policy.create", target: "policy:no-shell", tenant: "acme"),
            ], by: "cli", expectedRevision: 0)
        #expect(first == 1)
        #expect(try await store.governanceState() == (1, [Self.acme, Self.policy]))

        var changed = Self.policy
        changed.declaration = #"{"name":"no-shell","scope":"tenant:acme","denied_tools":["shell","exec"]}"#
        #expect(try await store.writeGovernance([.put(changed)], audit: [], by: "admin", expectedRevision: 1) == 2)
        #expect(try await store.governanceState().records == [Self.acme, changed])
        #expect(try await store.writeGovernance([.remove(kind: .policy, name: "no-shell")], audit: [], by: "admin") == 3)
        #expect(try await store.governanceState() == (3, [Self.acme]))
        #expect(try await store.governanceRevision() == 3)
        #expect(try await store.auditEntries().map(\.action) == ["tenant.create", "policy.create"])
        #expect(try await store.verifyAudit().firstBreak == nil)
    }

    @Test(arguments: TestEngine.available) func aStaleRevisionChangesNothing(_ engine: TestEngine) async throws {
        let store = try await SQLStore.open(try engine.freshURL())
        try await store.writeGovernance([.put(Self.acme)], audit: [], by: "cli", expectedRevision: 0)
        await #expect(throws: GovernanceConflict.self) {
            try await store.writeGovernance(
                [.put(Self.policy)],
                audit: [AuditEntry(principal: "admin", action: "policy.create", target: "policy:no-shell", tenant: "acme")],
                by: "admin",
                expectedRevision: 0)
        }
        #expect(try await store.governanceState() == (1, [Self.acme]))
        #expect(try await store.auditEntries().isEmpty)
    }

    /// Two replicas importing a new store at once: exactly one import is written.
    @Test(arguments: TestEngine.available) func concurrentImportsWriteOnce(_ engine: TestEngine) async throws {
        let url = try engine.freshURL()
        let replicas = [try await SQLStore.open(url), try await SQLStore.open(url)]
        let outcomes = try await withThrowingTaskGroup(of: Bool.self) { group in
            for (index, store) in replicas.enumerated() {
                group.addTask {
                    do {
                        try await store.writeGovernance(
                            [.put(Self.acme)],
                            audit: [
                                AuditEntry(
                                    principal: "replica-\(index)", action: "tenant.create", target: "tenant:acme", tenant: "acme")
                            ],
                            by: "config-import", expectedRevision: 0)
                        return true
                    } catch is GovernanceConflict {
                        return false
                    }
                }
            }
            return try await group.reduce(into: [Bool]()) { $0.append($1) }
        }
        #expect(outcomes.filter { $0 }.count == 1 && outcomes.count == 2)
        #expect(try await replicas[0].governanceState() == (1, [Self.acme]))
        #expect(try await replicas[1].auditEntries().count == 1)
    }
}
