import Foundation
import Governance
import SwitchyardCore
import Testing

@Suite struct BudgetKeeperTests {
    let tenant = GovernanceScope.tenant("acme")
    let key = GovernanceScope.key("k1")
    let now = UnixMicros(dateOrTimestamp: "2026-11-15T12:00:00Z")!

    func dollars(_ text: String) -> Money {
        Money(nanos: (Decimal(string: text)! * Decimal(Money.nanosPerUnit)).roundedToInt64()!, currency: "USD")
    }

    @Test func concurrentRequestsNeverOvershootTheLimitByMoreThanTheirUnderestimates() async throws {
        // Each request may cost up to 0.30 and really costs 0.25: reservations cover every request,
        // so the limit holds exactly however the 400 requests interleave.
        let keeper = BudgetKeeper(
            [Budget(name: "monthly", scope: tenant, period: .month, limit: dollars("10"))], now: now)
        let admitted = await withTaskGroup(of: Bool.self) { group in
            for _ in 0..<400 {
                group.addTask {
                    guard
                        case .success(let reservation) = keeper.reserve(
                            [self.key, self.tenant], maximum: self.dollars("0.30"), now: self.now)
                    else { return false }
                    try? await Task.sleep(for: .milliseconds(Int.random(in: 0...3)))
                    _ = keeper.settle(reservation, actual: self.dollars("0.25"))
                    return true
                }
            }
            return await group.reduce(0) { $0 + ($1 ? 1 : 0) }
        }
        let status = try #require(keeper.status(now: now).first)
        #expect(status.reserved == 0)
        #expect(status.spent == Int64(admitted) * 250_000_000)
        #expect(status.spent <= 10_000_000_000)
        // Once spend has settled, as many requests as fit under the limit ran: at least 33 (33 × 0.30 ≤ 10).
        #expect(admitted >= 33 && admitted <= 40)
        // Settled, the keeper admits one more request exactly when its maximum fits in what is left.
        let fits = status.spent + 300_000_000 <= 10_000_000_000
        let admittedNow: Bool
        if case .success = keeper.reserve([tenant], maximum: dollars("0.30"), now: now) {
            admittedNow = true
        } else {
            admittedNow = false
        }
        #expect(admittedNow == fits)
    }

    /// A reservation made before midnight and settled after it is released (it leaked before,
    /// and a day budget with streams open at midnight refused more each day).
    @Test func aRequestInFlightAtMidnightReleasesWhatItHeld() throws {
        let budget = Budget(name: "daily", scope: key, period: .day, limit: dollars("1"))
        let keeper = BudgetKeeper([budget], now: now)
        let held = try keeper.reserve([key], maximum: dollars("0.6"), now: now).get()
        let tomorrow = now.adding(seconds: 86_400)
        #expect(keeper.status(now: tomorrow).first?.reserved == dollars("0.6").nanos)
        _ = keeper.settle(held, actual: dollars("0.5"))
        let status = try #require(keeper.status(now: tomorrow).first)
        // Released today, counted in yesterday (as the ledger counts it, by start).
        #expect(status.reserved == 0 && status.spent == 0)
        #expect((try? keeper.reserve([key], maximum: dollars("1"), now: tomorrow).get()) != nil)
    }

    @Test func thresholdsAndExhaustionAreAnnouncedOncePerPeriod() throws {
        let budget = Budget(
            name: "daily", scope: key, period: .day, limit: dollars("1"),
            alertThresholds: [Decimal(string: "0.8")!, Decimal(string: "0.5")!])
        let keeper = BudgetKeeper([budget], now: now)
        func spend(_ amount: String) throws -> [BudgetEvent] {
            let reservation = try keeper.reserve([key], maximum: dollars(amount), now: now).get()
            return keeper.settle(reservation, actual: dollars(amount))
        }
        #expect(try spend("0.4").isEmpty)
        #expect(try spend("0.2").map(\.kind) == ["budget.threshold"])  // 0.6 ≥ 0.5
        #expect(try spend("0.1").isEmpty)
        let events = try spend("0.3")  // 1.0: passes 0.8 and the limit in one step
        #expect(events.map(\.kind) == ["budget.threshold", "budget.exhausted"])
        #expect(events.first?.summary.contains("80") == true)
        guard case .failure(let refusal) = keeper.reserve([key], maximum: dollars("0.000000001"), now: now) else {
            Issue.record("an exhausted budget admitted a request")
            return
        }
        #expect(refusal.message.contains("Budget 'daily'"))
        // The next day starts from zero and announces again.
        let tomorrow = UnixMicros(now.value + 86_400_000_000)
        let reservation = try keeper.reserve([key], maximum: dollars("0.6"), now: tomorrow).get()
        #expect(keeper.settle(reservation, actual: dollars("0.6")).map(\.kind) == ["budget.threshold"])
    }

    @Test func seededSpendCountsAndPassedThresholdsStayQuiet() throws {
        let budget = Budget(
            name: "monthly", scope: tenant, period: .month, limit: dollars("100"), alertThresholds: [Decimal(string: "0.5")!])
        let keeper = BudgetKeeper([budget], now: now)
        let period = CalendarPeriod.month(containing: now)
        keeper.load(budget: "monthly", period: period, spent: dollars("60").nanos)
        let reservation = try keeper.reserve([tenant], maximum: dollars("40"), now: now).get()
        #expect(keeper.settle(reservation, actual: dollars("1")).isEmpty)  // 0.5 was already behind us
        guard case .failure = keeper.reserve([tenant], maximum: dollars("39.000000001"), now: now) else {
            Issue.record("admitted past the seeded spend")
            return
        }
    }

    @Test func aFixedWindowRefusesOutsideItAndOtherCurrenciesAreNotCounted() throws {
        let window = Budget(
            name: "trial", scope: tenant,
            period: .window(start: UnixMicros(now.value - 3_600_000_000), end: UnixMicros(now.value + 3_600_000_000)),
            limit: dollars("5"))
        let keeper = BudgetKeeper([window], now: now)
        #expect((try? keeper.reserve([tenant], maximum: dollars("1"), now: now).get()) != nil)
        guard
            case .failure(let refusal) = keeper.reserve(
                [tenant], maximum: dollars("1"), now: UnixMicros(now.value + 7_200_000_000))
        else {
            Issue.record("a closed window admitted a request")
            return
        }
        #expect(refusal.outsideWindow)
        let euros = Money(nanos: 100_000_000_000, currency: "EUR")
        #expect((try? keeper.reserve([tenant], maximum: euros, now: now).get())?.isEmpty == true)
    }
}
