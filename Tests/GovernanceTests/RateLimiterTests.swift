import Governance
import SwitchyardCore
import Testing

@Suite struct RateLimiterTests {
    let key = GovernanceScope.key("k1")
    let tenant = GovernanceScope.tenant("acme")

    @Test func requestsPerMinuteRefillsContinuouslyAndSaysWhenToRetry() throws {
        let start = ContinuousClock.now
        let limiter = RateLimiter([RateLimit(scope: key, requestsPerMinute: 60)], now: start)
        for _ in 0..<60 {
            let ticket = try limiter.admit([key, tenant], estimatedTokens: 10, now: start).get()
            limiter.release(ticket, usedTokens: 10)
        }
        guard case .failure(let refusal) = limiter.admit([key], estimatedTokens: 10, now: start) else {
            Issue.record("the 61st request in the same instant was admitted")
            return
        }
        #expect(refusal.rule == "requests_per_minute")
        #expect(refusal.retryAfter == 1)  // one request per second comes back
        #expect(refusal.status.requests?.remaining == 0)
        #expect(refusal.message.contains("60 requests per minute"))
        // One second later exactly one more fits.
        let later = start + .seconds(1)
        #expect((try? limiter.admit([key], estimatedTokens: 10, now: later).get()) != nil)
        if case .success = limiter.admit([key], estimatedTokens: 10, now: later) { Issue.record("bucket overfilled") }
    }

    /// A live change keeps each still-limited scope's levels (capped to the new limit) and its
    /// requests in flight; a ticket admitted before a scope was limited releases nothing there.
    @Test func aNewLimiterCarriesOverLevelsAndRequestsInFlight() throws {
        let start = ContinuousClock.now
        let old = RateLimiter([RateLimit(scope: key, requestsPerMinute: 100, concurrentRequests: 50)], now: start)
        var tickets: [RateLimitTicket] = []
        for _ in 0..<40 { tickets.append(try old.admit([key, tenant], estimatedTokens: 1, now: start).get()) }
        for ticket in tickets.suffix(37) { old.release(ticket, usedTokens: 1) }  // 3 still in flight, 60 requests left
        let new = RateLimiter(
            [
                RateLimit(scope: key, requestsPerMinute: 50, concurrentRequests: 4),
                RateLimit(scope: tenant, concurrentRequests: 1),
            ],
            carryingOver: old, now: start)
        #expect(new.inFlight(key) == 3)
        #expect(new.inFlight(tenant) == 0)
        let admitted = try new.admit([key, tenant], estimatedTokens: 1, now: start).get()
        #expect(admitted.status?.requests?.remaining == 49)  // capped at the new 50, then one taken
        guard case .failure(let refusal) = new.admit([key], estimatedTokens: 1, now: start) else {
            Issue.record("a fifth request in flight was admitted under a limit of four")
            return
        }
        #expect(refusal.rule == "concurrent_requests")
        new.release(tickets[0], usedTokens: 1)  // admitted by the old limiter, where the tenant was not limited
        #expect(new.inFlight(key) == 3)
        #expect(new.inFlight(tenant) == 1)
    }

    @Test func concurrencyIsHeldUntilRelease() throws {
        let limiter = RateLimiter([RateLimit(scope: tenant, concurrentRequests: 2)])
        let first = try limiter.admit([key, tenant], estimatedTokens: 0).get()
        let second = try limiter.admit([key, tenant], estimatedTokens: 0).get()
        guard case .failure(let refusal) = limiter.admit([tenant], estimatedTokens: 0) else {
            Issue.record("a third concurrent request was admitted")
            return
        }
        #expect(refusal.rule == "concurrent_requests")
        #expect(limiter.inFlight(tenant) == 2)
        limiter.release(first, usedTokens: 0)
        #expect((try? limiter.admit([tenant], estimatedTokens: 0).get()) != nil)
        limiter.release(second, usedTokens: 0)
        #expect(limiter.inFlight(tenant) == 1)
    }

    @Test func tokensAreChargedAtTheEstimateAndCorrectedToUse() throws {
        let start = ContinuousClock.now
        let limiter = RateLimiter([RateLimit(scope: key, tokensPerMinute: 1000)], now: start)
        let big = try limiter.admit([key], estimatedTokens: 900, now: start).get()
        #expect(big.status?.tokens?.remaining == 100)
        guard case .failure(let refusal) = limiter.admit([key], estimatedTokens: 200, now: start) else {
            Issue.record("admitted past the token limit")
            return
        }
        #expect(refusal.rule == "tokens_per_minute")
        #expect(refusal.retryAfter == 6)  // 100 tokens short at 1000/min
        limiter.release(big, usedTokens: 300)  // 600 come back
        let next = try limiter.admit([key], estimatedTokens: 200, now: start).get()
        #expect(next.status?.tokens?.remaining == 500)
    }

    @Test func aRefusalInOneScopeChargesNoOther() throws {
        let limiter = RateLimiter([
            RateLimit(scope: key, requestsPerMinute: 100), RateLimit(scope: tenant, concurrentRequests: 1),
        ])
        let held = try limiter.admit([key, tenant], estimatedTokens: 0).get()
        #expect(held.status?.requests?.remaining == 99)
        for _ in 0..<5 {
            if case .success = limiter.admit([key, tenant], estimatedTokens: 0) { Issue.record("admitted past concurrency") }
        }
        limiter.release(held, usedTokens: 0)
        let next = try limiter.admit([key, tenant], estimatedTokens: 0).get()
        #expect(next.status?.requests?.remaining == 98)  // the five refusals took nothing from the key
    }

    @Test func headersFollowOpenAIsFormat() {
        let status = RateLimitStatus(
            requests: .init(limit: 60, remaining: 59, resetSeconds: 1),
            tokens: .init(limit: 1000, remaining: 10, resetSeconds: 125.5))
        let headers = Dictionary(uniqueKeysWithValues: status.headers)
        #expect(headers["x-ratelimit-limit-requests"] == "60")
        #expect(headers["x-ratelimit-remaining-requests"] == "59")
        #expect(headers["x-ratelimit-reset-requests"] == "1s")
        #expect(headers["x-ratelimit-remaining-tokens"] == "10")
        #expect(headers["x-ratelimit-reset-tokens"] == "2m5s")
        #expect(
            RateLimitStatus(requests: .init(limit: 1, remaining: 0, resetSeconds: 0.25), tokens: nil).headers.last?.1 == "250ms")
    }
}
