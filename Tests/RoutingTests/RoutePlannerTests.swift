import Foundation
import SwitchyardCore
import Testing

@testable import Routing

@Suite struct RoutePlannerTests {
    static func deployment(
        _ name: String, provider: String, input: String, output: String, context: Int? = nil,
        capabilities: Set<Capability> = Set(Capability.allCases), maxConcurrency: Int? = nil
    ) -> Deployment {
        Deployment(
            name: name, provider: provider, model: name, contextWindow: context,
            prices: TokenPrices(inputPerMillion: Decimal(string: input)!, outputPerMillion: Decimal(string: output)!),
            capabilities: capabilities, maxConcurrency: maxConcurrency)
    }

    let providers = [
        Provider(name: "openai", kind: .openai, baseURL: "https://api.openai.com/v1", region: "us"),
        Provider(name: "mistral", kind: .openai, baseURL: "https://api.mistral.ai/v1", region: "eu"),
        Provider(name: "local", kind: .openai, baseURL: "http://127.0.0.1:8081/v1", region: "on-prem"),
    ]
    // Cheap on input, dear on output / dear on input, cheap on output / free but small and text-only.
    let big = deployment("big", provider: "openai", input: "0.10", output: "10", context: 128_000)
    let euro = deployment("euro", provider: "mistral", input: "2", output: "1", context: 32_000)
    let tiny = deployment(
        "tiny", provider: "local", input: "0", output: "0", context: 2048, capabilities: [.streaming], maxConcurrency: 4)

    func planner(_ route: Route) -> RoutePlanner {
        RoutePlanner(routes: [route], deployments: [big, euro, tiny], providers: providers)
    }

    func route(_ strategy: RouteStrategy, residency: Residency? = nil, weights: [Int] = [1, 1, 1]) -> Route {
        Route(
            name: "r", strategy: strategy,
            targets: zip(["big", "euro", "tiny"], weights).map { RouteTarget($0, weight: $1) }, residency: residency)
    }

    func names(_ result: Result<RoutePlan, RoutingError>) -> [String] {
        (try? result.get())?.candidates.map(\.name) ?? []
    }

