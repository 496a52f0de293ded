import SwitchyardCore
import Testing

@testable import Governance

/// Live governance changes replace the governor's rules without resetting what was counted.
@Suite struct GovernorReconfigureTests {
    static let acme = Tenant(name: "acme")
    static let principal = Principal(tenant: "acme", agent: "bot", keyID: "k1")
    static let facts = RequestFacts(route: "chat", estimatedInputTokens: 10, maxOutputTokens: 10, tags: [:])

    @Test func countersCarryOverAndNewRulesApplyAtOnce() async throws {
        let budget = Budget(name: "acme-day", scope: .tenant("acme"), period: .day, limit: Money(nanos: 1_000, currency: "USD"))
        let governor = Governor(
            tenants: [Self.acme], limits: [RateLimit(scope: .tenant("acme"), requestsPerMinute: 3)], budgets: [budget])
        let policy = EffectivePolicy.unrestricted
        let cost = Money(nanos: 400, currency: "USD")
        let first = try await governor.admit(Self.facts, policy: policy, maximumCost: cost, for: Self.principal).get()
        governor.release(first, principal: Self.principal, usage: TokenUsage(inputTokens: 10, outputTokens: 10), cost: cost)
        // Held across the change: a reservation made before it settles after it.
        let held = try await governor.admit(Self.facts, policy: policy, maximumCost: cost, for: Self.principal).get()

        var tighter = budget
        tighter.limit = Money(nanos: 900, currency: "USD")
        let added = governor.reconfigure(
            revision: 1, tenants: [Self.acme, Tenant(name: "globex")],
            policies: [Policy(name: "p", scope: .tenant("acme"))],
            limits: [RateLimit(scope: .tenant("acme"), requestsPerMinute: 2)], budgets: [tighter])
        #expect(added.isEmpty)
        #expect(governor.revision == 1 && governor.tenants["globex"] != nil)
        let status = try #require(governor.budgets.status().first)
        #expect(status.spent == 400 && status.reserved == 400 && status.budget.limit.nanos == 900)
        // Two of the minute's three are used and one is left: a fresh bucket would allow two more.
        let small = Money(nanos: 1, currency: "USD")
        let third = try await governor.admit(Self.facts, policy: policy, maximumCost: small, for: Self.principal).get()
        guard
            case .failure(.rateLimited(let refusal)) = await governor.admit(
                Self.facts, policy: policy, maximumCost: Money(nanos: 1, currency: "USD"), for: Self.principal)
        else {
            Issue.record("the request was not refused by the carried-over bucket")
            return
        }
        #expect(refusal.rule == "requests_per_minute" && refusal.limit == 2)
        governor.release(third, principal: Self.principal, usage: TokenUsage(), cost: Money(nanos: 0, currency: "USD"))
        governor.release(held, principal: Self.principal, usage: TokenUsage(inputTokens: 10, outputTokens: 10), cost: cost)
        #expect(governor.budgets.status().first?.spent == 800)
        #expect(governor.budgets.status().first?.reserved == 0)
        #expect(governor.limiter.inFlight(.tenant("acme")) == 0)
    }

    @Test func anOlderRevisionNeverReplacesANewerOne() {
        let governor = Governor(tenants: [Self.acme])
        let newBudget = Budget(name: "b", scope: .tenant("acme"), period: .month, limit: Money(nanos: 5, currency: "USD"))
        #expect(governor.reconfigure(revision: 2, tenants: [], policies: [], limits: [], budgets: [newBudget]) == [newBudget])
        #expect(governor.reconfigure(revision: 1, tenants: [Self.acme], policies: [], limits: [], budgets: []).isEmpty)
        #expect(governor.revision == 2 && governor.tenants.isEmpty && governor.budgets.budgets == [newBudget])
    }
}
