import Foundation
import SwitchyardCore
import TestSupport
import Testing

@testable import Storage

/// The audit chain against someone with write access to the database: every tampering is done
/// in SQL as such an attacker would, recomputing the SHA-256 chain where that hides it from the
/// hash check alone (asserted for each), and must be found by the MACs or a checkpoint, with the
/// first bad entry named.
@Suite struct AuditSignatureTests {
    static let engines = TestEngine.available
    static let keyA = "audit-key-a-0123456789abcdef0123456789abcdef"
    static let keyB = "audit-key-b-0123456789abcdef0123456789abcdef"
    static let keys = try! AuditKeyring(keyA)

    func openStore(_ engine: TestEngine, keys: AuditKeyring? = AuditSignatureTests.keys) async throws -> SQLStore {
        try await SQLStore.open(try engine.freshURL(), auditSigning: keys.map { .keys($0) } ?? .off)
    }

    /// The verifier as it was before MACs: sequence, hash and link only. What each attack beats.
    func hashChainHolds(_ store: SQLStore) async throws -> Bool {
        var previous = AuditEntry.genesisHash
        var expected: Int64 = 1
        for entry in try await store.auditEntries(limit: 100_000) {
            guard entry.sequence == expected, entry.computedHash == entry.hash, entry.previousHash == previous else {
                return false
            }
            previous = entry.hash
            expected += 1
        }
        return true
    }

    /// What an attacker does after changing entries: recompute every hash from `sequence` on, in SQL.
    func rechain(_ store: SQLStore, from sequence: Int64) async throws {
        let entries = try await store.auditEntries(limit: 100_000)
        var previous = entries.last { $0.sequence < sequence }?.hash ?? AuditEntry.genesisHash
        for var entry in entries where entry.sequence >= sequence {
            entry.previousHash = previous
            let (hash, link, sequence) = (entry.computedHash, previous, entry.sequence)
            try await store.run { connection in
                try connection.query(
                    "UPDATE audit_log SET previous_hash = ?, hash = ? WHERE sequence = ?",
                    [.text(link), .text(hash), .integer(sequence)])
            }
            previous = hash
        }
    }

