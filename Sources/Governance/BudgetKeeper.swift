import Foundation
import SwitchyardCore
import Synchronization

/// Keeps every budget's spend for its current period and admits requests against it.
///
/// A request reserves its worst-case cost in every budget of its scopes before it is sent and
/// settles to its actual cost when it ends. A budget refuses a request when spent + reserved +
/// the request's maximum would exceed its limit, so concurrent requests cannot push spend past
/// the limit except by what requests cost beyond their own reservation (an input estimate that
/// was low). Counters live in this process; `load` seeds them from the ledger.
///
/// Shared by a fleet (`shared`), a budget admits against this replica's lease instead of the
/// limit: `FleetLeases` keeps the lease topped up from the shared store in the background and
/// reports what was spent, so the fleet's total stays within the limit (see `BudgetShare`).
public final class BudgetKeeper: Sendable {
    struct Account {
        var budget: Budget
        var period: CalendarPeriod?
        var spent: Int64 = 0
        var reserved: Int64 = 0
        var announced: Set<Decimal> = []
        var exhaustedAnnounced = false
        /// This replica's part when the fleet shares the budget.
        var share: BudgetShare?

        /// Moves to the period containing `now`, starting from zero when it changed.
        mutating func roll(to now: UnixMicros) {
            // The common case, without calendar arithmetic: still inside the current period.
            if let period, period.start <= now && now < period.end { return }
            let current = budget.period.containing(now)
            guard current != period else { return }
            period = current
            spent = 0
            announced = []
            exhaustedAnnounced = false
            share?.reset()
        }

        /// Room for `amount` more: in the lease when shared, else under the limit.
        func admits(_ amount: Int64) -> Bool {
            if let share { return reserved.addingClamped(amount) <= share.available }
            return spent.addingClamped(reserved).addingClamped(amount) <= budget.limit.nanos
        }
    }

    let accounts: Mutex<[Account]>
    private let byScope: [GovernanceScope: [Int]]
    let byName: [String: Int]

    /// With `previous`, a budget kept under the same name and period keeps its spend, reservations
    /// and announced alerts (live governance changes must not reset counters).
    public init(
        _ budgets: [Budget], carryingOver previous: BudgetKeeper? = nil, shared: Bool = false, now: UnixMicros = .now()
    ) {
        let kept = previous?.accounts.withLock { $0 } ?? []
        var accounts = budgets.map { budget in
            guard var account = kept.first(where: { $0.budget.name == budget.name && $0.budget.period == budget.period })
            else { return Account(budget: budget, share: shared ? BudgetShare() : nil) }
            if shared && account.share == nil { account.share = BudgetShare() }
            account.budget = budget
            account.announced = account.announced.filter(budget.alertThresholds.contains)
            account.exhaustedAnnounced = account.exhaustedAnnounced && account.spent >= budget.limit.nanos
            return account
        }
        for index in accounts.indices { accounts[index].roll(to: now) }
        self.accounts = Mutex(accounts)
        var byScope: [GovernanceScope: [Int]] = [:]
        for (index, budget) in budgets.enumerated() { byScope[budget.scope, default: []].append(index) }
        self.byScope = byScope
        self.byName = Dictionary(budgets.enumerated().map { ($1.name, $0) }, uniquingKeysWith: { first, _ in first })
    }

    /// The budgets `previous` did not have with the same period: their spend must be seeded.
    public func budgetsNew(since previous: BudgetKeeper?) -> [Budget] {
        let kept = previous?.budgets ?? []
        return budgets.filter { budget in !kept.contains { $0.name == budget.name && $0.period == budget.period } }
    }

    public var budgets: [Budget] { accounts.withLock { $0.map(\.budget) } }

    /// Seeds a budget's spend for its current period (from the ledger at start-up).
    public func load(budget name: String, period: CalendarPeriod, spent: Int64) {
        accounts.withLock { accounts in
            guard let index = accounts.firstIndex(where: { $0.budget.name == name }), accounts[index].period == period
            else { return }
            accounts[index].spent = spent
            if var share = accounts[index].share, !share.contacted {
                share.fleetSpent = spent
                accounts[index].share = share
            }
            // Thresholds already behind us are not announced again after a restart.
            for (fraction, nanos) in accounts[index].budget.thresholdNanos where spent >= nanos {
                accounts[index].announced.insert(fraction)
            }
            accounts[index].exhaustedAnnounced = spent >= accounts[index].budget.limit.nanos
        }
    }

    /// Reserves `maximum` in every budget of `scopes`, or names the budget that refuses. A shared
    /// budget whose lease is short refuses here; `attempt` says so instead, to lease and retry.
    public func reserve(_ scopes: [GovernanceScope], maximum: Money, now: UnixMicros = .now())
        -> Result<BudgetReservation, BudgetRefusal>
    {
        switch attempt(scopes, maximum: maximum, now: now) {
        case .reserved(let reservation): .success(reservation)
        case .refused(let refusal): .failure(refusal)
        case .short(let needs): .failure(needs[0].refusal)
        }
    }

