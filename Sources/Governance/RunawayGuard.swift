import SwitchyardCore
import Synchronization

/// Watches the scopes with a `spend_per_hour` limit: each keeps its spend in one-minute slots
/// over the last hour, and a request that takes the rolling hour past the limit trips the guard.
public final class RunawayGuard: Sendable {
    struct Window {
        var limit: Money
        /// Spend per minute, indexed by minute number modulo 60, with the minute it belongs to.
        var slots = [(minute: Int64, nanos: Int64)](repeating: (-1, 0), count: 60)

        mutating func add(_ nanos: Int64, minute: Int64) -> Int64 {
            let index = Int(minute % 60)
            if slots[index].minute != minute { slots[index] = (minute, 0) }
            slots[index].nanos += nanos
            return slots.reduce(0) { minute - $1.minute < 60 && $1.minute <= minute ? $0 + $1.nanos : $0 }
        }
    }

    private let windows: Mutex<[GovernanceScope: Window]>
    private let watched: Set<GovernanceScope>

    /// With `previous`, a scope watched before keeps its last hour of spend.
    public init(_ limits: [RateLimit], carryingOver previous: RunawayGuard? = nil) {
        let kept = previous?.windows.withLock { $0 } ?? [:]
        let windows = limits.compactMap { limit in
            limit.spendPerHour.map { spendPerHour in
                var window = kept[limit.scope] ?? Window(limit: spendPerHour)
                window.limit = spendPerHour
                return (limit.scope, window)
            }
        }
        self.windows = Mutex(Dictionary(windows, uniquingKeysWith: { first, _ in first }))
        self.watched = Set(windows.map { $0.0 })
    }

    /// Adds a finished request's cost; returns the scopes whose rolling hour it took past the limit.
    public func record(_ cost: Money, for principal: Principal, at time: UnixMicros = .now()) -> [(
        GovernanceScope, spent: Money, limit: Money
    )] {
        guard !watched.isEmpty, cost.nanos > 0 else { return [] }
        let scopes = principal.scopes.filter(watched.contains)
        guard !scopes.isEmpty else { return [] }
        let minute = time.value / 60_000_000
        return windows.withLock { windows in
            var tripped: [(GovernanceScope, spent: Money, limit: Money)] = []
            for scope in scopes {
                guard var window = windows[scope], window.limit.currency == cost.currency else { continue }
                let total = window.add(cost.nanos, minute: minute)
                windows[scope] = window
                if total > window.limit.nanos {
                    tripped.append((scope, Money(nanos: total, currency: cost.currency), window.limit))
                }
            }
            return tripped
        }
    }
}
