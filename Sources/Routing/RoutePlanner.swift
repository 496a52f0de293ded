import SwitchyardCore

/// What routing needs to know about one request.
public struct RequestProfile: Sendable, Equatable {
    public var estimatedInputTokens: Int
    public var maxOutputTokens: Int?
    public var requiredCapabilities: Set<Capability>

    public init(estimatedInputTokens: Int, maxOutputTokens: Int? = nil, requiredCapabilities: Set<Capability> = []) {
        self.estimatedInputTokens = estimatedInputTokens
        self.maxOutputTokens = maxOutputTokens
        self.requiredCapabilities = requiredCapabilities
    }
}

/// Per-request routing wishes from headers, honoured only within what the tenant allows.
public struct RoutingHints: Sendable, Equatable {
    public var deployment: String?
    public var strategy: RouteStrategy?

    public init(deployment: String? = nil, strategy: RouteStrategy? = nil) {
        self.deployment = deployment
        self.strategy = strategy
    }

    public var isEmpty: Bool { deployment == nil && strategy == nil }
}

public enum RoutingError: Error, Equatable, Sendable {
    /// Policy forbids it (403): residency, hints not allowed, pin outside the route.
    case forbidden(String)
    /// No deployment can serve a request like this (400): capability missing.
    case unsatisfiable(String)
    /// The request does not fit any deployment's context window (400).
    case contextTooLong(String)
    /// Every deployment left is known to score below the route's `min_quality` (503).
    case belowQuality(String)
}

/// The ordered deployments to try for one request.
public struct RoutePlan: Sendable {
    public var route: Route
    public var strategy: RouteStrategy
    public var candidates: [Deployment]
}

/// Decides, per request, which deployments may serve it and in which order.
///
/// Filters come first and nothing bypasses them: residency (tenant and route), capabilities,
/// context window, the route's quality floor (a deployment not yet probed passes it). Then the strategy orders what is left; health is checked when each attempt
/// claims its deployment (`DeploymentMonitor.acquire`).
public struct RoutePlanner: Sendable {
    private let routes: [String: Route]
    private let deployments: [String: Deployment]
    private let providers: [String: Provider]
    /// Output tokens assumed by `cheapest` when neither the request nor history says.
    public static let defaultExpectedOutputTokens = 256