    /// Reserves `maximum` in every budget of `scopes`; nothing is held unless all admit it.
    public func attempt(_ scopes: [GovernanceScope], maximum: Money, now: UnixMicros = .now()) -> BudgetAttempt {
        let indices = scopes.flatMap { byScope[$0] ?? [] }
        guard !indices.isEmpty else { return .reserved(BudgetReservation(entries: [])) }
        return accounts.withLock { accounts in
            var entries: [BudgetReservation.Entry] = []
            var reserving: [Int] = []
            var needs: [BudgetLeaseNeed] = []
            for index in indices {
                accounts[index].roll(to: now)
                let account = accounts[index]
                // A budget counts only its own currency; a fixed window not yet open or past refuses.
                guard account.budget.limit.currency == maximum.currency else { continue }
                guard let period = account.period else {
                    return .refused(BudgetRefusal(budget: account.budget, spent: 0, reserved: 0, outsideWindow: true))
                }
                if !account.admits(maximum.nanos) {
                    let refusal = BudgetRefusal(
                        budget: account.budget, spent: account.spent, reserved: account.reserved, outsideWindow: false)
                    // A shared budget may have room elsewhere in the fleet, unless its store is out
                    // of reach or had none a moment ago.
                    guard let share = account.share, !share.fallback, !share.isDry(at: now),
                        account.spent.addingClamped(account.reserved).addingClamped(maximum.nanos)
                            <= account.budget.limit.nanos
                    else { return .refused(refusal) }
                    needs.append(
                        BudgetLeaseNeed(budget: account.budget.name, period: period, maximum: maximum.nanos, refusal: refusal))
                    continue
                }
                entries.append(
                    .init(
                        budget: account.budget.name, periodStart: period.start, amount: maximum.nanos,
                        cut: account.budget.onExceed == .cut))
                reserving.append(index)
            }
            guard needs.isEmpty else { return .short(needs) }
            for (entry, index) in zip(entries, reserving) {
                accounts[index].reserved = accounts[index].reserved.addingClamped(entry.amount)
                accounts[index].share?.admitted(entry.amount, at: now)
            }
            return .reserved(BudgetReservation(entries: entries))
        }
    }

    /// Grows `reservation` to `total` in every budget that cuts (`on_exceed: cut`), or names the
    /// budget that has no room: a stream whose running cost outgrew what it reserved asks this.
    public func extend(_ reservation: inout BudgetReservation, to total: Int64, now: UnixMicros = .now())
        -> BudgetExtension
    {
        accounts.withLock { accounts in
            var growing: [(entry: Int, account: Int, amount: Int64)] = []
            var stale: [Int] = []
            var needs: [BudgetLeaseNeed] = []
            for (position, entry) in reservation.entries.enumerated() where entry.cut && entry.amount < total {
                guard let index = byName[entry.budget] else { continue }
                accounts[index].roll(to: now)
                let account = accounts[index]
                // A period that rolled over since admission: its spend counts in the old period,
                // which is over; nothing to cover (and no need to ask again).
                guard let period = account.period, period.start == entry.periodStart else {
                    stale.append(position)
                    continue
                }
                let more = total.subtractingClamped(entry.amount)
                if !account.admits(more) {
                    let refusal = BudgetRefusal(
                        budget: account.budget, spent: account.spent, reserved: account.reserved, outsideWindow: false)
                    guard let share = account.share, !share.fallback, !share.isDry(at: now),
                        account.spent.addingClamped(account.reserved).addingClamped(more) <= account.budget.limit.nanos
                    else { return .refused(refusal) }
                    needs.append(BudgetLeaseNeed(budget: account.budget.name, period: period, maximum: more, refusal: refusal))
                    continue
                }
                growing.append((position, index, more))
            }
            guard needs.isEmpty else { return .short(needs) }
            for (position, index, more) in growing {
                accounts[index].reserved = accounts[index].reserved.addingClamped(more)
                reservation.entries[position].amount = total
            }
            for position in stale { reservation.entries[position].cut = false }
            return .covered
        }
    }