    func checkpointOfHead(_ store: SQLStore) async throws -> AuditCheckpoint {
        AuditCheckpoint(head: try #require(try await store.auditHead()), keyring: Self.keys)
    }

    @Test(arguments: engines) func aSignedChainVerifiesWithItsCheckpoint(_ engine: TestEngine) async throws {
        let store = try await openStore(engine)
        try await store.appendSampleAuditEntries()
        let entries = try await store.auditEntries()
        #expect(entries.allSatisfy { $0.keyID == Self.keys.signingKeyID && $0.mac?.count == 64 })
        let verifier = try await store.verifyAudit(keyring: Self.keys, checkpoints: [try await checkpointOfHead(store)])
        #expect(verifier.firstBreak == nil)
        #expect(verifier.checked == 6 && verifier.unsignedBeforeFirstSigned == 0)
    }

    @Test(arguments: engines) func deletingTheLastEntriesIsFoundAgainstACheckpoint(_ engine: TestEngine) async throws {
        let store = try await openStore(engine)
        try await store.appendSampleAuditEntries()
        let checkpoint = try await checkpointOfHead(store)
        try await store.run { try $0.query("DELETE FROM audit_log WHERE sequence >= 5") }
        #expect(try await hashChainHolds(store))
        // Without a checkpoint nothing can show it: what is left is a valid, signed chain.
        #expect(try await store.verifyAudit(keyring: Self.keys).firstBreak == nil)
        let verifier = try await store.verifyAudit(keyring: Self.keys, checkpoints: [checkpoint])
        #expect(verifier.firstBreak == .truncated(sequence: 5, checkpointed: 6))
        #expect(verifier.firstBreak?.description.contains("entries from 5 on are missing") == true)
    }

    @Test(arguments: engines) func editingAnEntryAndRecomputingEveryLaterHashIsFound(_ engine: TestEngine) async throws {
        let store = try await openStore(engine)
        try await store.appendSampleAuditEntries()
        try await store.run { try $0.query("UPDATE audit_log SET detail = 'nothing to see' WHERE sequence = 3") }
        try await rechain(store, from: 3)
        #expect(try await hashChainHolds(store))
        #expect(try await store.verifyAudit(keyring: Self.keys).firstBreak == .forged(sequence: 3))
    }

    @Test(arguments: engines) func deletingRenumberingAndRecomputingIsFound(_ engine: TestEngine) async throws {
        let store = try await openStore(engine)
        try await store.appendSampleAuditEntries()
        try await store.run { connection in
            try connection.query("DELETE FROM audit_log WHERE sequence = 3")
            for sequence in Int64(4)...6 {
                try connection.query(
                    "UPDATE audit_log SET sequence = ? WHERE sequence = ?", [.integer(sequence - 1), .integer(sequence)])
            }
            // The deleted entry was globex's second: close the gap in globex's numbering too.
            try connection.query("UPDATE audit_log SET tenant_sequence = 2 WHERE sequence = 4")
        }
        try await rechain(store, from: 3)
        #expect(try await hashChainHolds(store))
        let verifier = try await store.verifyAudit(keyring: Self.keys)
        #expect(verifier.firstBreak == .forged(sequence: 3))
        #expect(verifier.firstBreak?.description.hasPrefix("entry 3 ") == true)
    }

    /// A forged release with correct chaining (and tenant numbering): unsigned, or signed with a
    /// made-up key or a key of the attacker's own.
    @Test(arguments: engines) func anAppendedForgedReleaseIsFound(_ engine: TestEngine) async throws {
        for (keyID, mac, expected) in [
            (nil, nil, AuditChainVerifier.Break.unsigned(sequence: 7)),
            ("0123456789abcdef", String(repeating: "ab", count: 32), .unknownKey(sequence: 7, keyID: "0123456789abcdef")),
            (Self.keys.signingKeyID, String(repeating: "ab", count: 32), .forged(sequence: 7)),
        ] as [(String?, String?, AuditChainVerifier.Break)] {
            let store = try await openStore(engine)
            try await store.appendSampleAuditEntries()
            let head = try #require(try await store.auditHead())
            var forged = AuditEntry(
                principal: "admin", action: "kill_switch.release", target: "tenant:acme", tenant: "acme",
                before: #"{"scope":"tenant:acme"}"#
            ).chained(after: (head.sequence, head.hash))
            forged.keyID = keyID
            forged.mac = mac
            let row = forged
            try await store.run { connection in
                try connection.query(
                    """
                    INSERT INTO audit_log (sequence, at, principal, action, target, tenant, before_value, previous_hash, hash,
                        key_id, mac, tenant_sequence)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 4)
                    """,
                    [
                        .integer(row.sequence), .integer(row.time.value), .text(row.principal), .text(row.action),
                        .text(row.target), .optional(row.tenant), .optional(row.before), .text(row.previousHash),
                        .text(row.hash), .optional(row.keyID), .optional(row.mac),
                    ])
            }
            #expect(try await hashChainHolds(store))
            #expect(try await store.verifyAudit(keyring: Self.keys).firstBreak == expected)
            // Without the key, a MAC-less entry after signed ones still shows; a made-up MAC needs the key.
            if mac == nil { #expect(try await store.verifyAudit().firstBreak == expected) }
        }
    }

    @Test(arguments: engines) func blankingTheTenantOnAnotherTenantsEntriesIsFound(_ engine: TestEngine) async throws {
        let store = try await openStore(engine)
        try await store.appendSampleAuditEntries()
        try await store.run {
            try $0.query("UPDATE audit_log SET tenant = NULL, tenant_sequence = NULL WHERE tenant = 'globex'")
        }
        try await rechain(store, from: 1)
        #expect(try await hashChainHolds(store))
        #expect(try await store.verifyAudit(keyring: Self.keys).firstBreak == .forged(sequence: 1))
    }

    @Test(arguments: engines) func strippingEveryMACIsFoundAgainstACheckpoint(_ engine: TestEngine) async throws {
        let store = try await openStore(engine)
        try await store.appendSampleAuditEntries()
        let checkpoint = try await checkpointOfHead(store)
        #expect(checkpoint.headSigned)
        try await store.run { try $0.query("UPDATE audit_log SET key_id = NULL, mac = NULL") }
        // Without a checkpoint, a chain with no MAC at all looks like one from before the key was set.
        let unchecked = try await store.verifyAudit(keyring: Self.keys)
        #expect(unchecked.firstBreak == nil && unchecked.unsignedBeforeFirstSigned == 6)
        #expect(
            try await store.verifyAudit(keyring: Self.keys, checkpoints: [checkpoint]).firstBreak == .unsigned(sequence: 6))
        // Rewriting as well: the checkpointed head no longer matches.
        try await store.run { try $0.query("UPDATE audit_log SET detail = 'rewritten' WHERE sequence = 2") }
        try await rechain(store, from: 2)
        #expect(
            try await store.verifyAudit(keyring: Self.keys, checkpoints: [checkpoint]).firstBreak
                == .checkpointMismatch(sequence: 6, checkpointTime: checkpoint.time))
    }

