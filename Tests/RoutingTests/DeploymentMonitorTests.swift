import SwitchyardCore
import Testing

@testable import Routing

@Suite struct DeploymentMonitorTests {
    let deployment = Deployment(
        name: "d", provider: "p", model: "m", prices: .free(), maxConcurrency: 2,
        circuitBreaker: CircuitBreakerPolicy(consecutiveFailures: 2, openDuration: .seconds(10)))

    @Test func concurrencyLimitIsEnforcedAndReleased() throws {
        let monitor = DeploymentMonitor(deployments: [deployment])
        let first = try monitor.acquire("d").get()
        _ = try monitor.acquire("d").get()
        #expect(throws: DeploymentMonitor.Unavailability.atCapacity) { try monitor.acquire("d").get() }
        monitor.release(first, outcome: .neutral)
        #expect(monitor.snapshot("d")?.inFlight == 1)
        _ = try monitor.acquire("d").get()
    }

    @Test func failuresOpenTheBreakerAndProbesCloseIt() throws {
        let monitor = DeploymentMonitor(deployments: [deployment])
        let now = ContinuousClock.now
        for _ in 0..<2 {
            let lease = try monitor.acquire("d", at: now).get()
            monitor.release(lease, outcome: .failure, at: now)
        }
        #expect(throws: DeploymentMonitor.Unavailability.circuitOpen(retryAfter: .seconds(10))) {
            try monitor.acquire("d", at: now).get()
        }
        let probe = try monitor.acquire("d", at: now + .seconds(10)).get()
        monitor.release(probe, outcome: .success(latency: .milliseconds(5), timeToFirstToken: nil), at: now + .seconds(10))
        #expect(monitor.breakerState("d") == .closed)
    }

    @Test func neutralOutcomesDoNotTripTheBreaker() throws {
        let monitor = DeploymentMonitor(deployments: [deployment])
        for _ in 0..<5 {
            let lease = try monitor.acquire("d").get()
            monitor.release(lease, outcome: .neutral)
        }
        #expect(monitor.breakerState("d") == .closed)
    }

    @Test func coolDownAndHealthChecksHoldADeploymentBack() throws {
        let monitor = DeploymentMonitor(deployments: [deployment])
        let now = ContinuousClock.now
        monitor.coolDown("d", for: .seconds(3), at: now)
        #expect(throws: DeploymentMonitor.Unavailability.coolingDown(retryAfter: .seconds(2))) {
            try monitor.acquire("d", at: now + .seconds(1)).get()
        }
        _ = try monitor.acquire("d", at: now + .seconds(3)).get()
        monitor.setHealthCheck(passing: false, deployments: ["d"])
        #expect(throws: DeploymentMonitor.Unavailability.healthCheckFailing) {
            try monitor.acquire("d", at: now + .seconds(3)).get()
        }
        monitor.setHealthCheck(passing: true, deployments: ["d"])
        _ = try monitor.acquire("d", at: now + .seconds(3)).get()
    }

    @Test func p95NeedsTenSamples() throws {
        let monitor = DeploymentMonitor(deployments: [Deployment(name: "d", provider: "p", model: "m", prices: .free())])
        for milliseconds in 1...9 {
            let lease = try monitor.acquire("d").get()
            monitor.release(lease, outcome: .success(latency: .milliseconds(Int64(milliseconds) * 10), timeToFirstToken: nil))
        }
        #expect(monitor.snapshot("d")?.p95Latency == nil)
        for milliseconds in 10...20 {
            let lease = try monitor.acquire("d").get()
            monitor.release(lease, outcome: .success(latency: .milliseconds(Int64(milliseconds) * 10), timeToFirstToken: nil))
        }
        #expect(monitor.snapshot("d")?.p95Latency == .milliseconds(190))
    }
}
