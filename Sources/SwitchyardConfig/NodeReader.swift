import Foundation
import SwitchyardCore
import Yams

/// Walks the YAML node tree, building the configuration and failing at the first invalid node.
struct NodeReader {
    let file: String

    func error(_ node: Node?, _ path: String, _ reason: String) -> ConfigurationError {
        ConfigurationError(file: file, line: node?.mark?.line, column: node?.mark?.column, path: path, reason: reason)
    }

    // MARK: Generic shapes

    /// The mapping's entries by key, after checking that every key is one of `allowed`.
    func mapping(_ node: Node, _ path: String, allowed: [String], hints: [String: String] = [:]) throws -> [String: Node] {
        guard case .mapping(let mapping) = node else { throw error(node, path, "expected a mapping (key: value)") }
        var entries: [String: Node] = [:]
        for (keyNode, value) in mapping {
            guard let key = keyNode.string else { throw error(keyNode, path, "keys must be strings") }
            let keyPath = path.isEmpty ? key : "\(path).\(key)"
            if let hint = hints[key] { throw error(keyNode, keyPath, hint) }
            guard allowed.contains(key) else {
                throw error(keyNode, keyPath, "unknown key '\(key)' (expected one of: \(allowed.joined(separator: ", ")))")
            }
            guard entries[key] == nil else { throw error(keyNode, keyPath, "duplicate key '\(key)'") }
            entries[key] = value
        }
        return entries
    }

    func sequence(_ node: Node?, _ path: String) throws -> [Node] {
        guard let node else { return [] }
        if case .scalar(let scalar) = node, scalar.string.isEmpty || scalar.string == "null" || scalar.string == "~" { return [] }
        guard case .sequence(let sequence) = node else { throw error(node, path, "expected a list") }
        return Array(sequence)
    }

    func string(_ node: Node?, _ path: String, required: Bool = true) throws -> String? {
        guard let node else {
            if required { throw error(nil, path, "is required") }
            return nil
        }
        guard case .scalar(let scalar) = node else { throw error(node, path, "expected a string") }
        guard !scalar.string.isEmpty else { throw error(node, path, "must not be empty") }
        return scalar.string
    }

    func requiredString(_ node: Node?, _ path: String, parent: Node) throws -> String {
        guard let node else { throw error(parent, path, "is required") }
        return try string(node, path)!
    }

    func integer(_ node: Node?, _ path: String, range: ClosedRange<Int>) throws -> Int? {
        guard let node else { return nil }
        guard case .scalar(let scalar) = node, let value = Int(scalar.string) else {
            throw error(node, path, "expected a whole number")
        }
        guard range.contains(value) else {
            throw error(node, path, "must be between \(range.lowerBound) and \(range.upperBound)")
        }
        return value
    }

    /// A price: a decimal written as a string ("0.02") or a plain YAML number (0.02), read from
    /// its literal text so no binary floating point is ever involved.
    func decimal(_ node: Node?, _ path: String) throws -> Decimal? {
        guard let node else { return nil }
        guard case .scalar(let scalar) = node, let value = Decimal(exactLiteral: scalar.string) else {
            throw error(node, path, "expected a non-negative decimal number such as \"0.15\"")
        }
        return value
    }

    func bool(_ node: Node?, _ path: String) throws -> Bool? {
        guard let node else { return nil }
        guard case .scalar(let scalar) = node, let value = ["true": true, "false": false][scalar.string] else {
            throw error(node, path, "expected true or false")
        }
        return value
    }

    func fraction(_ node: Node?, _ path: String) throws -> Double? {
        guard let node else { return nil }
        guard let value = try decimal(node, path), value <= 1 else { throw error(node, path, "expected a number from 0 to 1") }
        return Double(truncating: value as NSDecimalNumber)
    }