    @Test(arguments: engines) func rotatedKeysVerifyWhileListed(_ engine: TestEngine) async throws {
        let url = try engine.freshURL()
        let old = try await SQLStore.open(url, auditSigning: .keys(try AuditKeyring(Self.keyA)))
        try await old.appendSampleAuditEntries(count: 3)
        await old.close()
        // The new key signs; the old one still verifies.
        let rotated = try AuditKeyring("\(Self.keyB), \(Self.keyA)")
        let store = try await SQLStore.open(url, auditSigning: .keys(rotated))
        try await store.appendSampleAuditEntries(count: 3)
        let keyIDs = try await store.auditEntries().map(\.keyID)
        #expect(
            keyIDs == Array(repeating: AuditKeyring.keyID(of: Self.keyA), count: 3)
                + Array(repeating: rotated.signingKeyID, count: 3))
        #expect(try await store.verifyAudit(keyring: rotated).firstBreak == nil)
        // Once the old key is removed, its entries can no longer be vouched for: the first is named.
        #expect(
            try await store.verifyAudit(keyring: try AuditKeyring(Self.keyB)).firstBreak
                == .unknownKey(sequence: 1, keyID: AuditKeyring.keyID(of: Self.keyA)))
    }

    @Test(arguments: engines) func unsignedEntriesFromBeforeTheKeyVerifyAndCount(_ engine: TestEngine) async throws {
        let url = try engine.freshURL()
        let unsigned = try await SQLStore.open(url)
        try await unsigned.appendSampleAuditEntries(count: 2)
        await unsigned.close()
        let store = try await SQLStore.open(url, auditSigning: .keys(Self.keys))
        try await store.appendSampleAuditEntries(count: 2)
        let verifier = try await store.verifyAudit(keyring: Self.keys)
        #expect(verifier.firstBreak == nil && verifier.unsignedBeforeFirstSigned == 2)
        // A process without the key appending after signed entries breaks the chain, so one with
        // the key configured but unusable refuses to append at all.
        let misconfigured = try await SQLStore.open(url, auditSigning: .unavailable("audit.key_env names X, which is not set"))
        await #expect(throws: SQLStore.AuditKeyUnavailable.self) {
            try await misconfigured.appendAudit([AuditEntry(principal: "cli", action: "key.create", target: "key:x", tenant: nil)]
            )
        }
        #expect(try await store.auditEntries().count == 4)
    }

    @Test(arguments: engines) func tenantsAreNumberedWithoutGaps(_ engine: TestEngine) async throws {
        let store = try await openStore(engine)
        try await store.appendSampleAuditEntries()
        try await store.appendAudit([
            AuditEntry(principal: "switchyard", action: "budget.threshold", target: "budget:all", tenant: nil),
            AuditEntry(principal: "admin", action: "key.revoke", target: "key:k2", tenant: "acme"),
        ])
        let acme = try await store.tenantAuditEntries("acme")
        #expect(acme.map(\.tenantSequence) == [1, 2, 3, 4])
        #expect(acme.map(\.sequence) == [2, 4, 6, 8])
        #expect(try await store.tenantAuditEntries("acme", after: 2, limit: 1).map(\.target) == ["key:k6"])
        #expect(try await store.auditEntries(after: 6, limit: 1).first?.tenantSequence == nil)
        // Hiding an entry from the tenant's view is tampering too.
        try await store.run { try $0.query("UPDATE audit_log SET tenant_sequence = NULL WHERE sequence = 4") }
        #expect(try await store.verifyAudit(keyring: Self.keys).firstBreak == .misnumbered(sequence: 4, expected: 2))
    }

    /// Entries appended before the tenant numbering existed are numbered by the migration.
    @Test(arguments: engines) func theMigrationNumbersEarlierEntries(_ engine: TestEngine) async throws {
        let store = try await openStore(engine, keys: nil)
        try await store.appendSampleAuditEntries()
        let step = try #require(Migrations.steps.first { $0.sql.contains("tenant_sequence BIGINT") })
        let backfill = try #require(
            step.sql.split(separator: ";").map { $0.trimmingCharacters(in: .whitespacesAndNewlines) }
                .first { $0.hasPrefix("UPDATE") })
        try await store.run { connection in
            try connection.query("UPDATE audit_log SET tenant_sequence = NULL")
            try connection.query(backfill)
        }
        #expect(try await store.auditEntries().map(\.tenantSequence) == [1, 1, 2, 2, 3, 3])
        #expect(try await store.verifyAudit().firstBreak == nil)
    }
}
