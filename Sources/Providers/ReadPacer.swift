import NIOCore
import Synchronization

/// Back-pressure for a response body: the connection stops reading while `high` pieces wait for
/// a slow consumer, and reads again once it has taken them down to `low`.
final class ReadPacer: @unchecked Sendable {
    static let high = 64
    static let low = 16
    private let pending = Atomic<Int>(0)
    private let channel: any Channel
    /// Told when reading resumes; set once, before the exchange starts, read on the event loop.
    weak var exchange: UpstreamExchange?

    init(_ channel: any Channel) { self.channel = channel }

    /// On the event loop, as a piece is handed over; true when this paused reading.
    func produced() -> Bool {
        guard pending.add(1, ordering: .relaxed).newValue == Self.high else { return false }
        try? channel.syncOptions?.setOption(.autoRead, value: false)
        return true
    }

    /// By the consumer, as it takes a piece.
    func consumed() {
        if pending.subtract(1, ordering: .relaxed).newValue == Self.low {
            channel.eventLoop.execute { [self] in
                try? channel.syncOptions?.setOption(.autoRead, value: true)
                channel.read()
                exchange?.readingResumed()
            }
        }
    }
}
