import Foundation
import SwitchyardCore
import Yams

/// Providers and their deployments: endpoints, keys, timeouts, breakers.
extension NodeReader {
    func provider(_ node: Node, _ path: String) throws -> Provider {
        let entries = try mapping(
            node, path, allowed: ["name", "kind", "base_url", "api_key_env", "region", "max_connections", "health_check"],
            hints: ["api_key": Self.secretHint])
        let name = try name(entries["name"], path + ".name", parent: node)
        let kindText = try requiredString(entries["kind"], path + ".kind", parent: node)
        guard let kind = ProviderKind(rawValue: kindText) else {
            throw error(
                entries["kind"], path + ".kind",
                "unsupported kind '\(kindText)' (supported: \(ProviderKind.allCases.map(\.rawValue).joined(separator: ", ")))")
        }
        let baseURL = try requiredString(entries["base_url"], path + ".base_url", parent: node)
        guard let url = URL(string: baseURL), let scheme = url.scheme, ["http", "https"].contains(scheme), url.host != nil else {
            throw error(entries["base_url"], path + ".base_url", "'\(baseURL)' is not an http(s) URL")
        }
        var healthCheck: HealthCheck?
        if let node = entries["health_check"] {
            let check = try mapping(node, path + ".health_check", allowed: ["path", "interval_seconds", "timeout_seconds"])
            healthCheck = HealthCheck(
                path: try string(check["path"], path + ".health_check.path", required: false) ?? "/models",
                interval: try duration(
                    check["interval_seconds"], path + ".health_check.interval_seconds", unit: .seconds(1), range: 0.1...3600)
                    ?? .seconds(10),
                timeout: try duration(
                    check["timeout_seconds"], path + ".health_check.timeout_seconds", unit: .seconds(1), range: 0.1...60)
                    ?? .seconds(2))
        }
        return Provider(
            name: name, kind: kind, baseURL: baseURL.hasSuffix("/") ? String(baseURL.dropLast()) : baseURL,
            apiKeyEnv: try environmentVariableName(entries["api_key_env"], path + ".api_key_env"),
            region: try string(entries["region"], path + ".region", required: false),
            maxConnections: try integer(entries["max_connections"], path + ".max_connections", range: 1...10_000) ?? 64,
            healthCheck: healthCheck)
    }

    func deployment(_ node: Node, _ path: String, providers: Set<String>) throws -> Deployment {
        let entries = try mapping(
            node, path,
            allowed: [
                "name", "provider", "model", "context_window", "price", "prices", "capacity", "timeout_seconds", "timeouts",
                "capabilities", "max_concurrency", "circuit_breaker", "queue",
            ])
        let name = try name(entries["name"], path + ".name", parent: node)
        let provider = try requiredString(entries["provider"], path + ".provider", parent: node)
        guard providers.contains(provider) else {
            throw error(entries["provider"], path + ".provider", "no provider named '\(provider)' is declared under providers")
        }
        let model = try requiredString(entries["model"], path + ".model", parent: node)
        let contextWindow = try integer(entries["context_window"], path + ".context_window", range: 1...100_000_000)
        var deployment = Deployment(name: name, provider: provider, model: model, contextWindow: contextWindow, prices: .free())
        if entries["price"] != nil && entries["prices"] != nil {
            throw error(entries["prices"], path + ".prices", "give either price (one price) or prices (a dated list), not both")
        }
        if let node = entries["price"] {
            deployment.priceSchedule = PriceSchedule(try price(node, path + ".price"))
        } else if let node = entries["prices"] {
            deployment.priceSchedule = try priceSchedule(node, path + ".prices")
        }
        if let node = entries["capacity"] { deployment.capacity = try capacity(node, path + ".capacity") }
        if let total = try duration(entries["timeout_seconds"], path + ".timeout_seconds", unit: .seconds(1), range: 0.1...86_400)
        {
            deployment.timeouts.total = total
        }
        if let node = entries["timeouts"] { try timeouts(node, path + ".timeouts", into: &deployment.timeouts) }
        if let list = entries["capabilities"] {
            deployment.capabilities = Set(
                try sequence(list, path + ".capabilities").enumerated().map { index, item in
                    let text = try string(item, "\(path).capabilities[\(index)]")!
                    guard let capability = Capability(rawValue: text) else {
                        throw error(
                            item, "\(path).capabilities[\(index)]",
                            "unknown capability '\(text)' (known: \(Capability.allCases.map(\.rawValue).joined(separator: ", ")))"
                        )
                    }
                    return capability
                })
        }
        deployment.maxConcurrency = try integer(entries["max_concurrency"], path + ".max_concurrency", range: 1...100_000)
        if let node = entries["queue"] {
            guard deployment.maxConcurrency != nil else {
                throw error(node, path + ".queue", "a queue needs max_concurrency: requests wait for one of those slots")
            }
            let queue = try mapping(node, path + ".queue", allowed: ["timeout_seconds", "max_waiting"])
            deployment.queue = AdmissionQueuePolicy(
                timeout: try duration(
                    queue["timeout_seconds"], path + ".queue.timeout_seconds", unit: .seconds(1), range: 0.01...600)
                    ?? .seconds(10),
                maxWaiting: try integer(queue["max_waiting"], path + ".queue.max_waiting", range: 1...1_000_000) ?? 1000)
        }
        if let node = entries["circuit_breaker"] {
            deployment.circuitBreaker = try circuitBreaker(node, path + ".circuit_breaker")
        }
        return deployment
    }