    /// A duration in the unit the key names (`…_seconds`, `…_ms`), decimals allowed.
    func duration(_ node: Node?, _ path: String, unit: Duration, range: ClosedRange<Double>) throws -> Duration? {
        guard let node else { return nil }
        guard let value = try decimal(node, path) else { return nil }
        let amount = Double(truncating: value as NSDecimalNumber)
        guard range.contains(amount) else {
            throw error(node, path, "must be between \(range.lowerBound.formatted()) and \(range.upperBound.formatted())")
        }
        return unit * amount
    }

    func names(_ node: Node?, _ path: String) throws -> [String]? {
        guard let node else { return nil }
        return try sequence(node, path).enumerated().map { index, item in try string(item, "\(path)[\(index)]")! }
    }

    func residency(_ node: Node?, _ path: String, providers: Set<String>) throws -> Residency? {
        guard let node else { return nil }
        let entries = try mapping(node, path, allowed: ["regions", "providers", "exclude_providers"])
        let included = try names(entries["providers"], path + ".providers")
        let excluded = try names(entries["exclude_providers"], path + ".exclude_providers") ?? []
        for (key, list) in [("providers", included ?? []), ("exclude_providers", excluded)] {
            for (index, name) in list.enumerated() where !providers.contains(name) {
                throw error(entries[key], "\(path).\(key)[\(index)]", "no provider named '\(name)' is declared under providers")
            }
        }
        return Residency(
            regions: try names(entries["regions"], path + ".regions").map(Set.init), providers: included.map(Set.init),
            excludeProviders: Set(excluded))
    }

    func name(_ node: Node?, _ path: String, parent: Node) throws -> String {
        let value = try requiredString(node, path, parent: parent)
        let allowed = value.unicodeScalars.allSatisfy {
            CharacterSet.alphanumerics.contains($0) || "-_.:/@".unicodeScalars.contains($0)
        }
        guard allowed, value.count <= 128 else {
            throw error(node, path, "'\(value)' may contain only letters, digits and - _ . : / @ (at most 128 characters)")
        }
        return value
    }

    func environmentVariableName(_ node: Node?, _ path: String) throws -> String? {
        guard let value = try string(node, path, required: false) else { return nil }
        let valid =
            value.first.map { $0 == "_" || ($0.isASCII && $0.isLetter) } == true
            && value.allSatisfy { $0 == "_" || ($0.isASCII && ($0.isLetter || $0.isNumber)) }
        guard valid else {
            throw error(
                node, path,
                "'\(value)' is not an environment variable name; put the secret in the environment and name the variable here")
        }
        return value
    }

    // MARK: Sections

    static let secretHint =
        "secrets never go in the configuration file: put the key in an environment variable and name it with api_key_env"

