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
/// - On graceful shutdown it runs after the HTTP server has drained, and writes everything left.
public final class LedgerWriter: UsageSink, Service {
    public struct Configuration: Sendable {
        public var batchSize: Int
        public var flushInterval: Duration
        public var journalPath: String

        public init(batchSize: Int = 500, flushInterval: Duration = .milliseconds(100), journalPath: String) {
            self.batchSize = batchSize
            self.flushInterval = flushInterval
            self.journalPath = journalPath
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

    public struct Counters: Sendable, Equatable {
        public var written: Int64 = 0
        public var journaled: Int64 = 0
        public var replayed: Int64 = 0
        public var storeFailures: Int64 = 0
    }

    public init(store: SQLStore, configuration: Configuration, logger: Logger) {
        self.store = store
        self.configuration = configuration
        self.journal = UsageJournal(path: configuration.journalPath)
        self.logger = logger
        (doorbell, doorbellContinuation) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
    }

    public func record(_ record: UsageRecord) {
        let count = pending.withLock { buffer in
            buffer.append(record)
            return buffer.count
        }
        if count >= configuration.batchSize { doorbellContinuation.yield() }
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
        defer { ticker.cancel() }
        await withGracefulShutdownHandler {
            for await _ in doorbell {
                await flush()
            }
        } onGracefulShutdown: { [doorbellContinuation] in
            doorbellContinuation.finish()
        }
        ticker.cancel()
        // Requests still finishing during shutdown may add records until the server has drained;
        // the service group stops this writer after the server, so this is the last word.
        await flush()
        logger.info(
            "ledger writer stopped", metadata: ["written": "\(statistics.written)", "journaled": "\(statistics.journaled)"])
    }

    /// Writes everything buffered now. Safe to call from tests.
    public func flush() async {
        while true {
            let batch = pending.withLock { buffer -> [UsageRecord] in
                let taken = Array(buffer.prefix(configuration.batchSize))
                buffer.removeFirst(taken.count)
                return taken
            }
            if batch.isEmpty { break }
            await write(batch)
        }
        if !journal.isEmpty { await replayJournal() }
    }

    private func write(_ batch: [UsageRecord]) async {
        do {
            try await store.insertUsage(batch)
            counters.withLock { $0.written += Int64(batch.count) }
        } catch {
            counters.withLock { $0.storeFailures += 1 }
            logger.error(
                "usage store write failed; journaling batch", metadata: ["records": "\(batch.count)", "error": "\(error)"])
            do {
                try journal.append(batch)
                counters.withLock { $0.journaled += Int64(batch.count) }
            } catch {
                // Neither the store nor the disk takes the batch: keep it in memory and retry,
                // rather than drop records that requests were already answered for.
                logger.critical("usage journal write failed; keeping batch in memory", metadata: ["error": "\(error)"])
                pending.withLock { $0.insert(contentsOf: batch, at: 0) }
                try? await Task.sleep(for: .seconds(1))
            }
        }
    }

    private func replayJournal() async {
        do {
            let (records, skipped) = try journal.readAll()
            if skipped > 0 {
                logger.warning("usage journal had unreadable lines (torn write at a crash?)", metadata: ["skipped": "\(skipped)"])
            }
            guard !records.isEmpty else {
                if skipped > 0 { try journal.truncate() }
                return
            }
            var index = 0
            while index < records.count {
                let chunk = Array(records[index..<min(index + configuration.batchSize, records.count)])
                try await store.insertUsage(chunk)
                index += chunk.count
            }
            try journal.truncate()
            counters.withLock { $0.replayed += Int64(records.count) }
            logger.info("replayed usage journal into the store", metadata: ["records": "\(records.count)"])
        } catch {
            logger.warning("usage journal replay deferred: store unavailable", metadata: ["error": "\(error)"])
        }
    }
}
