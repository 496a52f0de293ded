import Foundation
import SwitchyardCore
import Yams

/// Routes (retry, hedge) and tenants.
extension NodeReader {
    func route(_ node: Node, _ path: String, deployments: Set<String>, providers: Set<String>) throws -> Route {
        let entries = try mapping(
            node, path,
            allowed: [
                "name", "strategy", "targets", "retry", "hedge", "residency", "prefer_committed", "min_quality",
                "min_quality_from_tokens",
            ])
        let name = try name(entries["name"], path + ".name", parent: node)
        let strategyText = try string(entries["strategy"], path + ".strategy", required: false) ?? "fallback"
        guard let strategy = RouteStrategy(rawValue: strategyText) else {
            throw error(
                entries["strategy"], path + ".strategy",
                "unsupported strategy '\(strategyText)' (supported: \(RouteStrategy.allCases.map(\.rawValue).joined(separator: ", ")))"
            )
        }
        let targetNodes = try sequence(entries["targets"], path + ".targets")
        guard !targetNodes.isEmpty else {
            throw error(entries["targets"] ?? node, path + ".targets", "needs at least one deployment")
        }
        var targets: [RouteTarget] = []
        for (index, target) in targetNodes.enumerated() {
            let targetPath = "\(path).targets[\(index)]"
            var deploymentNode: Node? = target
            var weight = 1
            if case .mapping = target {
                let fields = try mapping(target, targetPath, allowed: ["deployment", "weight"])
                deploymentNode = fields["deployment"]
                weight = try integer(fields["weight"], targetPath + ".weight", range: 0...1_000_000) ?? 1
            }
            let deployment = try requiredString(
                deploymentNode, targetPath + (deploymentNode == target ? "" : ".deployment"), parent: target)
            guard deployments.contains(deployment) else {
                throw error(deploymentNode, targetPath, "no deployment named '\(deployment)' is declared under deployments")
            }
            guard !targets.contains(where: { $0.deployment == deployment }) else {
                throw error(deploymentNode, targetPath, "deployment '\(deployment)' is listed twice")
            }
            targets.append(RouteTarget(deployment, weight: weight))
        }
        if strategy == .weighted && targets.allSatisfy({ $0.weight == 0 }) {
            throw error(entries["targets"], path + ".targets", "a weighted route needs at least one target with a weight above 0")
        }
        var route = Route(name: name, strategy: strategy, targets: targets)
        if let node = entries["retry"] { route.retry = try retry(node, path + ".retry") }
        if let node = entries["hedge"] { route.hedge = try hedge(node, path + ".hedge") }
        route.residency = try residency(entries["residency"], path + ".residency", providers: providers)
        route.preferCommitted = try bool(entries["prefer_committed"], path + ".prefer_committed") ?? false
        if let score = try fraction(entries["min_quality"], path + ".min_quality") {
            let from = try integer(entries["min_quality_from_tokens"], path + ".min_quality_from_tokens", range: 0...100_000_000)
            route.minQuality = QualityFloor(score: score, fromTokens: from ?? 0)
        } else if entries["min_quality_from_tokens"] != nil {
            throw error(entries["min_quality_from_tokens"], path + ".min_quality_from_tokens", "needs min_quality")
        }
        return route
    }

    func retry(_ node: Node, _ path: String) throws -> RetryPolicy {
        let entries = try mapping(
            node, path,
            allowed: [
                "max_attempts", "budget_ratio", "min_retries_per_second", "backoff_base_ms", "backoff_max_ms",
                "max_retry_after_seconds",
            ])
        var policy = RetryPolicy()
        if let value = try integer(entries["max_attempts"], path + ".max_attempts", range: 1...10) { policy.maxAttempts = value }
        if let value = try fraction(entries["budget_ratio"], path + ".budget_ratio") { policy.budgetRatio = value }
        if let value = try integer(entries["min_retries_per_second"], path + ".min_retries_per_second", range: 0...10_000) {
            policy.minimumRetriesPerSecond = value
        }
        if let value = try duration(
            entries["backoff_base_ms"], path + ".backoff_base_ms", unit: .milliseconds(1), range: 0...60_000)
        {
            policy.backoffBase = value
        }
        if let value = try duration(
            entries["backoff_max_ms"], path + ".backoff_max_ms", unit: .milliseconds(1), range: 0...600_000)
        {
            policy.backoffMax = value
        }
        if let value = try duration(
            entries["max_retry_after_seconds"], path + ".max_retry_after_seconds", unit: .seconds(1), range: 0...3600)
        {
            policy.maxRetryAfter = value
        }
        return policy
    }

    func hedge(_ node: Node, _ path: String) throws -> HedgePolicy {
        let entries = try mapping(node, path, allowed: ["delay_ms", "delay"])
        if let fixed = try duration(entries["delay_ms"], path + ".delay_ms", unit: .milliseconds(1), range: 1...600_000) {
            return HedgePolicy(delay: .fixed(fixed))
        }
        if let delay = try string(entries["delay"], path + ".delay", required: false) {
            guard delay == "p95" else { throw error(entries["delay"], path + ".delay", "expected p95 (or use delay_ms)") }
        }
        return HedgePolicy(delay: .p95(fallback: .seconds(2)))
    }

    func tenant(_ node: Node, _ path: String, routes: Set<String>, providers: Set<String>) throws -> Tenant {
        let entries = try mapping(
            node, path, allowed: ["name", "allowed_routes", "residency", "allow_routing_hints", "projects", "weight"])
        let name = try name(entries["name"], path + ".name", parent: node)
        guard name != Tenant.probesTenant else {
            throw error(entries["name"], path + ".name", "'\(name)' is reserved for canary probes' spend")
        }
        var allowed: [String]?
        if let list = entries["allowed_routes"] {
            allowed = try sequence(list, path + ".allowed_routes").enumerated().map { index, item in
                let itemPath = "\(path).allowed_routes[\(index)]"
                let route = try string(item, itemPath)!
                guard routes.contains(route) else {
                    throw error(item, itemPath, "no route named '\(route)' is declared under routes")
                }
                return route
            }
        }
        return Tenant(
            name: name, allowedRoutes: allowed,
            residency: try residency(entries["residency"], path + ".residency", providers: providers),
            allowRoutingHints: try bool(entries["allow_routing_hints"], path + ".allow_routing_hints") ?? true,
            projects: try names(entries["projects"], path + ".projects") ?? [],
            weight: try integer(entries["weight"], path + ".weight", range: 1...1000) ?? 1)
    }
}
