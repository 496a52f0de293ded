import SwitchyardCore
import Synchronization

/// Watches the scopes with a `spend_per_hour` limit: each keeps its spend in one-minute slots
/// over the last hour, and a request that takes the rolling hour past the limit trips the guard.
///
/// Shared by a fleet (`shared`), each slot also holds what the other replicas spent in that
/// minute, as of this replica's last report to the fleet's store (`dueReports`, every second):
/// the rolling hour is the fleet's.
public final class RunawayGuard: Sendable {
    struct Slot {
        var minute: Int64 = -1
        /// Spent through this replica.
        var local: Int64 = 0
        /// Spent through the other replicas, at the last report.
        var others: Int64 = 0
    }

    struct Window {
        var limit: Money
        /// `on_exceed: cut`: streams are cut before their running cost takes the hour past the limit.
        var cuts = false
        /// Running costs held by streams in flight under a limit that cuts (settled into the
        /// slots when they end).
        var pending: Int64 = 0
        /// Spend per minute, indexed by minute number modulo 60.
        var slots = [Slot](repeating: Slot(), count: 60)
        var lastReport: ContinuousClock.Instant?

        /// The slot of `minute`, emptied if it still held an older minute.
        mutating func slot(_ minute: Int64) -> Int {
            let index = Int(minute % 60)
            if slots[index].minute < minute { slots[index] = Slot(minute: minute) }
            return index
        }

        mutating func add(_ nanos: Int64, minute: Int64) -> Int64 {
            let index = slot(minute)
            if slots[index].minute == minute { slots[index].local = slots[index].local.addingClamped(nanos) }
            return total(at: minute)
        }

        func total(at minute: Int64) -> Int64 {
            slots.reduce(0) { sum, slot in
                minute - slot.minute < 60 && slot.minute <= minute
                    ? sum.addingClamped(slot.local.addingClamped(slot.others)) : sum
            }
        }
    }

    private let windows: Mutex<[GovernanceScope: Window]>
    private let watched: Set<GovernanceScope>
    let shared: Bool

    /// With `previous`, a scope watched before keeps its last hour of spend.
    public init(_ limits: [RateLimit], carryingOver previous: RunawayGuard? = nil, shared: Bool = false) {
        let kept = previous?.windows.withLock { $0 } ?? [:]
        let windows = limits.compactMap { limit in
            limit.spendPerHour.map { spendPerHour in
                var window = kept[limit.scope] ?? Window(limit: spendPerHour)
                window.limit = spendPerHour
                window.cuts = limit.onExceed == .cut
                return (limit.scope, window)
            }
        }
        self.windows = Mutex(Dictionary(windows, uniquingKeysWith: { first, _ in first }))
        self.watched = Set(windows.map { $0.0 })
        self.shared = shared
    }

    /// Adds a finished request's cost, giving back the hold its stream had (`released`) under the
    /// same lock, so no other stream sees the room in between; returns the scopes whose rolling
    /// hour it took past the limit.
    public func record(
        _ cost: Money, for principal: Principal, releasing released: Int64 = 0, at time: UnixMicros = .now()
    ) -> [(GovernanceScope, spent: Money, limit: Money)] {
        guard !watched.isEmpty, cost.nanos > 0 || released > 0 else { return [] }
        let scopes = principal.scopes.filter(watched.contains)
        guard !scopes.isEmpty else { return [] }
        let minute = time.value / 60_000_000
        return windows.withLock { windows in
            var tripped: [(GovernanceScope, spent: Money, limit: Money)] = []
            for scope in scopes {
                // A hold goes back wherever one is, even if the limit stopped cutting meanwhile.
                if released > 0, var window = windows[scope], window.pending > 0 {
                    window.pending = max(0, window.pending - released)
                    windows[scope] = window
                }
                guard cost.nanos > 0, var window = windows[scope], window.limit.currency == cost.currency else { continue }
                let total = window.add(cost.nanos, minute: minute)
                windows[scope] = window
                if total > window.limit.nanos {
                    tripped.append((scope, Money(nanos: total, currency: cost.currency), window.limit))
                }
            }
            return tripped
        }
    }

    /// Whether a stream of `principal` is watched: some scope of it cuts.
    func cuts(_ principal: Principal) -> Bool {
        guard !watched.isEmpty else { return false }
        let scopes = principal.scopes.filter(watched.contains)
        return !scopes.isEmpty && windows.withLock { windows in scopes.contains { windows[$0]?.cuts == true } }
    }

    /// Holds a stream's running cost up to `total` in every scope that cuts, if each rolling hour
    /// (spent, the other streams' holds and this one's) stays within its limit; else the refusal
    /// that ends the stream, and nothing changes.
    func extend(
        _ held: inout Int64, to total: Int64, currency: String, for principal: Principal, at time: UnixMicros = .now()
    ) -> BudgetRefusal? {
        let minute = time.value / 60_000_000
        let scopes = principal.scopes.filter(watched.contains)
        let delta = total - held
        return windows.withLock { windows in
            for scope in scopes {
                // A limit in another currency does not count this cost (as `record` does not).
                guard let window = windows[scope], window.cuts, window.limit.currency == currency else { continue }
                let spent = window.total(at: minute)
                if spent.addingClamped(window.pending).addingClamped(delta) > window.limit.nanos {
                    return Self.refusal(scope, window, spent: spent)
                }
            }
            for scope in scopes {
                guard var window = windows[scope], window.cuts, window.limit.currency == currency else { continue }
                window.pending = window.pending.addingClamped(delta)
                windows[scope] = window
            }
            held = total
            return nil
        }
    }

    static func refusal(_ scope: GovernanceScope, _ window: Window, spent: Int64) -> BudgetRefusal {
        // Told as a budget (`budget_exceeded`), named for the limit: `spend_per_hour:<scope>`.
        BudgetRefusal(
            budget: Budget(
                name: "spend_per_hour:\(scope.description)", scope: scope, period: .day, limit: window.limit,
                onExceed: .cut),
            spent: spent, reserved: window.pending, outsideWindow: false)
    }

    /// Reports due to the fleet's store: each watched scope's spend, once a second (`final`: now).
    func dueReports(
        replica: String, now: ContinuousClock.Instant, at time: UnixMicros = .now(), final: Bool = false
    ) -> [RunawaySpendCall] {
        guard shared else { return [] }
        let minute = time.value / 60_000_000
        return windows.withLock { windows in
            var calls: [RunawaySpendCall] = []
            for (scope, window) in windows {
                if let last = window.lastReport, now - last < .seconds(1), !final { continue }
                windows[scope]?.lastReport = now
                var minutes: [Int64: Int64] = [:]
                for slot in window.slots where minute - slot.minute < 60 && slot.local > 0 {
                    minutes[slot.minute] = slot.local
                }
                calls.append(
                    RunawaySpendCall(replica: replica, scope: scope, currency: window.limit.currency, minutes: minutes))
            }
            return calls
        }
    }

    /// Takes the fleet's spend per minute: the other replicas' part of each minute is the
    /// fleet's less what this replica reported for it (none for a minute the store no longer has).
    func apply(_ call: RunawaySpendCall, _ spend: RunawayFleetSpend) {
        windows.withLock { windows in
            guard var window = windows[call.scope] else { return }
            for index in window.slots.indices where spend.minutes[window.slots[index].minute] == nil {
                window.slots[index].others = 0
            }
            for (minute, total) in spend.minutes {
                let index = window.slot(minute)
                guard window.slots[index].minute == minute else { continue }
                window.slots[index].others = max(0, total - (call.minutes[minute] ?? 0))
            }
            windows[call.scope] = window
        }
    }
}
