import Foundation
import SwitchyardCore
import Testing

@testable import SwitchyardConfig

@Suite struct RoutingConfigurationTests {
    static let yaml = """
        providers:
          - name: local
            kind: openai
            base_url: "http://127.0.0.1:8081/v1"
            region: on-prem
            max_connections: 8
            health_check: { path: /models, interval_seconds: 5, timeout_seconds: 0.5 }
          - name: openai
            kind: openai
            base_url: "https://api.openai.com/v1"
            region: us
        deployments:
          - name: small
            provider: local
            model: gemma
            capabilities: [streaming]
            max_concurrency: 4
            timeouts: { connect_seconds: 1, first_byte_seconds: 20, idle_seconds: 5, total_seconds: 300 }
            circuit_breaker: { consecutive_failures: 3, failure_rate: 0.25, minimum_requests: 8, window_seconds: 20, open_seconds: 15, half_open_probes: 2 }
          - name: big
            provider: openai
            model: gpt-4o
            timeout_seconds: 90
        routes:
          - name: split
            strategy: weighted
            targets: [{ deployment: small, weight: 90 }, { deployment: big, weight: 10 }]
          - name: thrifty
            strategy: cheapest
            targets: [small, big]
            retry: { max_attempts: 4, budget_ratio: 0.1, min_retries_per_second: 2, backoff_base_ms: 25, backoff_max_ms: 500, max_retry_after_seconds: 3 }
            hedge: { delay_ms: 800 }
          - name: quick
            strategy: fastest
            targets: [small, big]
            hedge: { delay: p95 }
          - name: spread
            strategy: least-busy
            targets: [small, big]
            residency: { exclude_providers: [openai] }
        tenants:
          - name: acme
            residency: { regions: [on-prem, eu], providers: [local] }
            allow_routing_hints: false
        """

    @Test func readsEveryRoutingAndReliabilitySetting() throws {
        let configuration = try ConfigurationLoader.parse(Self.yaml, file: "routing.yaml")
        let local = try #require(configuration.provider(named: "local"))
        #expect(local.maxConnections == 8)
        #expect(local.healthCheck == HealthCheck(path: "/models", interval: .seconds(5), timeout: .milliseconds(500)))
        let small = try #require(configuration.deployment(named: "small"))
        #expect(small.capabilities == [.streaming])
        #expect(small.maxConcurrency == 4)
        #expect(
            small.timeouts == Timeouts(connect: .seconds(1), firstByte: .seconds(20), idle: .seconds(5), total: .seconds(300)))
        #expect(
            small.circuitBreaker
                == CircuitBreakerPolicy(
                    consecutiveFailures: 3, failureRate: 0.25, minimumRequests: 8, window: .seconds(20),
                    openDuration: .seconds(15),
                    halfOpenProbes: 2))
        let big = try #require(configuration.deployment(named: "big"))
        #expect(big.timeouts.total == .seconds(90))
        #expect(big.capabilities == Set(Capability.allCases))
        #expect(
            configuration.route(named: "split")?.targets == [RouteTarget("small", weight: 90), RouteTarget("big", weight: 10)])
        let thrifty = try #require(configuration.route(named: "thrifty"))
        #expect(thrifty.strategy == .cheapest)
        #expect(
            thrifty.retry
                == RetryPolicy(
                    maxAttempts: 4, budgetRatio: 0.1, minimumRetriesPerSecond: 2, backoffBase: .milliseconds(25),
                    backoffMax: .milliseconds(500), maxRetryAfter: .seconds(3)))
        #expect(thrifty.hedge == HedgePolicy(delay: .fixed(.milliseconds(800))))
        #expect(configuration.route(named: "quick")?.hedge == HedgePolicy(delay: .p95(fallback: .seconds(2))))
        #expect(configuration.route(named: "spread")?.strategy == .leastBusy)
        #expect(configuration.route(named: "spread")?.residency == Residency(excludeProviders: ["openai"]))
        let acme = try #require(configuration.tenant(named: "acme"))
        #expect(acme.residency == Residency(regions: ["on-prem", "eu"], providers: ["local"]))
        #expect(!acme.allowRoutingHints)
    }

    func expectError(_ from: String, _ to: String, _ reason: String) {
        do {
            _ = try ConfigurationLoader.parse(Self.yaml.replacingOccurrences(of: from, with: to), file: "routing.yaml")
            Issue.record("expected an error containing \(reason)")
        } catch let error as ConfigurationError {
            #expect(error.description.contains(reason), "\(error)")
            #expect(error.line != nil)
        } catch {
            Issue.record("\(error)")
        }
    }

    @Test func rejectsInvalidRoutingSettings() {
        expectError("capabilities: [streaming]", "capabilities: [telepathy]", "unknown capability 'telepathy'")
        expectError("failure_rate: 0.25", "failure_rate: 1.5", "from 0 to 1")
        expectError("max_attempts: 4", "max_attempts: 40", "between 1 and 10")
        expectError("exclude_providers: [openai]", "exclude_providers: [azure]", "no provider named 'azure'")
        expectError("hedge: { delay: p95 }", "hedge: { delay: p99 }", "expected p95")
        expectError("{ deployment: big, weight: 10 }", "{ deployment: big, weight: -1 }", "between 0 and 1000000")
        expectError(
            "{ deployment: small, weight: 90 }, { deployment: big, weight: 10 }", "{ deployment: small, weight: 0 }",
            "weight above 0")
        expectError("targets: [small, big]\n    retry", "targets: [small, small]\n    retry", "listed twice")
        expectError("allow_routing_hints: false", "allow_routing_hints: maybe", "true or false")
        expectError("strategy: least-busy", "strategy: random", "unsupported strategy 'random'")
    }
}

