import Foundation
import Logging
import ServiceLifecycle
import Storage
import SwitchyardCore
import Synchronization

/// Collects usage records from the request path and writes them to the store in batches.
///
/// - The request path only appends to an in-memory buffer (`record(_:)`), never waits on I/O.
/// - Every `flushInterval`, or as soon as `batchSize` records wait, the buffer is written in one
///   transaction.
/// - When the store fails, the batch goes to the fsync'd journal instead and is replayed once the
///   store answers again (also at start-up, for a journal left by a previous run).
/// - The queue is bounded: when more than `maxPending` records wait (a store slower than the
///   traffic, or stalled without failing), the newest are spilled to the journal, so memory stays
///   flat and nothing is lost; they reach the store after the queue has drained.
/// - On graceful shutdown it runs after the HTTP server has drained, and writes everything left.
/// - With `writeAhead`, a record reaches the queue through `UsageWriteAhead`: it is in a local
///   file (written, fsync'd every 100 ms) before its request's answer ends, and survives a kill.
public final class LedgerWriter: UsageSink, Service {
    public struct Configuration: Sendable {
        public var batchSize: Int
        public var flushInterval: Duration
        public var journalPath: String
        /// Records held in memory before the newest are spilled to the journal (~1 KiB each).
        public var maxPending: Int
        /// Each record is written to a local log (`JOURNAL.wal.N`) before its receipt is honoured.
        public var writeAhead: Bool

        /// `batchSize` 100, not more: a batch is written in one burst of CPU on a shared machine,
        /// and larger bursts showed up in the request path's p99 (README, Performance).
        public init(
            batchSize: Int = 100, flushInterval: Duration = .milliseconds(100), journalPath: String,
            maxPending: Int = 50_000, writeAhead: Bool = false
        ) {
            self.batchSize = batchSize
            self.flushInterval = flushInterval
            self.journalPath = journalPath
            self.maxPending = max(maxPending, 2 * batchSize)
            self.writeAhead = writeAhead
        }
    }

    private let store: SQLStore
    private let journal: UsageJournal
    private let configuration: Configuration
    private let logger: Logger
    private let queue: PendingRecords
    private let writeAhead: UsageWriteAhead?
    private let doorbell: AsyncStream<Void>
    private let doorbellContinuation: AsyncStream<Void>.Continuation
    private let counters = Mutex(Counters())
    /// Serialises the journal between the writer (journaling failed batches, replaying) and
    /// the spiller (which must not wait for a slow store write to finish).
    private let journalAccess = Mutex(())
    /// The journal's appends and fsyncs, off the cooperative pool.
    private let journalIO = BlockingIO(label: "switchyard.usage-journal")
    private let overflow: AsyncStream<Void>
    private let overflowContinuation: AsyncStream<Void>.Continuation

    public struct Counters: Sendable, Equatable {
        public var written: Int64 = 0
        public var journaled: Int64 = 0
        public var replayed: Int64 = 0
        public var storeFailures: Int64 = 0
        /// Records moved from the full queue to the journal.
        public var spilled: Int64 = 0
    }

    public init(store: SQLStore, configuration: Configuration, logger: Logger) {
        self.store = store
        self.configuration = configuration
        self.journal = UsageJournal(path: configuration.journalPath)
        self.logger = logger
        let (doorbell, doorbellContinuation) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
        let (overflow, overflowContinuation) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
        (self.doorbell, self.doorbellContinuation) = (doorbell, doorbellContinuation)
        (self.overflow, self.overflowContinuation) = (overflow, overflowContinuation)
        let queue = PendingRecords()
        self.queue = queue
        let enqueue = { @Sendable (records: [(UsageWriteAhead.Sequence, UsageRecord)]) in
            let count = queue.records.withLock { buffer in
                buffer.append(contentsOf: records.map { PendingRecord(sequence: $0.0, record: $0.1) })
                return buffer.count
            }
            if count >= configuration.batchSize { doorbellContinuation.yield() }
            if count > configuration.maxPending { overflowContinuation.yield() }
        }
        self.enqueue = enqueue
        writeAhead =
            configuration.writeAhead
            ? UsageWriteAhead(prefix: configuration.journalPath + ".wal", onWritten: enqueue) : nil
    }

