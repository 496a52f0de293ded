import SwitchyardCore
import Testing

@testable import Routing

/// Every state × every event of the breaker.
@Suite struct CircuitBreakerTests {
    let t0 = ContinuousClock.now
    let policy = CircuitBreakerPolicy(
        consecutiveFailures: 3, failureRate: 0.5, minimumRequests: 10, window: .seconds(10), openDuration: .seconds(30),
        halfOpenProbes: 2)

    func at(_ seconds: Double) -> ContinuousClock.Instant { t0 + .milliseconds(Int64(seconds * 1000)) }

    func opened() -> CircuitBreaker {
        var breaker = CircuitBreaker(policy: policy)
        for _ in 0..<3 { breaker.record(success: false, probe: false, at: at(0)) }
        return breaker
    }

    // MARK: closed

    @Test func closedAdmitsEverything() {
        var breaker = CircuitBreaker(policy: policy)
        #expect(breaker.state == .closed)
        #expect(breaker.admit(at: at(0)) == .allowed)
        #expect(breaker.wouldAdmit(at: at(0)))
    }

    @Test func closedOpensAfterConsecutiveFailures() {
        var breaker = CircuitBreaker(policy: policy)
        breaker.record(success: false, probe: false, at: at(0))
        breaker.record(success: false, probe: false, at: at(0))
        #expect(breaker.state == .closed)
        breaker.record(success: false, probe: false, at: at(1))
        #expect(breaker.state == .open(until: at(31)))
    }

    @Test func aSuccessResetsTheConsecutiveCount() {
        // The rate rule out of the way (it needs 1,000 requests), to watch the streak alone.
        var breaker = CircuitBreaker(policy: CircuitBreakerPolicy(consecutiveFailures: 3, minimumRequests: 1000))
        for _ in 0..<10 {
            breaker.record(success: false, probe: false, at: at(0))
            breaker.record(success: false, probe: false, at: at(0))
            breaker.record(success: true, probe: false, at: at(0))
        }
        #expect(breaker.state == .closed)  // twenty failures, never three in a row
        breaker.record(success: false, probe: false, at: at(0))
        breaker.record(success: false, probe: false, at: at(0))
        breaker.record(success: false, probe: false, at: at(0))
        #expect(breaker.state == .open(until: at(30)))
    }

    @Test func closedOpensOnFailureRateOnlyWithEnoughRequests() {
        var breaker = CircuitBreaker(policy: policy)
        // Alternating, so never three failures in a row: 5 failures in 9 requests is below the minimum of 10.
        for index in 0..<9 { breaker.record(success: index % 2 == 1, probe: false, at: at(0)) }
        #expect(breaker.state == .closed)
        // The 10th request, even a success, makes 5 of 10 = 50 %: the rate rule opens it.
        breaker.record(success: true, probe: false, at: at(1))
        #expect(breaker.state == .open(until: at(31)))

        var healthy = CircuitBreaker(policy: policy)
        for index in 0..<30 { healthy.record(success: index % 3 != 0, probe: false, at: at(0)) }
        #expect(healthy.state == .closed)  // 33 % failures stays below 50 %
    }

    @Test func oldOutcomesLeaveTheWindow() {
        var breaker = CircuitBreaker(policy: policy)
        for index in 0..<8 { breaker.record(success: index % 2 == 0, probe: false, at: at(0)) }
        // 20 s later the first eight are out of the 10 s window: 2 new requests are too few.
        breaker.record(success: false, probe: false, at: at(20))
        breaker.record(success: true, probe: false, at: at(20))
        #expect(breaker.state == .closed)
    }

    @Test func closedIgnoresReleaseProbe() {
        var breaker = CircuitBreaker(policy: policy)
        breaker.releaseProbe()
        #expect(breaker.state == .closed)
    }

    // MARK: open

    @Test func openRejectsUntilItsTimeWithTheRemainingWait() {
        var breaker = opened()
        #expect(breaker.admit(at: at(10)) == .rejected(retryAfter: .seconds(20)))
        #expect(!breaker.wouldAdmit(at: at(29.9)))
        #expect(breaker.state == .open(until: at(30)))
    }

    @Test func openIgnoresLateResults() {
        var breaker = opened()
        breaker.record(success: true, probe: false, at: at(1))
        breaker.record(success: false, probe: false, at: at(1))
        breaker.releaseProbe()
        #expect(breaker.state == .open(until: at(30)))
    }

    @Test func openBecomesHalfOpenWithAProbeWhenItsTimeComes() {
        var breaker = opened()
        #expect(breaker.wouldAdmit(at: at(30)))
        #expect(breaker.admit(at: at(30)) == .probe)
        #expect(breaker.state == .halfOpen(probesInFlight: 1, successes: 0))
    }

    @Test func forceOpenFromAnyState() {
        var closed = CircuitBreaker(policy: policy)
        closed.forceOpen(at: at(5))
        #expect(closed.state == .open(until: at(35)))
        var halfOpen = opened()
        _ = halfOpen.admit(at: at(30))
        halfOpen.forceOpen(at: at(31))
        #expect(halfOpen.state == .open(until: at(61)))
    }

    // MARK: half-open

    @Test func halfOpenLimitsProbes() {
        var breaker = opened()
        #expect(breaker.admit(at: at(30)) == .probe)
        #expect(breaker.admit(at: at(30)) == .probe)
        #expect(breaker.state == .halfOpen(probesInFlight: 2, successes: 0))
        #expect(breaker.admit(at: at(30)) == .rejected(retryAfter: .milliseconds(100)))
        #expect(!breaker.wouldAdmit(at: at(30)))
    }

    @Test func halfOpenClosesAfterEnoughSuccessfulProbes() {
        var breaker = opened()
        _ = breaker.admit(at: at(30))
        breaker.record(success: true, probe: true, at: at(31))
        #expect(breaker.state == .halfOpen(probesInFlight: 0, successes: 1))
        _ = breaker.admit(at: at(31))
        breaker.record(success: true, probe: true, at: at(32))
        #expect(breaker.state == .closed)
        // Closed afresh: it takes three new failures to open again.
        breaker.record(success: false, probe: false, at: at(33))
        breaker.record(success: false, probe: false, at: at(33))
        #expect(breaker.state == .closed)
    }

    @Test func halfOpenReopensOnAFailedProbe() {
        var breaker = opened()
        _ = breaker.admit(at: at(30))
        breaker.record(success: false, probe: true, at: at(31))
        #expect(breaker.state == .open(until: at(61)))
    }

    @Test func halfOpenIgnoresNonProbeResults() {
        var breaker = opened()
        _ = breaker.admit(at: at(30))
        breaker.record(success: false, probe: false, at: at(31))
        breaker.record(success: true, probe: false, at: at(31))
        #expect(breaker.state == .halfOpen(probesInFlight: 1, successes: 0))
    }

    @Test func halfOpenReleasedProbeFreesItsSlot() {
        var breaker = opened()
        _ = breaker.admit(at: at(30))
        _ = breaker.admit(at: at(30))
        breaker.releaseProbe()
        #expect(breaker.state == .halfOpen(probesInFlight: 1, successes: 0))
        #expect(breaker.admit(at: at(30)) == .probe)
    }
}
