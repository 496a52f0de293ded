import SwitchyardCore
import Testing

@testable import DataPlane

@Suite struct TraceTailTests {
    @Test func theAllowanceHoldsPerSecond() {
        let allowance = TraceTail.Allowance(perSecond: 2)
        let second = UnixMicros(1_700_000_000_000_000)
        #expect(allowance.take(now: second))
        #expect(allowance.take(now: UnixMicros(second.value + 999_999)))
        #expect(!allowance.take(now: UnixMicros(second.value + 500_000)))
        #expect(allowance.take(now: UnixMicros(second.value + 1_000_000)))
        #expect(!TraceTail.Allowance(perSecond: 0).take(now: second))
    }

    @Test func aClientsOwnFaultsKeepNoTrace() {
        for own in [
            ErrorClass.invalidRequest, .authentication, .rateLimited, .budgetExceeded, .policyDenied, .clientCancelled,
            .hedgeLost, .killSwitch, .notFound,
        ] {
            #expect(!TraceTail.isWorthKeeping(own), "\(own)")
        }
        for failure in [ErrorClass.upstreamError, .upstreamTimeout, .upstreamUnavailable, .internalError, .streamInterrupted] {
            #expect(TraceTail.isWorthKeeping(failure), "\(failure)")
        }
    }
}