    public init(routes: [Route], deployments: [Deployment], providers: [Provider] = []) {
        self.routes = Dictionary(routes.map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first })
        self.deployments = Dictionary(deployments.map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first })
        self.providers = Dictionary(providers.map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first })
    }

    public var routeNames: [String] { routes.keys.sorted() }

    public func route(named name: String) -> Route? { routes[name] }

    public func plan(
        _ route: Route, profile: RequestProfile, tenant: Tenant?, hints: RoutingHints = RoutingHints(),
        policyResidency: (owner: String, residency: Residency)? = nil, monitor: DeploymentMonitor?,
        random: Double = SharedRandom.unit()
    ) -> Result<RoutePlan, RoutingError> {
        var candidates = route.targets.compactMap { deployments[$0.deployment] }
        if !hints.isEmpty, tenant?.allowRoutingHints == false {
            return .failure(.forbidden("routing hints are not allowed for tenant '\(tenant?.name ?? "")'"))
        }
        if let pinned = hints.deployment {
            guard let deployment = candidates.first(where: { $0.name == pinned }) else {
                return .failure(.forbidden("deployment '\(pinned)' is not a target of route '\(route.name)'"))
            }
            candidates = [deployment]
        }

        // Residency: both the tenant's and the route's rules, never widened by a hint.
        var refusals: [String] = []
        let constrained = tenant?.residency != nil || route.residency != nil || policyResidency != nil
        if constrained {
            // The rules in force gathered once, and each deployment's provider looked up once: per
            // deployment and rule, they were an array and a provider copied for every request.
            var rules: [(owner: String, residency: Residency)] = []
            if let residency = tenant?.residency { rules.append(("the tenant's residency rules", residency)) }
            if let residency = route.residency { rules.append(("the route's residency rules", residency)) }
            if let policyResidency { rules.append((policyResidency.owner, policyResidency.residency)) }
            candidates = candidates.filter { deployment in
                let provider = providers[deployment.provider]
                for (owner, residency) in rules {
                    if let reason = residency.violation(deployment, provider: provider) {
                        refusals.append("\(deployment.name): \(reason) by \(owner)")
                        return false
                    }
                }
                return true
            }
        }
        guard !candidates.isEmpty else {
            return .failure(
                .forbidden("no deployment of route '\(route.name)' is allowed here (\(refusals.joined(separator: "; ")))"))
        }

        let required = profile.requiredCapabilities
        // Filtered only when something drops out: a filtered copy copies every deployment's fields.
        func keeping(_ deployments: [Deployment], where keep: (Deployment) -> Bool) -> [Deployment] {
            deployments.allSatisfy(keep) ? deployments : deployments.filter(keep)
        }
        let capable = keeping(candidates) { required.isSubset(of: $0.capabilities) }
        guard !capable.isEmpty else {
            let missing = required.subtracting(candidates.reduce(into: Set<Capability>()) { $0.formUnion($1.capabilities) })
            let names = (missing.isEmpty ? required : missing).sorted().map(\.rawValue).joined(separator: ", ")
            return .failure(.unsatisfiable("no deployment of route '\(route.name)' supports \(names)"))
        }
        let needed = profile.estimatedInputTokens + (profile.maxOutputTokens ?? 0)
        let fitting = keeping(capable) { ($0.contextWindow ?? Int.max) >= needed }
        guard !fitting.isEmpty else {
            let largest = capable.compactMap(\.contextWindow).max() ?? 0
            return .failure(
                .contextTooLong(
                    "this request needs about \(needed) tokens (prompt ≈\(profile.estimatedInputTokens) + max_tokens \(profile.maxOutputTokens ?? 0)); the largest context window on route '\(route.name)' is \(largest)"
                ))
        }

        var qualified = fitting
        if let floor = route.minQuality, profile.estimatedInputTokens >= floor.fromTokens, let monitor {
            qualified = keeping(fitting) { (monitor.qualityScore($0.name) ?? floor.score) >= floor.score }
            guard !qualified.isEmpty else {
                // Scores are the operator's to read (the scorecard), not a tenant's.
                return .failure(
                    .belowQuality(
                        "no deployment of route '\(route.name)' meets its min_quality \(Self.formatScore(floor.score))"))
            }
        }

        let strategy = hints.strategy ?? route.strategy
        var ordered = order(qualified, route: route, strategy: strategy, profile: profile, monitor: monitor, random: random)
        if route.preferCommitted, let monitor {
            // Stable: the strategy's order holds within each group.
            let committed = ordered.filter { monitor.hasUnderUsedCommitment(provider: $0.provider) }
            ordered = committed + ordered.filter { !monitor.hasUnderUsedCommitment(provider: $0.provider) }
        }
        if let demoted = monitor?.demotedDeployments, !demoted.isEmpty {
            // An incident shifted traffic away from these: last, still a fallback.
            ordered = ordered.filter { !demoted.contains($0.name) } + ordered.filter { demoted.contains($0.name) }
        }
        return .success(RoutePlan(route: route, strategy: strategy, candidates: ordered))
    }

    func order(
        _ candidates: [Deployment], route: Route, strategy: RouteStrategy, profile: RequestProfile,
        monitor: DeploymentMonitor?, random: Double
    ) -> [Deployment] {
        // Each key computed once; stable, so the configured order breaks ties.
        func sorted(by key: (Deployment) -> Double) -> [Deployment] {
            let keys = candidates.map(key)
            return candidates.indices.sorted { lhs, rhs in
                keys[lhs] != keys[rhs] ? keys[lhs] < keys[rhs] : lhs < rhs
            }.map { candidates[$0] }
        }
        switch strategy {
        case .fallback:
            return candidates
        case .weighted:
            let weights = candidates.map { deployment in route.targets.first { $0.deployment == deployment.name }?.weight ?? 0 }
            let total = weights.reduce(0, +)
            guard total > 0 else { return candidates }
            var threshold = random * Double(total)
            var chosen = 0
            for (index, weight) in weights.enumerated() where weight > 0 {
                chosen = index
                if threshold < Double(weight) { break }
                threshold -= Double(weight)
            }
            let rest = candidates.indices.filter { $0 != chosen }.sorted { weights[$0] > weights[$1] }
            return [candidates[chosen]] + rest.map { candidates[$0] }
        case .cheapest:
            let output =
                profile.maxOutputTokens ?? monitor?.averageOutputTokens(route: route.name) ?? Self.defaultExpectedOutputTokens
            let usage = TokenUsage(inputTokens: profile.estimatedInputTokens, outputTokens: output)
            return sorted { Double($0.prices.cost(of: usage).nanos) }
        case .fastest:
            // No data yet counts as fastest, so every deployment gets measured.
            let streaming = profile.requiredCapabilities.contains(.streaming)
            return sorted { deployment in
                let snapshot = monitor?.snapshot(deployment.name)
                let latency = streaming ? (snapshot?.timeToFirstToken ?? snapshot?.latency) : snapshot?.latency
                return latency.map { Double($0.components.seconds) + Double($0.components.attoseconds) / 1e18 } ?? 0
            }
        case .leastBusy:
            return sorted { monitor?.snapshot($0.name)?.load ?? 0 }
        case .qualityPerCost:
            // Expected cost over quality, lowest first. Not yet probed counts as quality 1, so
            // every deployment gets measured; a score of 0 goes last. One nano-unit more on every
            // cost, so free deployments are ordered by quality too.
            let output =
                profile.maxOutputTokens ?? monitor?.averageOutputTokens(route: route.name) ?? Self.defaultExpectedOutputTokens
            let usage = TokenUsage(inputTokens: profile.estimatedInputTokens, outputTokens: output)
            return sorted { deployment in
                let quality = monitor?.qualityScore(deployment.name) ?? 1
                let cost = Double(deployment.prices.cost(of: usage).nanos) + 1
                return quality > 0 ? cost / quality : .infinity
            }
        }
    }

    static func formatScore(_ score: Double) -> String { "\((score * 100).rounded() / 100)" }
}
