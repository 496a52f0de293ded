/// How requests wait for a deployment whose concurrency limit is reached.
public struct AdmissionQueuePolicy: Hashable, Sendable {
    /// How long a request may wait before it is answered 429.
    public var timeout: Duration
    /// Requests waiting at most; more are answered 429 at once.
    public var maxWaiting: Int

    public init(timeout: Duration = .seconds(10), maxWaiting: Int = 1000) {
        self.timeout = timeout
        self.maxWaiting = maxWaiting
    }
}

/// Priority classes of queued requests: every `interactive` request is served before any `batch` one.
public enum RequestPriority: String, Hashable, Sendable, CaseIterable, Comparable {
    case interactive
    case batch

    public static func < (lhs: RequestPriority, rhs: RequestPriority) -> Bool {
        lhs == .interactive && rhs == .batch
    }
}
