import Logging
import ServiceLifecycle
import Storage
import SwitchyardCore
import Synchronization

/// Appends the gateway's own audit entries (refusals, budget events) without making the request
/// wait: entries queue here and a background loop appends them in order. The queue is bounded;
/// entries beyond it are counted and logged, so a flood of refused requests cannot exhaust memory.
public final class AuditTrail: Service {
    private let store: SQLStore
    private let logger: Logger
    private let capacity: Int
    private let pending = Mutex<[AuditEntry]>([])
    private let dropped = Atomic<Int>(0)
    private let (wakeups, wake) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))

    public init(store: SQLStore, capacity: Int = 10_000, logger: Logger) {
        self.store = store
        self.capacity = capacity
        self.logger = logger
    }

    /// Queues an entry; never blocks.
    public func record(_ entry: AuditEntry) {
        let accepted = pending.withLock { pending in
            guard pending.count < capacity else { return false }
            pending.append(entry)
            return true
        }
        if accepted { wake.yield() } else { dropped.add(1, ordering: .relaxed) }
    }

    /// Entries lost to a full queue since start.
    public var droppedCount: Int { dropped.load(ordering: .relaxed) }

    public func run() async throws {
        await cancelWhenGracefulShutdown {
            for await _ in self.wakeups {
                await self.flush()
            }
        }
        // Whatever was queued before shutdown is still written.
        await flush()
    }

    /// Appends everything queued so far; on a store error the entries stay queued for the next try.
    public func flush() async {
        while true {
            let batch = pending.withLock { pending -> [AuditEntry] in
                let batch = Array(pending.prefix(500))
                return batch
            }
            guard !batch.isEmpty else { return }
            do {
                try await store.appendAudit(batch)
                pending.withLock { $0.removeFirst(batch.count) }
            } catch {
                logger.warning("audit append failed; will retry", metadata: ["error": "\(error)", "queued": "\(batch.count)"])
                try? await Task.sleep(for: .seconds(1))
                wake.yield()
                return
            }
        }
    }
}
