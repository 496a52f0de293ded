import SwitchyardCore
import Testing

@testable import Routing

@Suite struct RetryBudgetTests {
    @Test func retriesStayWithinTheRatioPlusTheFloor() {
        let budget = RetryBudget(policy: RetryPolicy(budgetRatio: 0.2, minimumRetriesPerSecond: 1))
        let now = ContinuousClock.now
        for _ in 0..<100 { budget.recordRequest(at: now) }
        // 0.2 × 100 + 1/s × 10 s = 30 retries.
        let granted = (0..<100).filter { _ in budget.tryWithdraw(at: now) }.count
        #expect(granted == 30)
    }

    @Test func theBudgetRefillsAsTheWindowMoves() {
        let budget = RetryBudget(policy: RetryPolicy(budgetRatio: 0, minimumRetriesPerSecond: 1))
        let now = ContinuousClock.now
        #expect((0..<20).filter { _ in budget.tryWithdraw(at: now) }.count == 10)
        #expect(!budget.tryWithdraw(at: now + .seconds(5)))
        #expect(budget.tryWithdraw(at: now + .seconds(11)))
    }

    @Test func noFloorAndNoTrafficMeansNoRetries() {
        let budget = RetryBudget(policy: RetryPolicy(budgetRatio: 0.5, minimumRetriesPerSecond: 0))
        #expect(!budget.tryWithdraw())
        budget.recordRequest()
        budget.recordRequest()
        #expect(budget.tryWithdraw())
        #expect(!budget.tryWithdraw())
    }
}

@Suite struct BackoffTests {
    let policy = RetryPolicy(backoffBase: .milliseconds(100), backoffMax: .seconds(1), maxRetryAfter: .seconds(5))

    @Test func fullJitterWithinAnExponentialCeiling() {
        #expect(Backoff.delay(retry: 1, retryAfter: nil, policy: policy, random: 1) == .milliseconds(100))
        #expect(Backoff.delay(retry: 2, retryAfter: nil, policy: policy, random: 1) == .milliseconds(200))
        #expect(Backoff.delay(retry: 3, retryAfter: nil, policy: policy, random: 0.5) == .milliseconds(200))
        #expect(Backoff.delay(retry: 10, retryAfter: nil, policy: policy, random: 1) == .seconds(1))
        #expect(Backoff.delay(retry: 4, retryAfter: nil, policy: policy, random: 0) == .zero)
    }

    @Test func retryAfterIsAFloorAndTooLongMeansGiveUpOnThatDeployment() {
        #expect(Backoff.delay(retry: 1, retryAfter: .seconds(2), policy: policy, random: 0.1) == .seconds(2))
        #expect(Backoff.delay(retry: 1, retryAfter: .seconds(6), policy: policy, random: 0.1) == nil)
    }

    @Test func randomDelaysStayInBounds() {
        for retry in 1...8 {
            let ceiling = min(Duration.seconds(1), .milliseconds(100) * (1 << (retry - 1)))
            let delay = Backoff.delay(retry: retry, retryAfter: nil, policy: policy)!
            #expect(delay >= .zero && delay <= ceiling)
        }
    }
}

@Suite struct RetryBudgetMemoryTests {
    @Test func aRouteThatNeverRetriesKeepsOnlyTheWindow() {
        let budget = RetryBudget(policy: RetryPolicy())
        let start = ContinuousClock.now
        // An hour of traffic, one request every 50 ms, no retries.
        for step in 0..<72_000 { budget.recordRequest(at: start + .milliseconds(Int64(step) * 50)) }
        #expect(budget.slotCount <= 101)  // 10 s of 100 ms slots
    }
}
