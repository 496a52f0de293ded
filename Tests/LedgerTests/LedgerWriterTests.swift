import Foundation
import Logging
import ServiceLifecycle
import Storage
import SwitchyardCore
import Testing

@testable import Ledger

@Suite struct LedgerWriterTests {
    let directory = NSTemporaryDirectory() + "sy-ledger-" + RandomIdentifier.lowercase(count: 8)

    init() throws {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    }

    func store() async throws -> SQLStore { try await SQLStore.open(.sqlite(path: directory + "/ledger.db")) }

    func writer(_ store: SQLStore, batchSize: Int = 500, maxPending: Int = 50_000) -> LedgerWriter {
        LedgerWriter(
            store: store,
            configuration: .init(
                batchSize: batchSize, flushInterval: .milliseconds(20), journalPath: directory + "/journal.ndjson",
                maxPending: maxPending),
            logger: Logger(label: "test"))
    }

    func records(_ count: Int) -> [UsageRecord] {
        (0..<count).map { index in
            UsageRecord(
                id: RandomIdentifier.requestID(), startedAt: UnixMicros(Int64(index)), finishedAt: UnixMicros(Int64(index) + 5),
                tenant: "acme", agent: nil, keyID: "k", endpoint: "chat.completions", route: "chat", deployment: "d",
                provider: "p", upstreamModel: "m", streamed: false, usage: TokenUsage(inputTokens: 3, outputTokens: 2),
                cost: Money(nanos: 140, currency: "USD"), latencyMicros: 5, timeToFirstTokenMicros: nil, status: 200,
                errorClass: nil, tags: [:])
        }
    }

    @Test func flushWritesEverythingInBatches() async throws {
        let store = try await store()
        let writer = writer(store, batchSize: 64)
        records(1000).forEach { _ = writer.record($0) }
        #expect(writer.pendingCount == 1000)
        await writer.flush()
        #expect(writer.pendingCount == 0)
        #expect(try await store.usageCount() == 1000)
        #expect(writer.statistics.written == 1000)
    }

    @Test func gracefulShutdownFlushesWhatIsPending() async throws {
        let store = try await store()
        let writer = writer(store)
        let group = ServiceGroup(configuration: .init(services: [writer], logger: Logger(label: "test")))
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await group.run() }
            let batch = records(250)
            batch.forEach { _ = writer.record($0) }
            await group.triggerGracefulShutdown()
            try await tasks.waitForAll()
        }
        #expect(try await store.usageCount() == 250)
    }

    @Test func storeFailureSpillsToTheJournalAndReplaysLater() async throws {
        let broken = try await store()
        await broken.close()  // every write now fails
        let first = writer(broken, batchSize: 10)
        let batch = records(120)
        batch.forEach { _ = first.record($0) }
        await first.flush()
        #expect(first.statistics.journaled == 120)
        // One failure, not one per batch: the rest went to the journal without asking the store
        // again (a hung store would make each ask wait out its deadline).
        #expect(first.statistics.storeFailures == 1)
        let journal = UsageJournal(path: directory + "/journal.ndjson")
        #expect(try await journal.readAll().records.map(\.id) == batch.map(\.id))

        let healthy = try await store()
        let second = writer(healthy)
        await second.flush()
        #expect(second.statistics.replayed == 120)
        #expect(try await healthy.usageCount() == 120)
        #expect(journal.isEmpty)
    }

    @Test func tornJournalLinesAreSkippedNotFatal() async throws {
        let journal = UsageJournal(path: directory + "/journal.ndjson")
        let batch = records(3)
        try journal.append(batch)
        let handle = try #require(FileHandle(forWritingAtPath: journal.path))
        handle.seekToEndOfFile()
        handle.write(Data(#"{"id":"req_torn","startedAt":1"#.utf8))
        try handle.close()
        let (read, skipped) = try await journal.readAll()
        #expect(read.map(\.id) == batch.map(\.id))
        #expect(skipped == 1)

        let store = try await store()
        let writer = writer(store)
        await writer.flush()
        #expect(try await store.usageCount() == 3)
        #expect(journal.isEmpty)
    }

    @Test func aFullQueueSpillsItsNewestRecordsToTheJournal() async throws {
        let store = try await store()
        let writer = writer(store, batchSize: 100, maxPending: 1000)
        let batch = records(5000)
        batch.forEach { _ = writer.record($0) }
        await writer.spillOverflow()
        #expect(writer.pendingCount == 500)
        #expect(writer.statistics.spilled == 4500)
        let journal = UsageJournal(path: directory + "/journal.ndjson")
        #expect(try await journal.readAll().records.map(\.id) == batch[500...].map(\.id))
        // The queue first, then the journal: everything lands once.
        await writer.flush()
        #expect(try await store.usageCount() == 5000)
        #expect(writer.statistics.written == 500 && writer.statistics.replayed == 4500)
        #expect(journal.isEmpty)
    }

    @Test func aStalledStoreDoesNotGrowTheQueueWithoutBound() async throws {
        let store = try await store()
        let writer = writer(store, batchSize: 100, maxPending: 1000)
        // Another connection holds SQLite's write lock: the writer's insert waits (up to the
        // 10 s busy timeout) without failing, the way a stalled database would.
        let blocker = try await self.store()
        _ = try await blocker.run { try $0.query("BEGIN EXCLUSIVE") }
        let group = ServiceGroup(configuration: .init(services: [writer], logger: Logger(label: "test")))
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await group.run() }
            let batch = records(20_000)
            for (index, record) in batch.enumerated() {
                writer.record(record)
                if index % 1000 == 999 { try await Task.sleep(for: .milliseconds(5)) }
            }
            let deadline = ContinuousClock.now + .seconds(5)
            while writer.pendingCount > 1000, ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(10)) }
            #expect(writer.pendingCount <= 1000, "the queue kept \(writer.pendingCount) records in memory")
            #expect(writer.statistics.spilled > 0)
            #expect(writer.statistics.written == 0, "the store was locked: nothing could be written yet")
            _ = try await blocker.run { try $0.query("COMMIT") }
            await group.triggerGracefulShutdown()
            try await tasks.waitForAll()
        }
        await writer.flush()
        #expect(try await store.usageCount() == 20_000)
        #expect(UsageJournal(path: directory + "/journal.ndjson").isEmpty)
    }

    @Test func anInterruptedReplayIsFinishedFirst() async throws {
        let journal = UsageJournal(path: directory + "/journal.ndjson")
        let first = records(30)
        try journal.append(first)
        #expect(try journal.beginReplay() == journal.replayingPath)
        // A crash here leaves the moved file; records spilled later go to a new journal.
        let later = records(20)
        try journal.append(later)
        let store = try await store()
        let writer = writer(store, batchSize: 7)
        await writer.flush()  // replays the interrupted file
        await writer.flush()  // then the newer journal
        #expect(try await store.usageCount() == 50)
        #expect(journal.isEmpty)
    }
}