    mutating func configuration(_ root: Node) throws -> SwitchyardConfiguration {
        let top = try mapping(
            root, "",
            allowed: [
                "server", "storage", "admin", "providers", "deployments", "routes", "tenants", "commitments", "finops",
                "policies", "limits", "budgets", "governance", "audit", "observability",
            ])
        var configuration = SwitchyardConfiguration()
        if let node = top["server"] { configuration.server = try server(node) }
        if let node = top["storage"] { configuration.storage = try storage(node) }
        if let node = top["admin"] {
            let entries = try mapping(node, "admin", allowed: ["key_env"], hints: ["key": Self.secretHint])
            configuration.admin.keyEnv = try environmentVariableName(entries["key_env"], "admin.key_env")
        }
        configuration.providers = try unique(top["providers"], "providers") { try provider($0, $1) }
        let providerNames = Set(configuration.providers.map(\.name))
        configuration.deployments = try unique(top["deployments"], "deployments") {
            try deployment($0, $1, providers: providerNames)
        }
        let deploymentNames = Set(configuration.deployments.map(\.name))
        configuration.routes = try unique(top["routes"], "routes") {
            try route($0, $1, deployments: deploymentNames, providers: providerNames)
        }
        let routeNames = Set(configuration.routes.map(\.name))
        configuration.tenants = try unique(top["tenants"], "tenants") {
            try tenant($0, $1, routes: routeNames, providers: providerNames)
        }
        configuration.commitments = try unique(top["commitments"], "commitments") {
            try commitment($0, $1, providers: providerNames)
        }
        if let node = top["finops"] { configuration.finOps = try finOps(node) }
        let tenants = configuration.tenants
        configuration.policies = try unique(top["policies"], "policies") {
            try policy($0, $1, tenants: tenants, routes: routeNames, providers: providerNames)
        }
        configuration.limits = try sequence(top["limits"], "limits").enumerated().map { index, item in
            try limit(item, "limits[\(index)]", tenants: tenants)
        }
        for (index, limit) in configuration.limits.enumerated()
        where configuration.limits[..<index].contains(where: { $0.scope == limit.scope }) {
            throw error(
                try sequence(top["limits"], "limits")[index], "limits[\(index)].scope",
                "'\(limit.scope)' has limits declared twice")
        }
        configuration.budgets = try unique(top["budgets"], "budgets") { try budget($0, $1, tenants: tenants) }
        if let node = top["governance"] { configuration.governance = try governance(node) }
        if let node = top["observability"] { configuration.observability = try observability(node) }
        if let node = top["audit"] {
            configuration.audit = try audit(node, alertWebhook: configuration.governance.alertWebhook)
        }
        configuration.unpricedDeployments = Set(
            try sequence(top["deployments"], "deployments").compactMap { node -> String? in
                guard case .mapping(let fields) = node, fields["price"] == nil, fields["prices"] == nil else { return nil }
                return fields["name"]?.string
            })
        return configuration
    }

    /// Reads a list of named items, rejecting a name used twice.
    func unique<T>(_ node: Node?, _ path: String, _ read: (Node, String) throws -> T) throws -> [T] {
        var seen: Set<String> = []
        var items: [T] = []
        for (index, item) in try sequence(node, path).enumerated() {
            let itemPath = "\(path)[\(index)]"
            let value = try read(item, itemPath)
            let name = Mirror(reflecting: value).children.first { $0.label == "name" }?.value as? String ?? ""
            guard seen.insert(name).inserted else { throw error(item, itemPath + ".name", "'\(name)' is declared twice") }
            items.append(value)
        }
        return items
    }

    func server(_ node: Node) throws -> SwitchyardConfiguration.Server {
        let entries = try mapping(
            node, "server",
            allowed: [
                "listen", "max_body_bytes", "idle_timeout_seconds", "request_read_timeout_seconds", "max_connections",
                "max_connections_per_ip",
            ])
        var server = SwitchyardConfiguration.Server()
        if let (host, port) = try listenAddress(entries["listen"], "server.listen") {
            (server.host, server.port) = (host, port)
        }
        if let limit = try integer(entries["max_connections"], "server.max_connections", range: 1...10_000_000) {
            server.maxConnections = limit
        }
        if let limit = try integer(entries["max_connections_per_ip"], "server.max_connections_per_ip", range: 1...10_000_000) {
            server.maxConnectionsPerIP = limit
        }
        if let limit = try integer(entries["max_body_bytes"], "server.max_body_bytes", range: 1024...(1 << 30)) {
            server.maxBodyBytes = limit
        }
        if let idle = try duration(
            entries["idle_timeout_seconds"], "server.idle_timeout_seconds", unit: .seconds(1), range: 0.1...86_400)
        {
            server.idleTimeout = idle
        }
        if let read = try duration(
            entries["request_read_timeout_seconds"], "server.request_read_timeout_seconds", unit: .seconds(1),
            range: 0.1...86_400)
        {
            server.requestReadTimeout = read
        }
        return server
    }

