import Foundation
import Logging
import ServiceLifecycle
import Storage
import SwitchyardCore
import Synchronization
import Testing

@testable import Ledger

/// The write-ahead log: a receipt is honoured once the record is in the file, safe segments go,
/// and what a killed process left reaches the store at the next start.
@Suite struct UsageWriteAheadTests {
    let directory = NSTemporaryDirectory() + "sy-wal-" + RandomIdentifier.lowercase(count: 8)
    var prefix: String { directory + "/journal.ndjson.wal" }

    init() throws {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    }

    func record() -> UsageRecord {
        UsageRecord(
            id: RandomIdentifier.requestID(), startedAt: UnixMicros(1), finishedAt: UnixMicros(6), tenant: "acme",
            agent: nil, keyID: "k", endpoint: "chat.completions", route: "chat", deployment: "d", provider: "p",
            upstreamModel: "m", streamed: false, usage: TokenUsage(inputTokens: 3, outputTokens: 2),
            cost: Money(nanos: 140, currency: "USD"), latencyMicros: 5, timeToFirstTokenMicros: nil, status: 200,
            errorClass: nil, tags: [:])
    }

    func lines(of file: String) -> [UsageRecord] {
        let text = (try? String(contentsOfFile: file, encoding: .utf8)) ?? ""
        return text.split(separator: "\n").compactMap { try? JSONDecoder().decode(UsageRecord.self, from: Data($0.utf8)) }
    }

    @Test func aReceiptIsHonouredOnceTheRecordIsInTheFile() async throws {
        let handed = Mutex<[UsageWriteAhead.Sequence]>([])
        let log = UsageWriteAhead(prefix: prefix) { batch in handed.withLock { $0 += batch.map(\.0) } }
        let records = (0..<50).map { _ in record() }
        let sequences = records.map(log.append)
        for sequence in sequences {
            await log.waitWritten(sequence)
            // Written before the receipt is honoured, and handed on to the ledger writer.
            #expect(lines(of: prefix + ".1").count >= Int(sequence))
        }
        #expect(lines(of: prefix + ".1").map(\.id) == records.map(\.id))
        #expect(handed.withLock { $0 } == sequences)
        await log.stopAndWait()
    }

    @Test func segmentsGoOnceTheirRecordsAreSafeAndOthersAreFoundByTheNextProcess() async throws {
        // One segment per write: each batch fills one.
        let log = UsageWriteAhead(prefix: prefix, segmentBytes: 1) { _ in }
        var sequences: [UsageWriteAhead.Sequence] = []
        for _ in 0..<3 {
            let sequence = log.append(record())
            await log.waitWritten(sequence)
            sequences.append(sequence)
        }
        #expect(UsageWriteAhead.segmentNumbers(prefix: prefix) == [1, 2, 3])
        log.markSafe(Array(sequences.prefix(2)))
        try await waitUntil { UsageWriteAhead.segmentNumbers(prefix: prefix) == [3] }
        // The third was never safe: the next process finds it, and numbers its own after it.
        await log.stopAndWait()
        let next = UsageWriteAhead(prefix: prefix) { _ in }
        #expect(next.leftovers == [prefix + ".3"])
        await next.waitWritten(next.append(record()))
        #expect(UsageWriteAhead.segmentNumbers(prefix: prefix) == [3, 4])
        await next.stopAndWait()
    }

    @Test func aDiskThatRefusesTheLogHoldsNoRequestAndLosesNoRecord() async throws {
        let handed = Mutex<[UsageWriteAhead.Sequence]>([])
        let log = UsageWriteAhead(prefix: directory + "/missing-directory/journal.wal") { batch in
            handed.withLock { $0 += batch.map(\.0) }
        }
        let sequence = log.append(record())
        await log.waitWritten(sequence)
        // Handed on without a place in the log (sequence 0), so it never holds a segment back.
        #expect(handed.withLock { $0 } == [0])
        #expect(log.failures == 1)
        await log.stopAndWait()
        // The ledger writer reports it (on /metrics), and the record still reaches its queue.
        let store = try await SQLStore.open(.sqlite(path: directory + "/ledger.db"))
        let writer = LedgerWriter(
            store: store,
            configuration: .init(journalPath: directory + "/missing-directory/journal.ndjson", writeAhead: true),
            logger: Logger(label: "test"))
        await writer.record(record()).written()
        #expect(writer.writeAheadTrouble?.failedWrites == 1)
        // A receipt may be honoured by its deadline before the log hands the record on (a loaded machine).
        try await waitUntil { writer.pendingCount == 1 }
        await store.close()
    }

