import Synchronization

/// Finished spans waiting for the exporter, at most `capacity` of them: past it a span is
/// dropped and counted, so a collector that is slow or gone costs memory up to the bound and
/// never a request's time. When `batchSize` spans wait, the exporter is woken early.
public final class SpanBuffer: Sendable {
    public let capacity: Int
    public let batchSize: Int
    private let spans: Mutex<[FinishedSpan]>
    private let droppedCount = Atomic<Int>(0)
    private let wake: AsyncStream<Void>.Continuation
    /// Yields when a batch is ready (at most one wake-up pending).
    let wakeUps: AsyncStream<Void>

    public init(capacity: Int, batchSize: Int) {
        self.capacity = max(1, capacity)
        self.batchSize = max(1, min(batchSize, capacity))
        self.spans = Mutex([])
        (wakeUps, wake) = AsyncStream.makeStream(bufferingPolicy: .bufferingNewest(1))
    }

    /// Spans dropped because the buffer was full, since start.
    public var dropped: Int { droppedCount.load(ordering: .relaxed) }

    /// Spans waiting now.
    public var count: Int { spans.withLock { $0.count } }

    func append(_ span: FinishedSpan) {
        let waiting: Int? = spans.withLock { spans in
            guard spans.count < capacity else { return nil }
            spans.append(span)
            return spans.count
        }
        guard let waiting else {
            droppedCount.add(1, ordering: .relaxed)
            return
        }
        if waiting == batchSize { wake.yield() }
    }

    /// Every span waiting, taken out (a swap under the lock: the request threads that append
    /// never wait for more).
    func takeAll() -> [FinishedSpan] {
        // The schedule's tick on an idle buffer takes nothing and makes no new array.
        guard count > 0 else { return [] }
        var next: [FinishedSpan] = []
        // Room for a batch made outside the lock, so appends do not regrow the array step by step.
        next.reserveCapacity(batchSize)
        return spans.withLock { spans in
            swap(&spans, &next)
            return next
        }
    }

    /// Wakes the exporter (its schedule delay has passed).
    func wakeExporter() { wake.yield() }

    /// Ends `wakeUps` (at shutdown).
    func close() { wake.finish() }
}
