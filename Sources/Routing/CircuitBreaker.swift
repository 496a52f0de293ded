import SwitchyardCore

/// The circuit breaker of one deployment, as an explicit state machine.
///
/// ```
///            failures ≥ threshold              open duration elapsed
///  closed ───────────────────────────▶ open ─────────────────────────▶ half-open
///    ▲                                  ▲                                 │
///    │        enough probes succeeded   │         a probe failed          │
///    └──────────────────────────────────┼─────────────────────────────────┤
///                                       └─────────────────────────────────┘
/// ```
/// Pure value type: the caller supplies the time, so every transition is unit-testable.
public struct CircuitBreaker: Sendable {
    public enum State: Equatable, Sendable {
        case closed
        case open(until: ContinuousClock.Instant)
        case halfOpen(probesInFlight: Int, successes: Int)
    }

    /// What the breaker says about sending one more request now.
    public enum Admission: Equatable, Sendable {
        case allowed
        /// Allowed as one of the limited half-open probes; report its outcome with `probe: true`.
        case probe
        case rejected(retryAfter: Duration)
    }

    public private(set) var state: State = .closed
    public let policy: CircuitBreakerPolicy
    private var consecutiveFailures = 0
    private var window: RollingOutcomes

    public init(policy: CircuitBreakerPolicy) {
        self.policy = policy
        self.window = RollingOutcomes(window: policy.window)
    }

    /// Whether a request would be admitted now, without taking a probe slot.
    public func wouldAdmit(at now: ContinuousClock.Instant) -> Bool {
        switch state {
        case .closed: true
        case .open(let until): now >= until
        case .halfOpen(let probes, let successes): probes < policy.halfOpenProbes - successes
        }
    }

    public mutating func admit(at now: ContinuousClock.Instant) -> Admission {
        switch state {
        case .closed:
            return .allowed
        case .open(let until):
            guard now >= until else { return .rejected(retryAfter: until - now) }
            state = .halfOpen(probesInFlight: 1, successes: 0)
            return .probe
        case .halfOpen(let probes, let successes):
            guard probes < policy.halfOpenProbes - successes else {
                return .rejected(retryAfter: .milliseconds(100))
            }
            state = .halfOpen(probesInFlight: probes + 1, successes: successes)
            return .probe
        }
    }

    /// Reports how an admitted request ended. `probe` must be true for requests admitted as probes.
    public mutating func record(success: Bool, probe: Bool, at now: ContinuousClock.Instant) {
        switch state {
        case .closed:
            window.record(success: success, at: now)
            consecutiveFailures = success ? 0 : consecutiveFailures + 1
            if consecutiveFailures >= policy.consecutiveFailures || failureRateExceeded(at: now) {
                trip(at: now)
            }
        case .open:
            // A request admitted before the breaker opened: its outcome changes nothing now.
            break
        case .halfOpen(let probes, let successes):
            guard probe else { return }  // a late result from before the breaker opened
            if !success {
                trip(at: now)
            } else if successes + 1 >= policy.halfOpenProbes {
                close()
            } else {
                state = .halfOpen(probesInFlight: max(0, probes - 1), successes: successes + 1)
            }
        }
    }

    /// A probe that ended without telling anything about the deployment (e.g. the client left).
    public mutating func releaseProbe() {
        if case .halfOpen(let probes, let successes) = state {
            state = .halfOpen(probesInFlight: max(0, probes - 1), successes: successes)
        }
    }

    /// Opens the breaker from outside (an active health check failed).
    public mutating func forceOpen(at now: ContinuousClock.Instant) {
        trip(at: now)
    }

    private func failureRateExceeded(at now: ContinuousClock.Instant) -> Bool {
        let (successes, failures) = window.totals(at: now)
        let total = successes + failures
        return total >= policy.minimumRequests && Double(failures) >= policy.failureRate * Double(total)
    }

    private mutating func trip(at now: ContinuousClock.Instant) {
        state = .open(until: now + policy.openDuration)
        consecutiveFailures = 0
        window.reset()
    }

    private mutating func close() {
        state = .closed
        consecutiveFailures = 0
        window.reset()
    }
}

/// Success and failure counts over a sliding window, kept in ten buckets.
struct RollingOutcomes: Sendable {
    private static let bucketCount = 10
    private let bucketWidth: Duration
    private var buckets: [(start: ContinuousClock.Instant?, successes: Int, failures: Int)]

    init(window: Duration) {
        bucketWidth = window / Self.bucketCount
        buckets = Array(repeating: (nil, 0, 0), count: Self.bucketCount)
    }

    mutating func record(success: Bool, at now: ContinuousClock.Instant) {
        let index = bucketIndex(now)
        let start = bucketStart(now)
        if buckets[index].start != start { buckets[index] = (start, 0, 0) }
        if success { buckets[index].successes += 1 } else { buckets[index].failures += 1 }
    }

    func totals(at now: ContinuousClock.Instant) -> (successes: Int, failures: Int) {
        let oldest = now - bucketWidth * Self.bucketCount
        return buckets.reduce((0, 0)) { sum, bucket in
            guard let start = bucket.start, start > oldest else { return sum }
            return (sum.0 + bucket.successes, sum.1 + bucket.failures)
        }
    }

    mutating func reset() {
        buckets = Array(repeating: (nil, 0, 0), count: Self.bucketCount)
    }

    private func ticks(_ now: ContinuousClock.Instant) -> Int64 {
        let since = now - Self.epoch
        return since.nanoseconds / max(1, bucketWidth.nanoseconds)
    }

    private func bucketIndex(_ now: ContinuousClock.Instant) -> Int { Int(ticks(now) % Int64(Self.bucketCount)) }
    private func bucketStart(_ now: ContinuousClock.Instant) -> ContinuousClock.Instant {
        Self.epoch + bucketWidth * Int(ticks(now))
    }

    /// A fixed origin for bucket arithmetic; any instant works as long as it never changes.
    private static let epoch = ContinuousClock.now - .seconds(86_400 * 365)
}

extension Duration {
    var nanoseconds: Int64 {
        let (seconds, attoseconds) = components
        return seconds * 1_000_000_000 + attoseconds / 1_000_000_000
    }
}
