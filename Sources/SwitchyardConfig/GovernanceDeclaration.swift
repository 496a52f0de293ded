import Foundation
import SwitchyardCore
import Yams

/// The governance objects — tenants, policies, limits, budgets — as the file declares them
/// (desired state) or the store holds them (live state, changed by the admin API).
///
/// Both sides travel as `GovernanceRecord`s in one canonical JSON form with the file's field
/// names, so equal text means equal objects and `config plan` can diff them field by field.
public struct GovernanceDeclaration: Sendable, Equatable {
    public var tenants: [Tenant]
    public var policies: [Policy]
    public var limits: [RateLimit]
    public var budgets: [Budget]

    public init(tenants: [Tenant] = [], policies: [Policy] = [], limits: [RateLimit] = [], budgets: [Budget] = []) {
        self.tenants = tenants
        self.policies = policies
        self.limits = limits
        self.budgets = budgets
    }

    /// What a configuration file declares.
    public init(_ configuration: SwitchyardConfiguration) {
        self.init(
            tenants: configuration.tenants, policies: configuration.policies, limits: configuration.limits,
            budgets: configuration.budgets)
    }

    /// Every object as a record, in dependency order (tenants first).
    public var records: [GovernanceRecord] {
        tenants.map(Self.record) + policies.map(Self.record) + limits.map(Self.record) + budgets.map(Self.record)
    }

    /// Reads records back, checking each as the configuration loader would and every scope
    /// against the tenants and projects among them. `source` names where they came from in errors.
    public static func reading(
        _ records: [GovernanceRecord], routes: Set<String>, providers: Set<String>, source: String
    ) throws -> GovernanceDeclaration {
        let reader = NodeReader(file: source)
        var declaration = GovernanceDeclaration()
        let records = records.sorted { ($0.kind, $0.name) < ($1.kind, $1.name) }
        for record in records {
            let path = "\(record.kind.section)[\(record.name)]"
            let node = try Self.node(record.declaration, source: source, path: path)
            switch record.kind {
            case .tenant:
                declaration.tenants.append(try reader.tenant(node, path, routes: routes, providers: providers))
            case .policy:
                declaration.policies.append(
                    try reader.policy(node, path, tenants: declaration.tenants, routes: routes, providers: providers))
            case .limit: declaration.limits.append(try reader.limit(node, path, tenants: declaration.tenants))
            case .budget: declaration.budgets.append(try reader.budget(node, path, tenants: declaration.tenants))
            }
        }
        // A record stored under one name must declare that name.
        for (record, stored) in zip(declaration.records, records)
        where record.name != stored.name {
            throw ConfigurationError(
                file: source, line: nil, column: nil, path: "\(stored.kind.section)[\(stored.name)]",
                reason: "declares \(record.kind == .limit ? "scope" : "name") '\(record.name)', not '\(stored.name)'")
        }
        return declaration
    }

    static func node(_ text: String, source: String, path: String) throws -> Node {
        do {
            guard let node = try Yams.compose(yaml: text) else {
                throw ConfigurationError(file: source, line: nil, column: nil, path: path, reason: "is empty")
            }
            return node
        } catch let error as YamlError {
            throw ConfigurationError(file: source, line: error.line, column: nil, path: path, reason: "invalid: \(error.reason)")
        }
    }
}

// MARK: Canonical form

extension GovernanceDeclaration {
    static func record(_ tenant: Tenant) -> GovernanceRecord {
        var fields: [(String, String?)] = [("name", string(tenant.name))]
        fields.append(("allowed_routes", tenant.allowedRoutes.map(list)))
        if let residency = tenant.residency {
            fields.append(
                (
                    "residency",
                    object([
                        ("regions", residency.regions.map(list)), ("providers", residency.providers.map(list)),
                        ("exclude_providers", residency.excludeProviders.isEmpty ? nil : list(residency.excludeProviders)),
                    ])
                ))
        }
        if !tenant.allowRoutingHints { fields.append(("allow_routing_hints", "false")) }
        if !tenant.projects.isEmpty { fields.append(("projects", list(tenant.projects))) }
        if tenant.weight != 1 { fields.append(("weight", String(tenant.weight))) }
        return GovernanceRecord(kind: .tenant, name: tenant.name, declaration: object(fields))
    }