    private let enqueue: @Sendable ([(UsageWriteAhead.Sequence, UsageRecord)]) -> Void

    @discardableResult
    public func record(_ record: UsageRecord) -> UsageReceipt {
        guard let writeAhead else {
            enqueue([(0, record)])
            return .immediate
        }
        return UsageReceipt(sequence: writeAhead.append(record), log: writeAhead)
    }

    public var pendingCount: Int { queue.records.withLock { $0.count } }

    /// The write-ahead log's failed writes and receipts honoured by their deadline (nil: no log).
    public var writeAheadTrouble: (failedWrites: Int, lateReceipts: Int)? {
        writeAhead.map { ($0.failures, $0.late) }
    }
    public var statistics: Counters { counters.withLock { $0 } }

    public func run() async throws {
        await recoverWriteAhead()
        await replayJournal()
        let ticker = Task { [doorbellContinuation, configuration] in
            while !Task.isCancelled {
                try? await Task.sleep(for: configuration.flushInterval)
                doorbellContinuation.yield()
            }
        }
        let spiller = Task { [overflow] in
            for await _ in overflow { await spillOverflow() }
        }
        defer {
            ticker.cancel()
            spiller.cancel()
        }
        await withGracefulShutdownHandler {
            for await _ in doorbell {
                await flush()
            }
        } onGracefulShutdown: { [doorbellContinuation] in
            doorbellContinuation.finish()
        }
        ticker.cancel()
        // Requests still finishing during shutdown may add records until the server has drained;
        // the service group stops this writer after the server, so this is the last word. It asks
        // the store once more even if it refused a batch lately: it may be back, and what it
        // takes now is in reports at once, not only after a restart replays the journal.
        await writeAhead?.stopAndWait()
        await flush()
        writeAhead?.removeSafeSegments()
        logger.info(
            "ledger writer stopped", metadata: ["written": "\(statistics.written)", "journaled": "\(statistics.journaled)"])
    }

    /// Writes everything buffered now. Safe to call from tests.
    ///
    /// Once the store has failed a batch, the rest goes straight to the journal: against a store
    /// that hangs, each batch would otherwise wait out the ledger lane's deadline in turn, and a
    /// shutdown's last flush of a backlog would outlast any grace period (then a SIGKILL loses
    /// what is still in memory).
    public func flush() async {
        var storeFailed = false
        while true {
            // Up to ten batches taken at once: removing from the front of the buffer moves every
            // record behind, which for a backlog of 50,000 in batches of 100 was quadratic.
            let taken = queue.records.withLock { buffer -> [PendingRecord] in
                let taken = Array(buffer.prefix(10 * configuration.batchSize))
                buffer.removeFirst(taken.count)
                return taken
            }
            if taken.isEmpty { break }
            var start = 0
            while start < taken.count, !storeFailed {
                let end = min(start + configuration.batchSize, taken.count)
                storeFailed = await !write(Array(taken[start..<end]))
                start = end
            }
            if start < taken.count {
                guard await journalBatch(Array(taken[start...])) else { break }
            }
        }
        if !storeFailed, !journal.isEmpty { await replayJournal() }
    }

    /// Appends records the store did not take to the journal; on failure they go back to the
    /// front of the queue (never dropped: requests were answered for them).
    private func journalBatch(_ batch: [PendingRecord]) async -> Bool {
        do {
            let records = batch.map(\.record)
            try await journalIO.run { try self.journalAccess.withLock { _ in try self.journal.append(records) } }
            counters.withLock { $0.journaled += Int64(batch.count) }
            writeAhead?.markSafe(batch.map(\.sequence))
            return true
        } catch {
            logger.critical("usage journal write failed; keeping batch in memory", metadata: ["error": "\(error)"])
            queue.records.withLock { $0.insert(contentsOf: batch, at: 0) }
            return false
        }
    }

