import Foundation
import Storage
import SwitchyardCore
import TestSupport
import Testing

@Suite struct AuditChainTests {
    static let engines = TestEngine.available

    func openStore(_ engine: TestEngine) async throws -> SQLStore {
        try await SQLStore.open(try engine.freshURL())
    }

    @Test(arguments: engines) func anIntactChainVerifies(_ engine: TestEngine) async throws {
        let store = try await openStore(engine)
        try await store.appendSampleAuditEntries()
        let verifier = try await store.verifyAudit(pageSize: 4)  // pages do not break the chain
        #expect(verifier.firstBreak == nil)
        #expect(verifier.checked == 6)
        let acme = try await store.auditEntries(tenant: "acme")
        #expect(acme.map(\.sequence) == [2, 4, 6])
    }

    @Test(arguments: engines) func editingARowIsFoundAtThatRow(_ engine: TestEngine) async throws {
        let store = try await openStore(engine)
        try await store.appendSampleAuditEntries()
        try await store.run { try $0.query("UPDATE audit_log SET detail = 'nothing to see' WHERE sequence = 4") }
        let verifier = try await store.verifyAudit()
        #expect(verifier.firstBreak == .altered(sequence: 4))
    }

    @Test(arguments: engines) func deletingARowIsFound(_ engine: TestEngine) async throws {
        let store = try await openStore(engine)
        try await store.appendSampleAuditEntries()
        try await store.run { try $0.query("DELETE FROM audit_log WHERE sequence = 3") }
        let verifier = try await store.verifyAudit()
        #expect(verifier.firstBreak == .gap(expected: 3, found: 4))
        #expect(verifier.firstBreak?.description.contains("expected entry 3") == true)
    }

    @Test(arguments: engines) func reorderingRowsIsFound(_ engine: TestEngine) async throws {
        let store = try await openStore(engine)
        try await store.appendSampleAuditEntries()
        // Swap entries 2 and 5 by renumbering them: the sequence is part of the hash.
        try await store.run { connection in
            try connection.query("UPDATE audit_log SET sequence = 100 WHERE sequence = 2")
            try connection.query("UPDATE audit_log SET sequence = 2 WHERE sequence = 5")
            try connection.query("UPDATE audit_log SET sequence = 5 WHERE sequence = 100")
        }
        let verifier = try await store.verifyAudit()
        #expect(verifier.firstBreak == .altered(sequence: 2))
    }

    @Test(arguments: engines) func recomputingOneHashStillBreaksTheLink(_ engine: TestEngine) async throws {
        let store = try await openStore(engine)
        try await store.appendSampleAuditEntries()
        // A forger who edits entry 3 and recomputes its hash breaks entry 4's link instead.
        var forged = try #require(try await store.auditEntries(after: 2, limit: 1).first)
        forged.detail = "forged"
        let hash = forged.computedHash
        try await store.run { connection in
            try connection.query(
                "UPDATE audit_log SET detail = 'forged', hash = ? WHERE sequence = 3", [.text(hash)])
        }
        let verifier = try await store.verifyAudit()
        guard case .unlinked(let sequence, _) = verifier.firstBreak else {
            Issue.record("expected an unlinked entry, got \(String(describing: verifier.firstBreak))")
            return
        }
        #expect(sequence == 4)
    }

    @Test func canonicalFormsOfDifferentEntriesDiffer() {
        let a = AuditEntry(time: UnixMicros(1), principal: "ab", action: "c", target: "t", tenant: nil).chained(after: nil)
        let b = AuditEntry(time: UnixMicros(1), principal: "a", action: "bc", target: "t", tenant: nil).chained(after: nil)
        let c = AuditEntry(time: UnixMicros(1), principal: "ab", action: "c", target: "t", tenant: "").chained(after: nil)
        #expect(Set([a.hash, b.hash, c.hash]).count == 3)
        #expect(a.previousHash == AuditEntry.genesisHash)
        #expect(a.hash.count == 64)
    }
}