    @Test func theLedgerWriterTakesAKilledPredecessorsLogToTheStore() async throws {
        // A predecessor that wrote three records and was killed before its writer flushed them.
        let killed = UsageWriteAhead(prefix: prefix) { _ in }
        let lost = (0..<3).map { _ in record() }
        for record in lost { await killed.waitWritten(killed.append(record)) }
        await killed.stopAndWait()

        let store = try await SQLStore.open(.sqlite(path: directory + "/ledger.db"))
        let writer = LedgerWriter(
            store: store,
            configuration: .init(
                flushInterval: .milliseconds(20), journalPath: directory + "/journal.ndjson", writeAhead: true),
            logger: Logger(label: "test"))
        let group = ServiceGroup(services: [writer], logger: Logger(label: "test"))
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await group.run() }
            // Its own records go through the log too, and a clean shutdown leaves no segment.
            let own = record()
            await writer.record(own).written()
            try await waitUntil { try await store.usageCount() == 4 }
            await group.triggerGracefulShutdown()
            try await tasks.waitForAll()
        }
        let stored = Set(try await store.usageRecords().map(\.id))
        #expect(Set(lost.map(\.id)).isSubset(of: stored))
        #expect(UsageWriteAhead.segmentNumbers(prefix: prefix).isEmpty)
        await store.close()
    }

    /// Bounded: a hang fails the test after 30 s instead of holding the run.
    func waitUntil(_ condition: () async throws -> Bool) async throws {
        let deadline = ContinuousClock.now + .seconds(30)
        while try await !condition() {
            guard ContinuousClock.now < deadline else { throw ConditionNotMet() }
            try await Task.sleep(for: .milliseconds(5))
        }
    }
}

struct ConditionNotMet: Error {}

/// The log's hand-written lines read back as the records they were, every field.
@Suite struct UsageRecordLineTests {
    func roundTrip(_ record: UsageRecord) throws -> UsageRecord {
        var bytes: [UInt8] = []
        UsageRecordLine.append(record, to: &bytes)
        #expect(bytes.last == UInt8(ascii: "\n") && bytes.filter { $0 == UInt8(ascii: "\n") }.count == 1)
        return try JSONDecoder().decode(UsageRecord.self, from: Data(bytes))
    }

    @Test func everyFieldReadsBack() throws {
        let full = UsageRecord(
            id: "req_1\"\\", startedAt: UnixMicros(1_700_000_000_000_000), finishedAt: UnixMicros(1_700_000_000_500_000),
            tenant: "acme", agent: "bot\u{1}\n", keyID: "k1", endpoint: "chat.completions", route: "chat",
            deployment: "d", provider: "p", upstreamModel: "m-é", streamed: true,
            usage: TokenUsage(
                inputTokens: 10, outputTokens: 20, cachedInputTokens: 3, cacheWriteInputTokens: 2, reasoningTokens: 5,
                isEstimated: true),
            cost: Money(nanos: .max, currency: "EUR"), latencyMicros: -1, timeToFirstTokenMicros: 42, status: 499,
            errorClass: .clientCancelled, tags: ["customer": "c \"1\"", "feature": "日本", "a": ""],
            attempts: [
                Attempt(deployment: "d1", status: 503, errorClass: .upstreamUnavailable, latencyMicros: 7, hedged: false),
                Attempt(deployment: "d2", status: nil, errorClass: nil, latencyMicros: 9, hedged: true),
            ],
            replica: "host:8080", traceID: "4bf92f3577b34da6a3ce929d0e0e4736")
        #expect(try roundTrip(full) == full)
        let sparse = UsageRecord(
            id: "r", startedAt: UnixMicros(0), finishedAt: UnixMicros(0), tenant: nil, agent: nil, keyID: nil,
            endpoint: "models", route: nil, deployment: nil, provider: nil, upstreamModel: nil, streamed: false,
            usage: .none, cost: Money(nanos: 0, currency: "USD"), latencyMicros: 0, timeToFirstTokenMicros: nil,
            status: 401, errorClass: nil, tags: [:])
        #expect(try roundTrip(sparse) == sparse)
    }
}