    /// Moves the newest records beyond half the bound to the journal.
    func spillOverflow() async {
        let spilled = queue.records.withLock { buffer -> [PendingRecord] in
            guard buffer.count > configuration.maxPending else { return [] }
            let keep = configuration.maxPending / 2
            defer { buffer.removeSubrange(keep...) }
            return Array(buffer[keep...])
        }
        guard !spilled.isEmpty else { return }
        do {
            let records = spilled.map(\.record)
            try await journalIO.run { try self.journalAccess.withLock { _ in try self.journal.append(records) } }
            counters.withLock { $0.spilled += Int64(spilled.count) }
            writeAhead?.markSafe(spilled.map(\.sequence))
            logger.warning(
                "ledger queue full (store slower than traffic): spilled records to the journal",
                metadata: ["records": "\(spilled.count)"])
        } catch {
            logger.critical("usage journal write failed; keeping spilled records in memory", metadata: ["error": "\(error)"])
            queue.records.withLock { $0.append(contentsOf: spilled) }
        }
    }

    /// Whether the store took the batch. When it did not, the batch is journaled, or kept in
    /// memory if the disk refuses it too (then retried after a pause).
    private func write(_ batch: [PendingRecord]) async -> Bool {
        do {
            try await store.insertUsage(batch.map(\.record))
            counters.withLock { $0.written += Int64(batch.count) }
            writeAhead?.markSafe(batch.map(\.sequence))
            return true
        } catch {
            counters.withLock { $0.storeFailures += 1 }
            logger.error(
                "usage store write failed; journaling batch", metadata: ["records": "\(batch.count)", "error": "\(error)"])
            if await !journalBatch(batch) { try? await Task.sleep(for: .seconds(1)) }
            return false
        }
    }

    /// Moves what a killed predecessor left in the write-ahead log into the journal (fsync'd),
    /// whence the replay takes it to the store; records already there are skipped by id.
    private func recoverWriteAhead() async {
        guard let writeAhead, !writeAhead.leftovers.isEmpty else { return }
        var recovered = 0
        for file in writeAhead.leftovers {
            do {
                let (records, skipped) = try await journal.readAll(from: file)
                try await journalIO.run { try self.journalAccess.withLock { _ in try self.journal.append(records) } }
                try await journalIO.run { try FileManager.default.removeItem(atPath: file) }
                recovered += records.count
                if skipped > 0 {
                    logger.warning("write-ahead log had a torn last line (killed mid-write)", metadata: ["file": "\(file)"])
                }
            } catch {
                logger.critical(
                    "could not recover the write-ahead log; it stays for the next start",
                    metadata: ["file": "\(file)", "error": "\(error)"])
            }
        }
        if recovered > 0 {
            logger.notice(
                "recovered usage records a killed process left in its write-ahead log", metadata: ["records": "\(recovered)"])
        }
    }

    private func replayJournal() async {
        do {
            guard let file = try journalAccess.withLock({ _ in try journal.beginReplay() }) else { return }
            var replayed = 0
            let skipped = try await journal.forEachBatch(of: configuration.batchSize, from: file) { batch in
                try await store.insertUsage(batch)  // idempotent by record id: a replay cut short can rerun
                replayed += batch.count
            }
            if skipped > 0 {
                logger.warning("usage journal had unreadable lines (torn write at a crash?)", metadata: ["skipped": "\(skipped)"])
            }
            try journalAccess.withLock { _ in try journal.finishReplay() }
            counters.withLock { $0.replayed += Int64(replayed) }
            if replayed > 0 { logger.info("replayed usage journal into the store", metadata: ["records": "\(replayed)"]) }
        } catch {
            logger.warning("usage journal replay deferred: store unavailable", metadata: ["error": "\(error)"])
        }
    }
}

/// A record on its way to the store, with its place in the write-ahead log (0: none).
struct PendingRecord: Sendable {
    var sequence: UsageWriteAhead.Sequence
    var record: UsageRecord
}

/// The writer's queue, a class of its own so the write-ahead log's thread can fill it.
final class PendingRecords: Sendable {
    let records = Mutex<[PendingRecord]>([])
}
