import SwitchyardCore
import Synchronization

/// Keeps retries on a route to a bounded share of its traffic, so an outage does not multiply
/// the load on whatever is still up: over the last ten seconds, retries may be at most
/// `budgetRatio × requests + minimumRetriesPerSecond × 10`.
public final class RetryBudget: Sendable {
    private static let window: Duration = .seconds(10)
    private let policy: RetryPolicy
    private let state = Mutex(State())

    struct State {
        var requests: [(ContinuousClock.Instant, Int)] = []
        var retries: [(ContinuousClock.Instant, Int)] = []
    }

    public init(policy: RetryPolicy) {
        self.policy = policy
    }

    public func recordRequest(at now: ContinuousClock.Instant = .now) {
        state.withLock { Self.add(&$0.requests, now) }
    }

    /// Takes one retry from the budget if there is one left.
    public func tryWithdraw(at now: ContinuousClock.Instant = .now) -> Bool {
        state.withLock { state in
            let requests = Self.total(&state.requests, now)
            let retries = Self.total(&state.retries, now)
            let allowance = policy.budgetRatio * Double(requests) + Double(policy.minimumRetriesPerSecond) * 10
            guard Double(retries) + 1 <= allowance else { return false }
            Self.add(&state.retries, now)
            return true
        }
    }

    /// Counts per 100 ms slot, and slots older than the window dropped as new ones open, so
    /// memory stays bounded at any request rate, also on a route that never retries.
    private static func add(_ series: inout [(ContinuousClock.Instant, Int)], _ now: ContinuousClock.Instant) {
        if let last = series.last, now - last.0 < .milliseconds(100) {
            series[series.count - 1].1 += 1
        } else {
            _ = total(&series, now)
            series.append((now, 1))
        }
    }

    /// Slots held, for tests of the bound.
    var slotCount: Int { state.withLock { $0.requests.count + $0.retries.count } }

    private static func total(_ series: inout [(ContinuousClock.Instant, Int)], _ now: ContinuousClock.Instant) -> Int {
        let oldest = now - window
        if let firstKept = series.firstIndex(where: { $0.0 > oldest }) {
            series.removeFirst(firstKept)
        } else {
            series.removeAll()
        }
        return series.reduce(0) { $0 + $1.1 }
    }
}

/// Jittered exponential backoff ("full jitter"): a random wait between zero and
/// `min(max, base × 2^(retry-1))`, but never shorter than the upstream's `Retry-After`.
public enum Backoff {
    /// The wait before retry number `retry` (1 for the first retry), or nil when the upstream
    /// asked for a longer pause than the route allows (try another deployment instead).
    public static func delay(
        retry: Int, retryAfter: Duration?, policy: RetryPolicy, random: Double = SharedRandom.unit()
    ) -> Duration? {
        if let retryAfter, retryAfter > policy.maxRetryAfter { return nil }
        let exponent = min(max(retry - 1, 0), 30)
        let ceiling = min(policy.backoffMax, policy.backoffBase * (1 << exponent))
        let jittered = ceiling * min(max(random, 0), 1)
        return max(jittered, retryAfter ?? .zero)
    }
}
