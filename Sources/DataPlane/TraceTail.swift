import SwitchyardCore
import Synchronization

/// The tail rule's settings and its allowance: how slow a request must be to be kept, and how
/// many such traces a second at most (a flood of failures must not become a flood of spans).
struct TraceTail: Sendable {
    let slowerThan: Duration
    let allowance: Allowance

    init(slowerThan: Duration, perSecond: Int) {
        self.slowerThan = slowerThan
        self.allowance = Allowance(perSecond: perSecond)
    }

    /// Failures that say something about the gateway or a provider. A client's own (its key,
    /// its request, its limits, budget, policy, leaving) do not keep a trace.
    static func isWorthKeeping(_ errorClass: ErrorClass) -> Bool {
        switch errorClass {
        case .upstreamUnavailable, .upstreamTimeout, .upstreamError, .upstreamOverloaded, .upstreamAuthentication,
            .streamInterrupted, .noHealthyDeployment, .atCapacity, .retryBudgetExhausted, .internalError, .serverShutdown:
            true
        default: false
        }
    }

    /// Up to `perSecond` takes in each wall-clock second.
    final class Allowance: Sendable {
        private let perSecond: Int
        private let used = Mutex<(second: Int64, count: Int)>((0, 0))

        init(perSecond: Int) { self.perSecond = perSecond }

        func take(now: UnixMicros = .now()) -> Bool {
            let second = now.value / 1_000_000
            return used.withLock { used in
                if used.second != second { used = (second, 0) }
                guard used.count < perSecond else { return false }
                used.count += 1
                return true
            }
        }
    }
}