    /// Replaces a reservation by the actual cost; returns the thresholds and limits this crossed.
    public func settle(_ reservation: BudgetReservation, actual: Money) -> [BudgetEvent] {
        guard !reservation.entries.isEmpty else { return [] }
        return accounts.withLock { accounts in
            var events: [BudgetEvent] = []
            for entry in reservation.entries {
                // By name: the reservation may come from before a live change replaced this keeper.
                guard let index = byName[entry.budget] else { continue }
                var account = accounts[index]
                // Released whatever the period (a request in flight at midnight still held it);
                // never below zero: a reservation made while a live change swapped keepers was not copied.
                account.reserved = max(0, account.reserved.subtractingClamped(entry.amount))
                // Its spend counts in the period it was admitted in, as the ledger counts it.
                guard account.period?.start == entry.periodStart else {
                    accounts[index] = account
                    continue
                }
                if var share = account.share {
                    share.settle(actual.nanos)
                    account.spent = share.spent
                    account.share = share
                } else {
                    account.spent = account.spent.addingClamped(actual.nanos)
                }
                for (fraction, nanos) in account.budget.thresholdNanos
                where account.spent >= nanos && !account.announced.contains(fraction) {
                    account.announced.insert(fraction)
                    events.append(.threshold(budget: account.budget, fraction: fraction, spent: account.spent))
                }
                if account.spent >= account.budget.limit.nanos && !account.exhaustedAnnounced {
                    account.exhaustedAnnounced = true
                    events.append(.exhausted(budget: account.budget, spent: account.spent))
                }
                accounts[index] = account
            }
            return events
        }
    }

    /// The state of every budget now, for reports and the admin API.
    public func status(now: UnixMicros = .now()) -> [BudgetStatus] {
        accounts.withLock { accounts in
            accounts.indices.map { index in
                accounts[index].roll(to: now)
                let account = accounts[index]
                return BudgetStatus(
                    budget: account.budget, period: account.period, spent: account.spent, reserved: account.reserved)
            }
        }
    }
}

/// What a reservation attempt came to.
public enum BudgetAttempt: Sendable {
    case reserved(BudgetReservation)
    case refused(BudgetRefusal)
    /// Shared budgets whose lease here is too small for the request: lease more, then try again.
    case short([BudgetLeaseNeed])
}

public struct BudgetLeaseNeed: Sendable {
    public var budget: String
    public var period: CalendarPeriod
    /// The request's worst-case cost: the lease must cover it on top of what is reserved.
    public var maximum: Int64
    /// The answer if the fleet has no more either.
    public var refusal: BudgetRefusal
}

/// What a request holds in the budgets it was admitted against.
public struct BudgetReservation: Sendable {
    struct Entry: Sendable {
        var budget: String
        var periodStart: UnixMicros
        var amount: Int64
        /// The budget says `on_exceed: cut`: a stream may not outgrow this amount unless it grows.
        var cut = false
    }

    var entries: [Entry]

    public var isEmpty: Bool { entries.isEmpty }

    /// What the request may cost before a budget that cuts must cover more (`Int64.max`: none cuts).
    public var covered: Int64 { entries.lazy.filter(\.cut).map(\.amount).min() ?? .max }
}

/// What asking the budgets that cut to cover more came to.
public enum BudgetExtension: Sendable {
    case covered
    case refused(BudgetRefusal)
    /// Shared budgets whose lease here is too small: lease more, then try again.
    case short([BudgetLeaseNeed])
}

public struct BudgetStatus: Sendable, Equatable {
    public var budget: Budget
    public var period: CalendarPeriod?
    public var spent: Int64
    public var reserved: Int64
}

/// A budget crossing a line: alerts go to the webhook and the audit trail.
public enum BudgetEvent: Sendable, Equatable {
    case threshold(budget: Budget, fraction: Decimal, spent: Int64)
    case exhausted(budget: Budget, spent: Int64)

    public var budget: Budget {
        switch self {
        case .threshold(let budget, _, _), .exhausted(let budget, _): budget
        }
    }

    public var kind: String {
        switch self {
        case .threshold: "budget.threshold"
        case .exhausted: "budget.exhausted"
        }
    }

    public var spent: Money {
        switch self {
        case .threshold(let budget, _, let spent), .exhausted(let budget, let spent):
            Money(nanos: spent, currency: budget.limit.currency)
        }
    }

    public var summary: String {
        switch self {
        case .threshold(let budget, let fraction, _):
            "budget '\(budget.name)' passed \(fraction * 100)% of \(budget.limit.decimalString) \(budget.limit.currency) (spent \(spent.decimalString))"
        case .exhausted(let budget, _):
            "budget '\(budget.name)' reached its limit of \(budget.limit.decimalString) \(budget.limit.currency) (spent \(spent.decimalString)); new requests are refused"
        }
    }
}

/// A request refused because a budget has no room for its worst-case cost.
public struct BudgetRefusal: Error, Sendable, Equatable {
    public var budget: Budget
    public var spent: Int64
    public var reserved: Int64
    public var outsideWindow: Bool

    public var message: String {
        if outsideWindow {
            return "Budget '\(budget.name)' for \(budget.scope) is not open at this time; requests are refused."
        }
        let limit = budget.limit
        return
            "Budget '\(budget.name)' for \(budget.scope) is exhausted: \(Money.format(nanos: spent)) of \(limit.decimalString) \(limit.currency) spent and \(Money.format(nanos: reserved)) reserved by requests in flight leave no room for this request."
    }
}
