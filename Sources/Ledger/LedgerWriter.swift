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
public final class LedgerWriter: UsageSink, Service {
    public struct Configuration: Sendable {
        public var batchSize: Int
        public var flushInterval: Duration
        public var journalPath: String
        /// Records held in memory before the newest are spilled to the journal (~1 KiB each).
        public var maxPending: Int

        /// `batchSize` 100, not more: a batch is written in one burst of CPU on a shared machine,
        /// and larger bursts showed up in the request path's p99 (README, Performance).
        public init(
            batchSize: Int = 100, flushInterval: Duration = .milliseconds(100), journalPath: String,
            maxPending: Int = 50_000
        ) {
            self.batchSize = batchSize
            self.flushInterval = flushInterval
            self.journalPath = journalPath
            self.maxPending = max(maxPending, 2 * batchSize)
        }
    }

    private let store: SQLStore
    private let journal: UsageJournal
    private let configuration: Configuration
    private let logger: Logger
    private let pending = Mutex<[UsageRecord]>([])
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
        (doorbell, doorbellContinuation) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
        (overflow, overflowContinuation) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
    }

    public func record(_ record: UsageRecord) {
        let count = pending.withLock { buffer in
            buffer.append(record)
            return buffer.count
        }
        if count >= configuration.batchSize { doorbellContinuation.yield() }
        if count > configuration.maxPending { overflowContinuation.yield() }
    }

    public var pendingCount: Int { pending.withLock { $0.count } }
    public var statistics: Counters { counters.withLock { $0 } }

    public func run() async throws {
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
        await flush()
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
            let taken = pending.withLock { buffer -> [UsageRecord] in
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
    private func journalBatch(_ batch: [UsageRecord]) async -> Bool {
        do {
            try await journalIO.run { try self.journalAccess.withLock { _ in try self.journal.append(batch) } }
            counters.withLock { $0.journaled += Int64(batch.count) }
            return true
        } catch {
            logger.critical("usage journal write failed; keeping batch in memory", metadata: ["error": "\(error)"])
            pending.withLock { $0.insert(contentsOf: batch, at: 0) }
            return false
        }
    }

    /// Moves the newest records beyond half the bound to the journal.
    func spillOverflow() async {
        let spilled = pending.withLock { buffer -> [UsageRecord] in
            guard buffer.count > configuration.maxPending else { return [] }
            let keep = configuration.maxPending / 2
            defer { buffer.removeSubrange(keep...) }
            return Array(buffer[keep...])
        }
        guard !spilled.isEmpty else { return }
        do {
            try await journalIO.run { try self.journalAccess.withLock { _ in try self.journal.append(spilled) } }
            counters.withLock { $0.spilled += Int64(spilled.count) }
            logger.warning(
                "ledger queue full (store slower than traffic): spilled records to the journal",
                metadata: ["records": "\(spilled.count)"])
        } catch {
            logger.critical("usage journal write failed; keeping spilled records in memory", metadata: ["error": "\(error)"])
            pending.withLock { $0.append(contentsOf: spilled) }
        }
    }

    /// Whether the store took the batch. When it did not, the batch is journaled, or kept in
    /// memory if the disk refuses it too (then retried after a pause).
    private func write(_ batch: [UsageRecord]) async -> Bool {
        do {
            try await store.insertUsage(batch)
            counters.withLock { $0.written += Int64(batch.count) }
            return true
        } catch {
            counters.withLock { $0.storeFailures += 1 }
            logger.error(
                "usage store write failed; journaling batch", metadata: ["records": "\(batch.count)", "error": "\(error)"])
            if await !journalBatch(batch) { try? await Task.sleep(for: .seconds(1)) }
            return false
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