@Suite struct ProbesConfigurationTests {
    static let yaml =
        RoutingConfigurationTests.yaml.replacingOccurrences(
            of: "tenants:\n",
            with: """
                  - name: careful
                    strategy: quality-per-cost
                    min_quality: 0.8
                    min_quality_from_tokens: 4000
                    targets: [small, big]
                tenants:

                """) + """

            probes:
              interval_seconds: 900
              budget_per_day: "0.25"
              lengths: [1024, 256, 256]
              depths: [0.25, 0.75]
              samples: 2
              drift: { quality_drop: 0.3, min_baseline: 5 }
            """

    @Test func readsProbesAndQualityRouting() throws {
        let configuration = try ConfigurationLoader.parse(Self.yaml, file: "probes.yaml")
        let probes = configuration.probes
        #expect(probes.enabled)
        #expect(probes.interval == .seconds(900))
        #expect(probes.budgetPerDay == Money(nanos: 250_000_000, currency: "USD"))
        #expect(probes.lengths == [256, 1024])
        #expect(probes.depths == [0.25, 0.75])
        #expect(probes.samples == 2)
        #expect(probes.driftQualityDrop == 0.3 && probes.driftMinimumBaseline == 5)
        let careful = try #require(configuration.route(named: "careful"))
        #expect(careful.strategy == .qualityPerCost)
        #expect(careful.minQuality == QualityFloor(score: 0.8, fromTokens: 4000))
    }

    @Test func qualityRoutingNeedsEveryTargetProbed() {
        let unprobed = Self.yaml.replacingOccurrences(of: "  interval_seconds: 900\n", with: "  deployments: [small]\n")
        #expect(throws: ConfigurationError.self) { try ConfigurationLoader.parse(unprobed, file: "probes.yaml") }
        do {
            _ = try ConfigurationLoader.parse(unprobed, file: "probes.yaml")
        } catch {
            #expect("\(error)".contains("big is not probed"))
        }
        let off = Self.yaml.replacingOccurrences(of: "  interval_seconds: 900\n", with: "  enabled: false\n")
        #expect(throws: ConfigurationError.self) { try ConfigurationLoader.parse(off, file: "probes.yaml") }
    }

    @Test func theProbesTenantIsReserved() {
        let reserved = Self.yaml.replacingOccurrences(of: "  - name: acme\n", with: "  - name: switchyard-probes\n")
        #expect(reserved != Self.yaml)
        do {
            _ = try ConfigurationLoader.parse(reserved, file: "probes.yaml")
            Issue.record("expected the reserved name to be refused")
        } catch {
            #expect("\(error)".contains("reserved for canary probes"))
        }
    }
}

@Suite struct IncidentsConfigurationTests {
    static func parse(_ incidents: String) throws -> SwitchyardConfiguration {
        try ConfigurationLoader.parse(RoutingConfigurationTests.yaml + "\nincidents:\n" + incidents, file: "incidents.yaml")
    }

    @Test func readsTheClockAndTheMitigations() throws {
        let manual = try Self.parse("  clock: manual\n  mitigation: { shift_weight: true, stop_run: true }\n").incidents
        #expect(manual.manualClock && manual.shiftWeights && manual.stopRuns && !manual.ejectDeployments)
        #expect(try !Self.parse("  clock: wall\n").incidents.manualClock)
        #expect(throws: ConfigurationError.self) { try Self.parse("  clock: sundial\n") }
        #expect(throws: ConfigurationError.self) {
            try Self.parse("  mitigation: { shift_weight: true, eject_deployment: true }\n")
        }
    }
}