    /// `HOST:PORT` (`[::1]:PORT` for IPv6), or only `PORT` when `defaultHost` is given.
    func listenAddress(_ node: Node?, _ path: String, defaultHost: String? = nil) throws -> (String, Int)? {
        guard let listen = try string(node, path, required: false) else { return nil }
        if let defaultHost, let port = Int(listen), (1...65535).contains(port) { return (defaultHost, port) }
        guard let colon = listen.lastIndex(of: ":"), let port = Int(listen[listen.index(after: colon)...]),
            (1...65535).contains(port), colon > listen.startIndex
        else {
            throw error(node, path, "expected HOST:PORT, e.g. \"127.0.0.1:8080\"")
        }
        return (String(listen[..<colon]).trimmingCharacters(in: CharacterSet(charactersIn: "[]")), port)
    }

    func observability(_ node: Node) throws -> SwitchyardConfiguration.Observability {
        let entries = try mapping(node, "observability", allowed: ["metrics_listen", "metrics_token_env"])
        var observability = SwitchyardConfiguration.Observability()
        if let (host, port) = try listenAddress(
            entries["metrics_listen"], "observability.metrics_listen", defaultHost: "127.0.0.1")
        {
            (observability.metricsHost, observability.metricsPort) = (host, port)
        }
        observability.metricsTokenEnv = try environmentVariableName(
            entries["metrics_token_env"], "observability.metrics_token_env")
        return observability
    }

    func storage(_ node: Node) throws -> SwitchyardConfiguration.Storage {
        let entries = try mapping(node, "storage", allowed: ["url", "journal"])
        var storage = SwitchyardConfiguration.Storage()
        if let url = try string(entries["url"], "storage.url", required: false) {
            guard url.hasPrefix("sqlite://") || url.hasPrefix("postgres://") || url.hasPrefix("postgresql://"),
                !url.hasSuffix("://")
            else {
                throw error(
                    entries["url"], "storage.url", "expected sqlite://PATH or postgres://USER:PASSWORD@HOST:PORT/DATABASE")
            }
            storage.url = url
        }
        if let journal = try string(entries["journal"], "storage.journal", required: false) {
            storage.journalPath = journal
        }
        return storage
    }

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

    func price(_ node: Node, _ path: String, extraKeys: [String] = []) throws -> TokenPrices {
        let entries = try mapping(node, path, allowed: Self.priceKeys + extraKeys)
        guard let input = try decimal(entries["input_per_mtok"], path + ".input_per_mtok") else {
            throw error(node, path + ".input_per_mtok", "is required")
        }
        guard let output = try decimal(entries["output_per_mtok"], path + ".output_per_mtok") else {
            throw error(node, path + ".output_per_mtok", "is required")
        }
        return TokenPrices(
            inputPerMillion: input, outputPerMillion: output,
            cachedInputPerMillion: try decimal(entries["cached_input_per_mtok"], path + ".cached_input_per_mtok"),
            cacheWritePerMillion: try decimal(entries["cache_write_per_mtok"], path + ".cache_write_per_mtok"),
            reasoningPerMillion: try decimal(entries["reasoning_per_mtok"], path + ".reasoning_per_mtok"),
            perRequest: try decimal(entries["per_request"], path + ".per_request") ?? 0,
            currency: try currency(entries["currency"], path + ".currency"))
    }

    func currency(_ node: Node?, _ path: String) throws -> String {
        let currency = try string(node, path, required: false) ?? "USD"
        guard currency.count == 3, currency.allSatisfy({ $0.isASCII && $0.isUppercase }) else {
            throw error(node, path, "expected a three-letter ISO 4217 code such as USD")
        }
        return currency
    }