    static func record(_ policy: Policy) -> GovernanceRecord {
        func nonEmpty(_ set: Set<String>) -> String? { set.isEmpty ? nil : list(set) }
        let fields: [(String, String?)] = [
            ("name", string(policy.name)), ("scope", string(policy.scope.description)),
            ("allowed_routes", policy.allowedRoutes.map(list)), ("denied_routes", nonEmpty(policy.deniedRoutes)),
            ("allowed_tools", policy.allowedTools.map(list)), ("denied_tools", nonEmpty(policy.deniedTools)),
            ("max_input_tokens", policy.maxInputTokens.map(String.init)),
            ("max_output_tokens", policy.maxOutputTokens.map(String.init)),
            ("max_cost_per_request", policy.maxCostPerRequest.map(amount)),
            ("currency", (policy.maxCostPerRequest ?? policy.maxRunCost).map { string($0.currency) }),
            ("allowed_regions", policy.allowedRegions.map(list)), ("allowed_providers", policy.allowedProviders.map(list)),
            ("denied_providers", nonEmpty(policy.deniedProviders)), ("required_tags", nonEmpty(policy.requiredTags)),
            (
                "guardrails",
                policy.guardrails.isEmpty
                    ? nil
                    : object(
                        policy.guardrails.sorted { $0.key.rawValue < $1.key.rawValue }.map {
                            ($0.key.rawValue, string($0.value.rawValue))
                        }
                    )
            ),
            ("trace_content", policy.traceContent.map { $0 ? "true" : "false" }),
            ("max_run_cost", policy.maxRunCost.map(amount)),
            ("max_run_requests", policy.maxRunRequests.map(String.init)),
            ("max_run_duration_seconds", policy.maxRunDuration.map(seconds)),
            ("on_loop", policy.onLoop.map { string($0.rawValue) }),
            ("loop_repeats", policy.loopRepeats.map(String.init)),
            ("loop_window_seconds", policy.loopWindow.map(seconds)),
        ]
        return GovernanceRecord(kind: .policy, name: policy.name, declaration: object(fields))
    }

    static func record(_ limit: RateLimit) -> GovernanceRecord {
        var fields: [(String, String?)] = [
            ("scope", string(limit.scope.description)), ("requests_per_minute", limit.requestsPerMinute.map(String.init)),
            ("tokens_per_minute", limit.tokensPerMinute.map(String.init)),
            ("concurrent_requests", limit.concurrentRequests.map(String.init)),
            ("spend_per_hour", limit.spendPerHour.map(amount)),
            ("currency", limit.spendPerHour.map { string($0.currency) }),
        ]
        if limit.onExceed != .finish { fields.append(("on_exceed", string(limit.onExceed.rawValue))) }
        return GovernanceRecord(kind: .limit, name: limit.scope.description, declaration: object(fields))
    }

    static func record(_ budget: Budget) -> GovernanceRecord {
        var fields: [(String, String?)] = [("name", string(budget.name)), ("scope", string(budget.scope.description))]
        switch budget.period {
        case .day: fields.append(("period", string("day")))
        case .month: fields.append(("period", string("month")))
        case .window(let start, let end):
            fields += [
                ("period", string("window")), ("start", string(start.rfc3339Seconds)), ("end", string(end.rfc3339Seconds)),
            ]
        }
        fields += [("limit", amount(budget.limit)), ("currency", string(budget.limit.currency))]
        if !budget.alertThresholds.isEmpty {
            fields.append(("alert_at", "[" + budget.alertThresholds.map { "\($0)" }.joined(separator: ",") + "]"))
        }
        if budget.onExceed != .finish { fields.append(("on_exceed", string(budget.onExceed.rawValue))) }
        return GovernanceRecord(kind: .budget, name: budget.name, declaration: object(fields))
    }

    static func string(_ text: String) -> String { AuditValue.jsonString(text) }

    /// An amount as a person writes it: `"0.05"`, not `"0.050000000"`.
    static func amount(_ money: Money) -> String {
        var text = money.decimalString
        if text.contains(".") {
            while text.hasSuffix("0") { text.removeLast() }
            if text.hasSuffix(".") { text.removeLast() }
        }
        return string(text)
    }

    /// A duration in seconds, as a JSON number (whole when it is).
    static func seconds(_ duration: Duration) -> String {
        let (whole, attoseconds) = duration.components
        return attoseconds == 0 ? String(whole) : "\(Double(whole) + Double(attoseconds) / 1e18)"
    }

    /// A list in sorted order: the order of a set, or of routes and projects, carries no meaning.
    public static func list<S: Sequence<String>>(_ items: S) -> String {
        "[" + items.sorted().map(string).joined(separator: ",") + "]"
    }

    /// An object of already-encoded values; absent values are left out.
    static func object(_ fields: [(String, String?)]) -> String {
        "{" + fields.compactMap { name, value in value.map { string(name) + ":" + $0 } }.joined(separator: ",") + "}"
    }
}
