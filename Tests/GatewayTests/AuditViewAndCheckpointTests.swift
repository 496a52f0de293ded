import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import NIOCore
import ServiceLifecycle
import Storage
import SwitchyardCore
import Synchronization
import TestSupport
import Testing

@testable import ControlPlane
@testable import DataPlane

/// A tenant's audit view numbers its entries itself (so gaps do not show other tenants'
/// activity), and the checkpoint writer records the chain's head outside the database.
@Suite struct AuditViewAndCheckpointTests {
    static let keys = try! AuditKeyring("audit-key-a-0123456789abcdef0123456789abcdef")

    func auditView(_ client: LiveClient, credential: String, query: String = "") async throws -> [[String: Any]] {
        try await client.execute(
            uri: "/admin/v1/tenants/acme/audit" + query, method: .get, headers: [.authorization: "Bearer \(credential)"]
        ) { response in
            #expect(response.status == .ok)
            return try JSONSerialization.jsonObject(with: Data(buffer: response.body)) as? [[String: Any]] ?? []
        }
    }

    @Test(arguments: TestEngine.available) func theTenantViewHasNoGapsWhileOtherTenantsInterleave(_ engine: TestEngine)
        async throws
    {
        let setup = try await AdminAPITests.setup(engine)
        let store = setup.test.store
        try await setup.test.gateway.withLiveServer { client in
            for round in 1...4 {
                // globex acts between each of acme's entries.
                try await store.appendAudit([
                    AuditEntry(principal: "cli", action: "key.create", target: "key:globex-\(round)", tenant: "globex"),
                    AuditEntry(principal: "switchyard", action: "budget.threshold", target: "budget:x", tenant: nil),
                ])
                let created = try await client.execute(
                    uri: "/admin/v1/tenants/acme/keys", method: .post,
                    headers: [.authorization: "Bearer \(setup.acmeAdmin)"], body: ByteBuffer(string: #"{"agent":"bot\#(round)"}"#)
                ) { $0.status }
                #expect(created == .created)
            }
            let view = try await auditView(client, credential: setup.acmeViewer)
            let numbers = view.compactMap { ($0["sequence"] as? String).flatMap { Int64($0) } }
            #expect(numbers.count == view.count && numbers == Array(1...Int64(view.count)))
            #expect(view.filter { $0["action"] as? String == "key.create" }.count == 4)
            #expect(view.allSatisfy { $0["hash"] == nil && $0["tenant"] as? String == "acme" })
            // The chain's own numbers for the same entries do have gaps: that is what the view hides.
            let global = try await store.auditEntries(tenant: "acme").map(\.sequence)
            #expect(global.count == view.count && global.last! - global.first! + 1 > Int64(global.count))
            // `after` pages in the tenant's numbering.
            let page = try await auditView(client, credential: setup.acmeViewer, query: "?after=2&limit=2")
            #expect(page.compactMap { $0["sequence"] as? String } == ["3", "4"])
        }
    }

    func signedStore() async throws -> SQLStore {
        try await SQLStore.open(try TestEngine.sqlite.freshURL(), auditSigning: .keys(Self.keys))
    }

    func append(_ store: SQLStore, _ count: Int) async throws {
        for _ in 0..<count {
            try await store.appendAudit([AuditEntry(principal: "cli", action: "key.create", target: "key:x", tenant: "acme")])
        }
    }

    func lines(_ path: String) -> [AuditCheckpoint] {
        let text = (try? String(contentsOfFile: path, encoding: .utf8)) ?? ""
        return text.split(separator: "\n").compactMap { AuditCheckpoint(line: $0) }
    }

    @Test func checkpointsFollowTheHeadEveryNEntriesAndRefuseToVouchForACutChain() async throws {
        let store = try await signedStore()
        let file = Self.checkpointFile()
        let posted = Mutex<[String]>([])
        let writer = AuditCheckpointWriter(
            store: store, keyring: Self.keys, file: file,
            post: { body in posted.withLock { $0.append(String(decoding: body, as: UTF8.self)) } }, everyEntries: 2,
            interval: .seconds(3600), logger: Logger(label: "test"))
        #expect(await writer.checkpointIfDue() == nil)  // an empty chain has no head to record
        try await append(store, 3)
        #expect(await writer.checkpointIfDue()?.sequence == 3)  // the first of this process
        try await append(store, 1)
        #expect(await writer.checkpointIfDue() == nil)  // one entry on, well within the interval
        try await append(store, 1)
        #expect(await writer.checkpointIfDue()?.sequence == 5)
        #expect(await writer.checkpointIfDue() == nil)  // the head has not moved
        let written = lines(file)
        #expect(written.map(\.sequence) == [3, 5])
        #expect(written.allSatisfy { $0.verify(with: Self.keys) == .valid && $0.headSigned })
        #expect(posted.withLock { $0 } == written.map(\.line))
        #expect(try await store.verifyAudit(keyring: Self.keys, checkpoints: written).firstBreak == nil)
        // Entries cut off the end: no checkpoint of the shorter chain, and verify names the first missing.
        try await store.run { try $0.query("DELETE FROM audit_log WHERE sequence >= 4") }
        #expect(await writer.checkpointIfDue(final: true) == nil)
        #expect(lines(file).count == 2)
        #expect(
            try await store.verifyAudit(keyring: Self.keys, checkpoints: lines(file)).firstBreak
                == .truncated(sequence: 4, checkpointed: 5))
    }