    /// A dated price list. Dates must fall on a whole hour (UTC): the ledger's hourly rollups then
    /// never mix two prices, so re-pricing them is exact.
    func priceSchedule(_ node: Node, _ path: String) throws -> PriceSchedule {
        var entries: [PriceSchedule.Entry] = []
        let items = try sequence(node, path)
        guard !items.isEmpty else { throw error(node, path, "needs at least one price") }
        for (index, item) in items.enumerated() {
            let itemPath = "\(path)[\(index)]"
            let prices = try price(item, itemPath, extraKeys: ["effective_from"])
            let fields = try mapping(item, itemPath, allowed: Self.priceKeys + ["effective_from"])
            let from = try time(fields["effective_from"], itemPath + ".effective_from") ?? UnixMicros(0)
            guard from.value % 3_600_000_000 == 0 else {
                throw error(fields["effective_from"], itemPath + ".effective_from", "must be on a whole hour (UTC)")
            }
            guard !entries.contains(where: { $0.effectiveFrom == from }) else {
                throw error(fields["effective_from"], itemPath + ".effective_from", "two prices take effect at the same time")
            }
            if let first = entries.first?.prices.currency, first != prices.currency {
                throw error(fields["currency"], itemPath + ".currency", "every price of one deployment must use one currency")
            }
            entries.append(PriceSchedule.Entry(effectiveFrom: from, prices: prices))
        }
        return PriceSchedule(entries)
    }

    func time(_ node: Node?, _ path: String) throws -> UnixMicros? {
        guard let text = try string(node, path, required: false) else { return nil }
        guard let time = UnixMicros(dateOrTimestamp: text) else {
            throw error(node, path, "expected a date (2026-11-01) or a timestamp (2026-11-01T12:00:00Z)")
        }
        return time
    }

    func capacity(_ node: Node, _ path: String) throws -> CapacityCost {
        let entries = try mapping(node, path, allowed: ["cost_per_hour", "cost_per_month", "slots", "currency"])
        let hourly = try decimal(entries["cost_per_hour"], path + ".cost_per_hour")
        let monthly = try decimal(entries["cost_per_month"], path + ".cost_per_month")
        let rate: CapacityCost.Rate
        switch (hourly, monthly) {
        case (let hourly?, nil): rate = .hourly(hourly)
        case (nil, let monthly?): rate = .monthly(monthly)
        default: throw error(node, path, "give exactly one of cost_per_hour or cost_per_month")
        }
        return CapacityCost(
            rate: rate, slots: try integer(entries["slots"], path + ".slots", range: 1...100_000) ?? 1,
            currency: try currency(entries["currency"], path + ".currency"))
    }

    func commitment(_ node: Node, _ path: String, providers: Set<String>) throws -> Commitment {
        let entries = try mapping(
            node, path,
            allowed: [
                "name", "provider", "period", "start", "end", "committed_spend", "reserved_tokens", "discount_rate",
                "overage_per_mtok", "warn_below", "currency",
            ])
        let name = try name(entries["name"], path + ".name", parent: node)
        let provider = try requiredString(entries["provider"], path + ".provider", parent: node)
        guard providers.contains(provider) else {
            throw error(entries["provider"], path + ".provider", "no provider named '\(provider)' is declared under providers")
        }
        let periodText = try string(entries["period"], path + ".period", required: false) ?? "month"
        guard let period = Commitment.Period(rawValue: periodText) else {
            throw error(entries["period"], path + ".period", "expected month or term")
        }
        guard let start = try time(entries["start"], path + ".start") else { throw error(node, path + ".start", "is required") }
        guard let end = try time(entries["end"], path + ".end") else { throw error(node, path + ".end", "is required") }
        guard end > start else { throw error(entries["end"], path + ".end", "must be after start") }
        let spend = try decimal(entries["committed_spend"], path + ".committed_spend")
        let tokens = try integer(entries["reserved_tokens"], path + ".reserved_tokens", range: 1...Int.max)
        guard spend != nil || tokens != nil else {
            throw error(node, path, "give committed_spend, reserved_tokens or both")
        }
        let discount = try decimal(entries["discount_rate"], path + ".discount_rate") ?? 0
        guard discount < 1 else { throw error(entries["discount_rate"], path + ".discount_rate", "expected a fraction below 1") }
        let warnBelow = try decimal(entries["warn_below"], path + ".warn_below") ?? Decimal(string: "0.9")!
        guard warnBelow <= 1 else { throw error(entries["warn_below"], path + ".warn_below", "expected a fraction up to 1") }
        return Commitment(
            name: name, provider: provider, period: period, termStart: start, termEnd: end, committedSpend: spend,
            reservedTokens: tokens.map(Int64.init), discountRate: discount,
            overagePerMillion: try decimal(entries["overage_per_mtok"], path + ".overage_per_mtok"), warnBelow: warnBelow,
            currency: try currency(entries["currency"], path + ".currency"))
    }

