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
                "policies", "limits", "budgets", "governance", "audit", "observability", "incidents",
                "probes",
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
        if let node = top["incidents"] { configuration.incidents = try incidents(node) }
        if let node = top["probes"] {
            configuration.probes = try probes(node, deployments: configuration.deployments)
        }
        try checkQualityFloors(configuration, routes: top["routes"])
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
                "max_connections_per_ip", "drain_delay_seconds", "drain_timeout_seconds", "replica_id",
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
        if let replica = try string(entries["replica_id"], "server.replica_id", required: false) {
            guard !replica.isEmpty, replica.count <= 200 else {
                throw error(entries["replica_id"], "server.replica_id", "must be 1 to 200 characters")
            }
            server.replicaID = replica
        }
        if let delay = try duration(
            entries["drain_delay_seconds"], "server.drain_delay_seconds", unit: .seconds(1), range: 0...3_600)
        {
            server.drainDelay = delay
        }
        if let timeout = try duration(
            entries["drain_timeout_seconds"], "server.drain_timeout_seconds", unit: .seconds(1), range: 0.1...86_400)
        {
            server.drainTimeout = timeout
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
        let entries = try mapping(
            node, "observability", allowed: ["metrics_listen", "metrics_token_env", "tracing", "otlp_metrics"])
        var observability = SwitchyardConfiguration.Observability()
        if let (host, port) = try listenAddress(
            entries["metrics_listen"], "observability.metrics_listen", defaultHost: "127.0.0.1")
        {
            (observability.metricsHost, observability.metricsPort) = (host, port)
        }
        observability.metricsTokenEnv = try environmentVariableName(
            entries["metrics_token_env"], "observability.metrics_token_env")
        if let node = entries["tracing"] { observability.tracing = try tracing(node) }
        if let node = entries["otlp_metrics"] {
            let path = "observability.otlp_metrics"
            let metrics = try mapping(node, path, allowed: ["endpoint", "interval_seconds"])
            var pushed = SwitchyardConfiguration.OTLPMetrics()
            if let endpoint = try string(metrics["endpoint"], path + ".endpoint", required: false) {
                guard endpoint.hasPrefix("http://") || endpoint.hasPrefix("https://") else {
                    throw error(metrics["endpoint"], path + ".endpoint", "expected an http:// or https:// URL (OTLP/HTTP)")
                }
                pushed.endpoint = endpoint
            }
            pushed.interval = try duration(
                metrics["interval_seconds"], path + ".interval_seconds", unit: .seconds(1), range: 0.1...86_400)
            observability.otlpMetrics = pushed
        }
        return observability
    }

    func incidents(_ node: Node) throws -> SwitchyardConfiguration.Incidents {
        let entries = try mapping(
            node, "incidents",
            allowed: [
                "enabled", "window_seconds", "clock", "sensitivity", "consecutive", "resolve_after", "min_requests", "history",
                "mitigation",
            ])
        var incidents = SwitchyardConfiguration.Incidents()
        incidents.enabled = try bool(entries["enabled"], "incidents.enabled") ?? incidents.enabled
        incidents.window =
            try duration(entries["window_seconds"], "incidents.window_seconds", unit: .seconds(1), range: 1...3600)
            ?? incidents.window
        switch try string(entries["clock"], "incidents.clock", required: false) {
        case nil, "wall": break
        case "manual": incidents.manualClock = true
        case let other?: throw error(entries["clock"], "incidents.clock", "expected wall or manual, not '\(other)'")
        }
        if let sensitivity = try decimal(entries["sensitivity"], "incidents.sensitivity") {
            let value = Double(truncating: sensitivity as NSDecimalNumber)
            guard (1...20).contains(value) else {
                throw error(entries["sensitivity"], "incidents.sensitivity", "must be between 1 and 20")
            }
            incidents.sensitivity = value
        }
        incidents.consecutive =
            try integer(entries["consecutive"], "incidents.consecutive", range: 1...60) ?? incidents.consecutive
        incidents.resolveAfter =
            try integer(entries["resolve_after"], "incidents.resolve_after", range: 1...60) ?? incidents.resolveAfter
        incidents.minimumRequests =
            try integer(entries["min_requests"], "incidents.min_requests", range: 1...1_000_000) ?? incidents.minimumRequests
        incidents.history = try integer(entries["history"], "incidents.history", range: 5...1440) ?? incidents.history
        if let node = entries["mitigation"] {
            let mitigation = try mapping(
                node, "incidents.mitigation",
                allowed: ["eject_deployment", "shift_weight", "eject_windows", "stop_agent", "stop_run"])
            incidents.stopAgents = try bool(mitigation["stop_agent"], "incidents.mitigation.stop_agent") ?? false
            incidents.stopRuns = try bool(mitigation["stop_run"], "incidents.mitigation.stop_run") ?? false
            incidents.shiftWeights = try bool(mitigation["shift_weight"], "incidents.mitigation.shift_weight") ?? false
            incidents.ejectDeployments =
                try bool(mitigation["eject_deployment"], "incidents.mitigation.eject_deployment") ?? false
            if incidents.shiftWeights && incidents.ejectDeployments {
                throw error(
                    mitigation["shift_weight"], "incidents.mitigation.shift_weight",
                    "choose eject_deployment or shift_weight, not both")
            }
            incidents.ejectWindows =
                try integer(mitigation["eject_windows"], "incidents.mitigation.eject_windows", range: 1...1440)
                ?? incidents.ejectWindows
        }
        return incidents
    }

    func tracing(_ node: Node) throws -> SwitchyardConfiguration.Tracing {
        let path = "observability.tracing"
        let entries = try mapping(
            node, path,
            allowed: ["endpoint", "sample_ratio", "service_name", "keep_slower_than_ms", "keep_per_second", "allow_content"])
        var tracing = SwitchyardConfiguration.Tracing()
        if let endpoint = try string(entries["endpoint"], path + ".endpoint", required: false) {
            guard endpoint.hasPrefix("http://") || endpoint.hasPrefix("https://") else {
                throw error(entries["endpoint"], path + ".endpoint", "expected an http:// or https:// URL (OTLP/HTTP)")
            }
            tracing.endpoint = endpoint
        }
        if let ratio = try decimal(entries["sample_ratio"], path + ".sample_ratio") {
            guard ratio <= 1 else { throw error(entries["sample_ratio"], path + ".sample_ratio", "must be between 0 and 1") }
            tracing.sampleRatio = NSDecimalNumber(decimal: ratio).doubleValue
        }
        tracing.serviceName = try string(entries["service_name"], path + ".service_name", required: false)
        if let slow = try integer(entries["keep_slower_than_ms"], path + ".keep_slower_than_ms", range: 1...3_600_000) {
            tracing.keepSlowerThanMilliseconds = slow
        }
        if let perSecond = try integer(entries["keep_per_second"], path + ".keep_per_second", range: 0...100_000) {
            tracing.keepPerSecond = perSecond
        }
        tracing.allowContent = try bool(entries["allow_content"], path + ".allow_content") ?? false
        return tracing
    }

    func storage(_ node: Node) throws -> SwitchyardConfiguration.Storage {
        let entries = try mapping(node, "storage", allowed: ["url", "journal", "redis_url", "lease_seconds"])
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
        if let redis = try string(entries["redis_url"], "storage.redis_url", required: false) {
            guard redis.hasPrefix("redis://"), !redis.hasSuffix("://") else {
                throw error(entries["redis_url"], "storage.redis_url", "expected redis://[:PASSWORD@]HOST[:PORT][/DB]")
            }
            storage.redisURL = redis
        }
        if let seconds = try integer(entries["lease_seconds"], "storage.lease_seconds", range: 2...300) {
            storage.leaseSeconds = seconds
        }
        return storage
    }
}
