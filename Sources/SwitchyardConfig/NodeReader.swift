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
            root, "", allowed: ["server", "storage", "admin", "providers", "deployments", "routes", "tenants"])
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
        configuration.routes = try unique(top["routes"], "routes") { try route($0, $1, deployments: deploymentNames) }
        let routeNames = Set(configuration.routes.map(\.name))
        configuration.tenants = try unique(top["tenants"], "tenants") { try tenant($0, $1, routes: routeNames) }
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
        let entries = try mapping(node, "server", allowed: ["listen", "max_body_bytes"])
        var server = SwitchyardConfiguration.Server()
        if let listen = try string(entries["listen"], "server.listen", required: false) {
            guard let colon = listen.lastIndex(of: ":"), let port = Int(listen[listen.index(after: colon)...]),
                (1...65535).contains(port), colon > listen.startIndex
            else {
                throw error(entries["listen"], "server.listen", "expected HOST:PORT, e.g. \"127.0.0.1:8080\"")
            }
            server.host = String(listen[..<colon]).trimmingCharacters(in: CharacterSet(charactersIn: "[]"))
            server.port = port
        }
        if let limit = try integer(entries["max_body_bytes"], "server.max_body_bytes", range: 1024...(1 << 30)) {
            server.maxBodyBytes = limit
        }
        return server
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
            node, path, allowed: ["name", "kind", "base_url", "api_key_env", "region"],
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
        return Provider(
            name: name, kind: kind, baseURL: baseURL.hasSuffix("/") ? String(baseURL.dropLast()) : baseURL,
            apiKeyEnv: try environmentVariableName(entries["api_key_env"], path + ".api_key_env"),
            region: try string(entries["region"], path + ".region", required: false))
    }

    func deployment(_ node: Node, _ path: String, providers: Set<String>) throws -> Deployment {
        let entries = try mapping(
            node, path, allowed: ["name", "provider", "model", "context_window", "price", "timeout_seconds"])
        let name = try name(entries["name"], path + ".name", parent: node)
        let provider = try requiredString(entries["provider"], path + ".provider", parent: node)
        guard providers.contains(provider) else {
            throw error(entries["provider"], path + ".provider", "no provider named '\(provider)' is declared under providers")
        }
        let model = try requiredString(entries["model"], path + ".model", parent: node)
        let contextWindow = try integer(entries["context_window"], path + ".context_window", range: 1...100_000_000)
        let timeout = try integer(entries["timeout_seconds"], path + ".timeout_seconds", range: 1...86_400) ?? 600
        let prices = try entries["price"].map { try price($0, path + ".price") } ?? .free()
        return Deployment(
            name: name, provider: provider, model: model, contextWindow: contextWindow, prices: prices,
            timeoutSeconds: Int64(timeout))
    }

    func price(_ node: Node, _ path: String) throws -> TokenPrices {
        let entries = try mapping(
            node, path, allowed: ["input_per_mtok", "output_per_mtok", "cached_input_per_mtok", "currency"])
        guard let input = try decimal(entries["input_per_mtok"], path + ".input_per_mtok") else {
            throw error(node, path + ".input_per_mtok", "is required")
        }
        guard let output = try decimal(entries["output_per_mtok"], path + ".output_per_mtok") else {
            throw error(node, path + ".output_per_mtok", "is required")
        }
        let currency = try string(entries["currency"], path + ".currency", required: false) ?? "USD"
        guard currency.count == 3, currency.allSatisfy({ $0.isASCII && $0.isUppercase }) else {
            throw error(entries["currency"], path + ".currency", "expected a three-letter ISO 4217 code such as USD")
        }
        return TokenPrices(
            inputPerMillion: input, outputPerMillion: output,
            cachedInputPerMillion: try decimal(entries["cached_input_per_mtok"], path + ".cached_input_per_mtok"),
            currency: currency)
    }

    func route(_ node: Node, _ path: String, deployments: Set<String>) throws -> Route {
        let entries = try mapping(node, path, allowed: ["name", "strategy", "targets"])
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
        var targets: [String] = []
        for (index, target) in targetNodes.enumerated() {
            let targetPath = "\(path).targets[\(index)]"
            let deployment = try string(target, targetPath)!
            guard deployments.contains(deployment) else {
                throw error(target, targetPath, "no deployment named '\(deployment)' is declared under deployments")
            }
            targets.append(deployment)
        }
        return Route(name: name, strategy: strategy, targets: targets)
    }

    func tenant(_ node: Node, _ path: String, routes: Set<String>) throws -> Tenant {
        let entries = try mapping(node, path, allowed: ["name", "allowed_routes"])
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
        return Tenant(name: name, allowedRoutes: allowed)
    }
}