    func audit(_ node: Node, alertWebhook: String?) throws -> SwitchyardConfiguration.Audit {
        let entries = try mapping(
            node, "audit",
            allowed: [
                "key_env", "checkpoint_file", "checkpoint_to_alert_webhook", "checkpoint_every_entries",
                "checkpoint_interval_seconds",
            ], hints: ["key": Self.secretHint])
        var audit = SwitchyardConfiguration.Audit()
        audit.keyEnv = try environmentVariableName(entries["key_env"], "audit.key_env")
        audit.checkpointFile = try string(entries["checkpoint_file"], "audit.checkpoint_file", required: false)
        audit.checkpointToAlertWebhook =
            try bool(entries["checkpoint_to_alert_webhook"], "audit.checkpoint_to_alert_webhook") ?? false
        if let count = try integer(
            entries["checkpoint_every_entries"], "audit.checkpoint_every_entries", range: 1...10_000_000)
        {
            audit.checkpointEveryEntries = count
        }
        if let interval = try duration(
            entries["checkpoint_interval_seconds"], "audit.checkpoint_interval_seconds", unit: .seconds(1), range: 1...86_400)
        {
            audit.checkpointInterval = interval
        }
        // Checkpoints are signed: without a key, anyone could write one.
        let checkpointKey =
            audit.checkpointFile != nil ? "checkpoint_file" : audit.checkpointToAlertWebhook ? "checkpoint_to_alert_webhook" : nil
        if let checkpointKey, audit.keyEnv == nil {
            throw error(
                entries[checkpointKey], "audit.\(checkpointKey)",
                "checkpoints are signed with the audit key: set audit.key_env too")
        }
        if audit.checkpointToAlertWebhook, alertWebhook == nil {
            throw error(
                entries["checkpoint_to_alert_webhook"], "audit.checkpoint_to_alert_webhook",
                "governance.alert_webhook is not set")
        }
        return audit
    }

    func finOps(_ node: Node) throws -> SwitchyardConfiguration.FinOps {
        let entries = try mapping(
            node, "finops", allowed: ["max_provider_share", "alert_webhook", "commitment_check_seconds", "rollup_tags"])
        var finOps = SwitchyardConfiguration.FinOps()
        if let share = try decimal(entries["max_provider_share"], "finops.max_provider_share") {
            guard share <= 1 else { throw error(entries["max_provider_share"], "finops.max_provider_share", "expected 0 to 1") }
            finOps.maxProviderShare = share
        }
        if let webhook = try string(entries["alert_webhook"], "finops.alert_webhook", required: false) {
            guard let url = URL(string: webhook), ["http", "https"].contains(url.scheme ?? ""), url.host != nil else {
                throw error(entries["alert_webhook"], "finops.alert_webhook", "'\(webhook)' is not an http(s) URL")
            }
            finOps.alertWebhook = webhook
        }
        if let interval = try duration(
            entries["commitment_check_seconds"], "finops.commitment_check_seconds", unit: .seconds(1), range: 1...86_400)
        {
            finOps.checkInterval = interval
        }
        if let keys = try names(entries["rollup_tags"], "finops.rollup_tags") { finOps.rollupTags = Set(keys) }
        return finOps
    }

    func route(_ node: Node, _ path: String, deployments: Set<String>, providers: Set<String>) throws -> Route {
        let entries = try mapping(
            node, path, allowed: ["name", "strategy", "targets", "retry", "hedge", "residency", "prefer_committed"])
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