    /// A writer whose checkpoints fall due only when called with `final` or after 100 entries.
    static func rareWriter(_ store: SQLStore, file: String) -> AuditCheckpointWriter {
        AuditCheckpointWriter(
            store: store, keyring: keys, file: file, post: nil, everyEntries: 100, interval: .seconds(3600),
            logger: Logger(label: "test"))
    }

    /// Entries cut off between two checkpoints: the head read at the last poll is checkpointed
    /// when the chain is found shorter, so the cut shows although no checkpoint had covered them.
    @Test func aCutBetweenCheckpointsIsCheckpointedFromTheHeadLastRead() async throws {
        let store = try await signedStore()
        let file = Self.checkpointFile()
        let writer = Self.rareWriter(store, file: file)
        try await append(store, 2)
        #expect(await writer.checkpointIfDue()?.sequence == 2)
        try await append(store, 3)
        #expect(await writer.checkpointIfDue() == nil)  // 5 read, not yet due
        try await store.run { try $0.query("DELETE FROM audit_log WHERE sequence >= 4") }
        #expect(await writer.checkpointIfDue()?.sequence == 5)
        // Then the writer follows the chain as it now is, so a later cut leaves evidence too.
        #expect(await writer.checkpointIfDue()?.sequence == 3)
        #expect(await writer.checkpointIfDue() == nil)
        try await append(store, 2)
        #expect(await writer.checkpointIfDue() == nil)  // 5 (a new one) read, not yet due
        try await store.run { try $0.query("DELETE FROM audit_log WHERE sequence >= 5") }
        #expect(await writer.checkpointIfDue()?.sequence == 5)  // the second cut's evidence
        #expect(lines(file).map(\.sequence) == [2, 5, 3, 5])
        // The chain now ends at 4: verify names the first entry missing under the checkpoints.
        #expect(
            try await store.verifyAudit(keyring: Self.keys, checkpoints: lines(file)).firstBreak
                == .truncated(sequence: 5, checkpointed: 5))
    }

    /// A cut followed at once by new entries (the head back past where it was) is caught too:
    /// the entry at the head last read is no longer the one read.
    @Test func aCutHiddenByNewEntriesIsCaught() async throws {
        let store = try await signedStore()
        let file = Self.checkpointFile()
        let writer = Self.rareWriter(store, file: file)
        try await append(store, 2)
        #expect(await writer.checkpointIfDue()?.sequence == 2)
        try await append(store, 2)
        #expect(await writer.checkpointIfDue() == nil)  // 4 read
        try await store.run { try $0.query("DELETE FROM audit_log WHERE sequence >= 3") }
        try await append(store, 3)  // sequences 3, 4, 5 again, with other hashes
        #expect(await writer.checkpointIfDue()?.sequence == 4)
        #expect(
            try await store.verifyAudit(keyring: Self.keys, checkpoints: lines(file)).firstBreak != nil)
    }

    static func checkpointFile() -> String {
        NSTemporaryDirectory() + "checkpoints-\(RandomIdentifier.lowercase(count: 8)).jsonl"
    }

    /// A writer that polls the head every 20 ms and checkpoints it every 1000 entries or `interval`.
    static func pollingWriter(_ store: SQLStore, file: String, interval: Duration) -> AuditCheckpointWriter {
        AuditCheckpointWriter(
            store: store, keyring: keys, file: file, post: nil, everyEntries: 1000, interval: interval,
            poll: .milliseconds(20), logger: Logger(label: "test"))
    }

    func run(_ writer: AuditCheckpointWriter, whileDoing body: () async throws -> Void) async throws {
        let group = ServiceGroup(configuration: .init(services: [writer], logger: Logger(label: "test")))
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await group.run() }
            try await body()
            await group.triggerGracefulShutdown()
            try await tasks.waitForAll()
        }
    }

    @Test func gracefulShutdownRecordsTheLastHead() async throws {
        let store = try await signedStore()
        let file = Self.checkpointFile()
        let writer = Self.pollingWriter(store, file: file, interval: .seconds(3600))
        try await append(store, 1)
        try await run(writer) {
            try await waitUntil("checkpoint 1 written", every: .milliseconds(20)) { lines(file).map(\.sequence) == [1] }
            try await append(store, 1)
        }
        #expect(lines(file).map(\.sequence) == [1, 2])
    }

    @Test func theIntervalWritesAMovedHead() async throws {
        let store = try await signedStore()
        let file = Self.checkpointFile()
        let writer = Self.pollingWriter(store, file: file, interval: .milliseconds(200))
        try await append(store, 1)
        try await run(writer) {
            try await waitUntil("checkpoint 1 written", every: .milliseconds(20)) { lines(file).map(\.sequence) == [1] }
            try await append(store, 1)
            // Far fewer than 1000 entries: the interval writes it.
            try await waitUntil("checkpoint 2 written", every: .milliseconds(20)) { lines(file).map(\.sequence) == [1, 2] }
        }
        #expect(lines(file).map(\.sequence) == [1, 2])
    }
}