    func timeouts(_ node: Node, _ path: String, into timeouts: inout Timeouts) throws {
        let entries = try mapping(
            node, path, allowed: ["connect_seconds", "first_byte_seconds", "idle_seconds", "total_seconds"])
        let range = 0.01...86_400.0
        if let value = try duration(entries["connect_seconds"], path + ".connect_seconds", unit: .seconds(1), range: range) {
            timeouts.connect = value
        }
        if let value = try duration(entries["first_byte_seconds"], path + ".first_byte_seconds", unit: .seconds(1), range: range)
        {
            timeouts.firstByte = value
        }
        if let value = try duration(entries["idle_seconds"], path + ".idle_seconds", unit: .seconds(1), range: range) {
            timeouts.idle = value
        }
        if let value = try duration(entries["total_seconds"], path + ".total_seconds", unit: .seconds(1), range: range) {
            timeouts.total = value
        }
    }

    func circuitBreaker(_ node: Node, _ path: String) throws -> CircuitBreakerPolicy {
        let entries = try mapping(
            node, path,
            allowed: [
                "consecutive_failures", "failure_rate", "minimum_requests", "window_seconds", "open_seconds", "half_open_probes",
            ])
        var policy = CircuitBreakerPolicy()
        if let value = try integer(entries["consecutive_failures"], path + ".consecutive_failures", range: 1...10_000) {
            policy.consecutiveFailures = value
        }
        if let value = try fraction(entries["failure_rate"], path + ".failure_rate") { policy.failureRate = value }
        if let value = try integer(entries["minimum_requests"], path + ".minimum_requests", range: 1...1_000_000) {
            policy.minimumRequests = value
        }
        if let value = try duration(entries["window_seconds"], path + ".window_seconds", unit: .seconds(1), range: 1...86_400) {
            policy.window = value
        }
        if let value = try duration(entries["open_seconds"], path + ".open_seconds", unit: .seconds(1), range: 0.01...86_400) {
            policy.openDuration = value
        }
        if let value = try integer(entries["half_open_probes"], path + ".half_open_probes", range: 1...100) {
            policy.halfOpenProbes = value
        }
        return policy
    }

    static let priceKeys = [
        "input_per_mtok", "output_per_mtok", "cached_input_per_mtok", "cache_write_per_mtok", "reasoning_per_mtok",
        "per_request", "currency",
    ]
}