    @Test func fallbackKeepsTheConfiguredOrder() {
        let route = route(.fallback)
        #expect(
            names(planner(route).plan(route, profile: RequestProfile(estimatedInputTokens: 10), tenant: nil, monitor: nil))
                == ["big", "euro", "tiny"])
    }

    @Test func cheapestFollowsTheExpectedCostOfThisRequest() {
        let route = route(.cheapest)
        let planner = planner(route)
        // Long prompt, short answer: input price dominates → tiny (free), big (0.10 in), euro (2 in).
        let longPrompt = RequestProfile(estimatedInputTokens: 1000, maxOutputTokens: 10)
        #expect(names(planner.plan(route, profile: longPrompt, tenant: nil, monitor: nil)) == ["tiny", "big", "euro"])
        // Short prompt, long answer (tiny's context cannot hold it): euro (1 out) beats big (10 out).
        let longAnswer = RequestProfile(estimatedInputTokens: 10, maxOutputTokens: 4000)
        #expect(names(planner.plan(route, profile: longAnswer, tenant: nil, monitor: nil)) == ["euro", "big"])
    }

    @Test func preferCommittedPutsUnderUsedContractsFirstKeepingTheStrategyOrder() {
        var route = route(.cheapest)
        route.preferCommitted = true
        let planner = planner(route)
        let monitor = DeploymentMonitor(deployments: [big, euro, tiny])
        let profile = RequestProfile(estimatedInputTokens: 1000, maxOutputTokens: 10)
        #expect(names(planner.plan(route, profile: profile, tenant: nil, monitor: monitor)) == ["tiny", "big", "euro"])
        monitor.setUnderUsedCommitments(providers: ["mistral"])
        #expect(names(planner.plan(route, profile: profile, tenant: nil, monitor: monitor)) == ["euro", "tiny", "big"])
        // Without the option the contract changes nothing.
        route.preferCommitted = false
        #expect(names(planner.plan(route, profile: profile, tenant: nil, monitor: monitor)) == ["tiny", "big", "euro"])
        monitor.setUnderUsedCommitments(providers: [])
    }

    /// A deployment an incident shifted traffic away from goes last, whatever the strategy, and
    /// is still a candidate; shifted back, the strategy's order returns.
    @Test func demotedDeploymentsGoLastAndStayCandidates() {
        let route = route(.cheapest)
        let monitor = DeploymentMonitor(deployments: [big, euro, tiny])
        let profile = RequestProfile(estimatedInputTokens: 1000, maxOutputTokens: 10)
        monitor.setDemoted(true, deployment: "tiny")
        #expect(names(planner(route).plan(route, profile: profile, tenant: nil, monitor: monitor)) == ["big", "euro", "tiny"])
        monitor.setDemoted(false, deployment: "tiny")
        #expect(monitor.demotedDeployments.isEmpty)
        #expect(names(planner(route).plan(route, profile: profile, tenant: nil, monitor: monitor)) == ["tiny", "big", "euro"])
    }

    /// min_quality drops deployments known to score below it, from the size it applies at;
    /// unprobed ones pass (they get probed), and none left is a refusal naming the scores.
    @Test func minQualityFiltersKnownScoresFromItsSize() {
        var route = route(.cheapest)
        route.minQuality = QualityFloor(score: 0.9, fromTokens: 500)
        let monitor = DeploymentMonitor(deployments: [big, euro, tiny])
        let long = RequestProfile(estimatedInputTokens: 1000, maxOutputTokens: 10)
        let short = RequestProfile(estimatedInputTokens: 100, maxOutputTokens: 10)
        #expect(names(planner(route).plan(route, profile: long, tenant: nil, monitor: monitor)) == ["tiny", "big", "euro"])
        monitor.setQualityScores(["tiny": 0.4, "big": 0.95])
        #expect(names(planner(route).plan(route, profile: long, tenant: nil, monitor: monitor)) == ["big", "euro"])
        // Below the size the floor applies from: tiny still serves.
        #expect(names(planner(route).plan(route, profile: short, tenant: nil, monitor: monitor)).first == "tiny")
        monitor.setQualityScores(["tiny": 0.4, "big": 0.5, "euro": 0.89])
        guard case .failure(.belowQuality(let reason)) = planner(route).plan(route, profile: long, tenant: nil, monitor: monitor)
        else {
            Issue.record("expected a refusal")
            return
        }
        #expect(reason.contains("min_quality 0.9") && !reason.contains("0.89"))
    }

    /// quality-per-cost: expected cost over quality, lowest first; unprobed counts as 1, 0 goes last.
    @Test func qualityPerCostWeighsCostByQuality() {
        let route = route(.qualityPerCost)
        let monitor = DeploymentMonitor(deployments: [big, euro, tiny])
        let profile = RequestProfile(estimatedInputTokens: 1000, maxOutputTokens: 10)
        // By cost alone: tiny (free), big (200 n$), euro (2,010 n$).
        #expect(names(planner(route).plan(route, profile: profile, tenant: nil, monitor: monitor)) == ["tiny", "big", "euro"])
        // tiny scores 0 → last; big at 0.05 → 4,000 per unit of quality, euro at 1 → 2,010.
        monitor.setQualityScores(["tiny": 0, "big": 0.05, "euro": 1])
        #expect(names(planner(route).plan(route, profile: profile, tenant: nil, monitor: monitor)) == ["euro", "big", "tiny"])
        // At 0.2, big is 1,000 per unit: first again.
        monitor.setQualityScores(["tiny": 0, "big": 0.2, "euro": 1])
        #expect(names(planner(route).plan(route, profile: profile, tenant: nil, monitor: monitor)) == ["big", "euro", "tiny"])
    }

    @Test func cheapestUsesTheRoutesRecentOutputWhenMaxTokensIsUnset() {
        let route = route(.cheapest)
        let monitor = DeploymentMonitor(deployments: [big, euro, tiny])
        let profile = RequestProfile(estimatedInputTokens: 500, requiredCapabilities: [.tools])  // excludes tiny
        // Default expectation (256 output): big 0.05+2.56 µ$ vs euro 1+0.256 → euro first.
        #expect(names(planner(route).plan(route, profile: profile, tenant: nil, monitor: monitor)) == ["euro", "big"])
        for _ in 0..<30 { monitor.recordOutputTokens(route: "r", 5) }
        // Recent answers are ~5 tokens: big 0.05+0.05 vs euro 1+0.005 → big first.
        #expect(names(planner(route).plan(route, profile: profile, tenant: nil, monitor: monitor)) == ["big", "euro"])
    }

    @Test func fastestFollowsMeasuredLatencyAndTriesUnmeasuredFirst() {
        let route = route(.fastest)
        let monitor = DeploymentMonitor(deployments: [big, euro, tiny])
        func serve(_ name: String, _ milliseconds: Int64) {
            guard case .success(let lease) = monitor.acquire(name) else { return }
            monitor.release(
                lease, outcome: .success(latency: .milliseconds(milliseconds), timeToFirstToken: .milliseconds(milliseconds / 4)))
        }
        serve("big", 900)
        serve("euro", 300)
        let profile = RequestProfile(estimatedInputTokens: 10)
        #expect(names(planner(route).plan(route, profile: profile, tenant: nil, monitor: monitor)) == ["tiny", "euro", "big"])
        serve("tiny", 2000)
        #expect(names(planner(route).plan(route, profile: profile, tenant: nil, monitor: monitor)) == ["euro", "big", "tiny"])
    }

    @Test func leastBusyComparesInFlightToTheLimit() {
        let route = route(.leastBusy)
        let monitor = DeploymentMonitor(deployments: [big, euro, tiny])
        _ = monitor.acquire("tiny")  // 1 of 4 = 0.25
        for _ in 0..<10 { _ = monitor.acquire("big") }  // 10 of 1000 (unlimited) = 0.01
        #expect(
            names(planner(route).plan(route, profile: RequestProfile(estimatedInputTokens: 1), tenant: nil, monitor: monitor))
                == ["euro", "big", "tiny"])
    }

    @Test func weightedSplitsFollowTheWeights() {
        let route = route(.weighted, weights: [90, 10, 0])
        let planner = planner(route)
        var firsts: [String: Int] = [:]
        var generator = SplitMix(seed: 42)
        for _ in 0..<10_000 {
            let first = names(
                planner.plan(
                    route, profile: RequestProfile(estimatedInputTokens: 1), tenant: nil, monitor: nil,
                    random: Double(generator.next() % 1_000_000) / 1_000_000)
            ).first!
            firsts[first, default: 0] += 1
        }
        #expect((8_800...9_200).contains(firsts["big"] ?? 0))
        #expect((800...1_200).contains(firsts["euro"] ?? 0))
        #expect(firsts["tiny"] == nil)  // weight 0: only ever a fallback
    }

    @Test func capabilityAndContextFiltersComeBeforeTheStrategy() {
        let route = route(.cheapest)
        let planner = planner(route)
        let vision = RequestProfile(estimatedInputTokens: 10, maxOutputTokens: 10, requiredCapabilities: [.vision])
        // tiny has no vision; of the rest, euro (20 + 10) is cheaper than big (1 + 100) for 10 in / 10 out.
        #expect(names(planner.plan(route, profile: vision, tenant: nil, monitor: nil)) == ["euro", "big"])
        let huge = RequestProfile(estimatedInputTokens: 100_000, maxOutputTokens: 1000)
        #expect(names(planner.plan(route, profile: huge, tenant: nil, monitor: nil)) == ["big"])
        let tooHuge = RequestProfile(estimatedInputTokens: 200_000)
        guard case .failure(.contextTooLong(let reason)) = planner.plan(route, profile: tooHuge, tenant: nil, monitor: nil) else {
            Issue.record("expected contextTooLong")
            return
        }
        #expect(reason.contains("128000"))
        let onlyTiny = Route(name: "r", targets: [RouteTarget("tiny")])
        guard
            case .failure(.unsatisfiable(let missing)) = planner.plan(
                onlyTiny, profile: RequestProfile(estimatedInputTokens: 1, requiredCapabilities: [.tools, .streaming]),
                tenant: nil,
                monitor: nil)
        else {
            Issue.record("expected unsatisfiable")
            return
        }
        #expect(missing.contains("tools"))
    }

    @Test func residencyOfTenantAndRouteBothApply() {
        let euOnly = Tenant(name: "acme", residency: Residency(regions: ["eu", "on-prem"]))
        let route = route(.fallback, residency: Residency(excludeProviders: ["local"]))
        #expect(
            names(planner(route).plan(route, profile: RequestProfile(estimatedInputTokens: 1), tenant: euOnly, monitor: nil))
                == ["euro"])
        let nothingLeft = Tenant(name: "acme", residency: Residency(providers: ["local"]))
        guard
            case .failure(.forbidden(let reason)) = planner(route).plan(
                route, profile: RequestProfile(estimatedInputTokens: 1), tenant: nothingLeft, monitor: nil)
        else {
            Issue.record("expected forbidden")
            return
        }
        #expect(reason.contains("residency"))
        // Each refusal names the rule that made it: the tenant's is checked first, then the route's.
        #expect(reason.contains("big: provider 'openai' is not one of local by the tenant's residency rules"), "\(reason)")
        #expect(reason.contains("by the route's residency rules"), "\(reason)")
    }

    @Test func hintsCannotBypassResidencyOrLeaveTheRoute() {
        let euOnly = Tenant(name: "acme", residency: Residency(regions: ["eu"]))
        let route = route(.fallback)
        let planner = planner(route)
        let profile = RequestProfile(estimatedInputTokens: 1)
        guard
            case .failure(.forbidden(let reason)) = planner.plan(
                route, profile: profile, tenant: euOnly, hints: RoutingHints(deployment: "big"), monitor: nil)
        else {
            Issue.record("a pin must not bypass residency")
            return
        }
        #expect(reason.contains("region 'us'"))
        #expect(
            names(planner.plan(route, profile: profile, tenant: euOnly, hints: RoutingHints(deployment: "euro"), monitor: nil))
                == ["euro"])
        guard
            case .failure(.forbidden) = planner.plan(
                route, profile: profile, tenant: nil, hints: RoutingHints(deployment: "elsewhere"), monitor: nil)
        else {
            Issue.record("a pin outside the route must be refused")
            return
        }
        // A strategy hint only reorders what residency allowed.
        #expect(
            names(planner.plan(route, profile: profile, tenant: euOnly, hints: RoutingHints(strategy: .cheapest), monitor: nil))
                == ["euro"])
    }

    @Test func tenantsCanBeDeniedHints() {
        let strict = Tenant(name: "acme", allowRoutingHints: false)
        let route = route(.fallback)
        guard
            case .failure(.forbidden(let reason)) = planner(route).plan(
                route, profile: RequestProfile(estimatedInputTokens: 1), tenant: strict, hints: RoutingHints(strategy: .fastest),
                monitor: nil)
        else {
            Issue.record("expected forbidden")
            return
        }
        #expect(reason.contains("hints"))
    }
}

/// A small deterministic generator, so the weighted test always sees the same sequence.
struct SplitMix {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
