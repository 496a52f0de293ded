import Foundation
import SwitchyardCore
import Yams

extension NodeReader {
    /// `tenant:acme`, `project:acme/web`, `agent:acme/triage`, `key:abc123def456`; tenants and
    /// projects must be declared.
    func scope(_ node: Node?, _ path: String, parent: Node, tenants: [Tenant]) throws -> GovernanceScope {
        let text = try requiredString(node, path, parent: parent)
        guard let scope = GovernanceScope(text) else {
            throw error(
                node, path,
                "'\(text)' is not a scope (expected tenant:NAME, project:TENANT/NAME, agent:TENANT/NAME or key:ID)")
        }
        if let tenantName = scope.tenant {
            guard let tenant = tenants.first(where: { $0.name == tenantName }) else {
                throw error(node, path, "no tenant named '\(tenantName)' is declared under tenants")
            }
            if case .project(_, let project) = scope, !tenant.projects.contains(project) {
                throw error(node, path, "tenant '\(tenantName)' declares no project '\(project)' (add it to its projects)")
            }
        }
        if case .run = scope {
            throw error(node, path, "a run is a kill switch's scope only: policies, limits and budgets name its agent")
        }
        return scope
    }

    func policy(_ node: Node, _ path: String, tenants: [Tenant], routes: Set<String>, providers: Set<String>) throws -> Policy {
        let entries = try mapping(
            node, path,
            allowed: [
                "name", "scope", "allowed_routes", "denied_routes", "allowed_tools", "denied_tools", "max_input_tokens",
                "max_output_tokens", "max_cost_per_request", "currency", "allowed_regions", "allowed_providers",
                "denied_providers", "required_tags", "guardrails", "trace_content", "max_run_cost", "max_run_requests",
                "max_run_duration_seconds", "on_loop", "loop_repeats", "loop_window_seconds",
            ])
        var policy = Policy(
            name: try name(entries["name"], path + ".name", parent: node),
            scope: try scope(entries["scope"], path + ".scope", parent: node, tenants: tenants))
        func checked(_ key: String, within known: Set<String>, what: String) throws -> Set<String>? {
            guard let list = try names(entries[key], "\(path).\(key)") else { return nil }
            for (index, item) in list.enumerated() where !known.contains(item) {
                throw error(entries[key], "\(path).\(key)[\(index)]", "no \(what) named '\(item)' is declared")
            }
            return Set(list)
        }
        policy.allowedRoutes = try checked("allowed_routes", within: routes, what: "route")
        policy.deniedRoutes = try checked("denied_routes", within: routes, what: "route") ?? []
        policy.allowedTools = try names(entries["allowed_tools"], path + ".allowed_tools").map(Set.init)
        policy.deniedTools = Set(try names(entries["denied_tools"], path + ".denied_tools") ?? [])
        policy.maxInputTokens = try integer(entries["max_input_tokens"], path + ".max_input_tokens", range: 1...100_000_000)
        policy.maxOutputTokens = try integer(entries["max_output_tokens"], path + ".max_output_tokens", range: 1...100_000_000)
        if let amount = try decimal(entries["max_cost_per_request"], path + ".max_cost_per_request") {
            policy.maxCostPerRequest = try money(
                amount, currency: try currency(entries["currency"], path + ".currency"), entries["max_cost_per_request"],
                path + ".max_cost_per_request")
        }
        policy.allowedRegions = try names(entries["allowed_regions"], path + ".allowed_regions").map(Set.init)
        policy.allowedProviders = try checked("allowed_providers", within: providers, what: "provider")
        policy.deniedProviders = try checked("denied_providers", within: providers, what: "provider") ?? []
        policy.requiredTags = Set(try names(entries["required_tags"], path + ".required_tags") ?? [])
        policy.traceContent = try bool(entries["trace_content"], path + ".trace_content")
        if let amount = try decimal(entries["max_run_cost"], path + ".max_run_cost") {
            policy.maxRunCost = try money(
                amount, currency: try currency(entries["currency"], path + ".currency"), entries["max_run_cost"],
                path + ".max_run_cost")
            // Zero would stop every run at its first request, each with a stored switch.
            guard policy.maxRunCost!.nanos > 0 else {
                throw error(entries["max_run_cost"], path + ".max_run_cost", "must be more than 0")
            }
        }
        policy.maxRunRequests = try integer(entries["max_run_requests"], path + ".max_run_requests", range: 1...100_000_000)
        policy.maxRunDuration = try duration(
            entries["max_run_duration_seconds"], path + ".max_run_duration_seconds", unit: .seconds(1),
            range: 1...(90 * 86_400))
        if let node = entries["on_loop"] {
            let text = try string(node, path + ".on_loop")!
            guard let action = LoopAction(rawValue: text) else { throw error(node, path + ".on_loop", "expected flag or stop") }
            policy.onLoop = action
        }
        // At most 64: a run's recent prompts are kept in a ring of that many.
        policy.loopRepeats = try integer(entries["loop_repeats"], path + ".loop_repeats", range: 2...64)
        policy.loopWindow = try duration(
            entries["loop_window_seconds"], path + ".loop_window_seconds", unit: .seconds(1), range: 1...86_400)
        if let node = entries["guardrails"] {
            let rules = try mapping(node, path + ".guardrails", allowed: ContentDetector.allCases.map(\.rawValue))
            for (key, value) in rules {
                let rulePath = "\(path).guardrails.\(key)"
                let text = try string(value, rulePath)!
                guard let action = GuardrailAction(rawValue: text) else {
                    throw error(value, rulePath, "expected allow, redact or block")
                }
                policy.guardrails[ContentDetector(rawValue: key)!] = action
            }
        }
        return policy
    }

    func limit(_ node: Node, _ path: String, tenants: [Tenant]) throws -> RateLimit {
        let entries = try mapping(
            node, path,
            allowed: [
                "scope", "requests_per_minute", "tokens_per_minute", "concurrent_requests", "spend_per_hour", "currency",
                "on_exceed",
            ])
        var limit = RateLimit(
            scope: try scope(entries["scope"], path + ".scope", parent: node, tenants: tenants),
            requestsPerMinute: try integer(entries["requests_per_minute"], path + ".requests_per_minute", range: 1...100_000_000),
            tokensPerMinute: try integer(entries["tokens_per_minute"], path + ".tokens_per_minute", range: 1...1_000_000_000_000),
            concurrentRequests: try integer(entries["concurrent_requests"], path + ".concurrent_requests", range: 1...1_000_000))
        if let amount = try decimal(entries["spend_per_hour"], path + ".spend_per_hour") {
            limit.spendPerHour = try money(
                amount, currency: try currency(entries["currency"], path + ".currency"), entries["spend_per_hour"],
                path + ".spend_per_hour")
        }
        if let overrun = try string(entries["on_exceed"], path + ".on_exceed", required: false) {
            guard let parsed = Budget.Overrun(rawValue: overrun) else {
                throw error(entries["on_exceed"], path + ".on_exceed", "expected finish or cut")
            }
            guard limit.spendPerHour != nil else {
                throw error(entries["on_exceed"], path + ".on_exceed", "applies to spend_per_hour, which this limit does not set")
            }
            limit.onExceed = parsed
        }
        guard
            limit.requestsPerMinute != nil || limit.tokensPerMinute != nil || limit.concurrentRequests != nil
                || limit.spendPerHour != nil
        else {
            throw error(
                node, path, "give at least one of requests_per_minute, tokens_per_minute, concurrent_requests, spend_per_hour")
        }
        return limit
    }

    func budget(_ node: Node, _ path: String, tenants: [Tenant]) throws -> Budget {
        let entries = try mapping(
            node, path,
            allowed: ["name", "scope", "period", "start", "end", "limit", "currency", "alert_at", "on_exceed"])
        let name = try name(entries["name"], path + ".name", parent: node)
        let scope = try scope(entries["scope"], path + ".scope", parent: node, tenants: tenants)
        let periodText = try string(entries["period"], path + ".period", required: false) ?? "month"
        let period: Budget.Period
        switch periodText {
        case "day": period = .day
        case "month": period = .month
        case "window":
            guard let start = try time(entries["start"], path + ".start") else {
                throw error(node, path + ".start", "is required for a window")
            }
            guard let end = try time(entries["end"], path + ".end") else {
                throw error(node, path + ".end", "is required for a window")
            }
            guard end > start else { throw error(entries["end"], path + ".end", "must be after start") }
            guard start.value % 3_600_000_000 == 0, end.value % 3_600_000_000 == 0 else {
                throw error(entries["start"], path + ".start", "a window starts and ends on a whole hour (UTC)")
            }
            period = .window(start: start, end: end)
        default: throw error(entries["period"], path + ".period", "expected day, month or window")
        }
        if periodText != "window", entries["start"] != nil || entries["end"] != nil {
            throw error(entries["start"] ?? entries["end"], path, "start and end are for period: window")
        }
        guard let amount = try decimal(entries["limit"], path + ".limit") else {
            throw error(node, path + ".limit", "is required")
        }
        let limit = try money(
            amount, currency: try currency(entries["currency"], path + ".currency"), entries["limit"], path + ".limit")
        var thresholds: [Decimal] = []
        if let list = entries["alert_at"] {
            for (index, item) in try sequence(list, path + ".alert_at").enumerated() {
                guard let fraction = try decimal(item, "\(path).alert_at[\(index)]"), fraction > 0, fraction < 1 else {
                    throw error(
                        item, "\(path).alert_at[\(index)]", "expected a fraction of the limit between 0 and 1, such as 0.8")
                }
                thresholds.append(fraction)
            }
        }
        let overrunText = try string(entries["on_exceed"], path + ".on_exceed", required: false) ?? "finish"
        guard let onExceed = Budget.Overrun(rawValue: overrunText) else {
            throw error(entries["on_exceed"], path + ".on_exceed", "expected finish or cut")
        }
        return Budget(
            name: name, scope: scope, period: period, limit: limit, alertThresholds: thresholds, onExceed: onExceed)
    }

    func governance(_ node: Node) throws -> SwitchyardConfiguration.Governance {
        let entries = try mapping(node, "governance", allowed: ["alert_webhook", "assumed_output_tokens"])
        var governance = SwitchyardConfiguration.Governance()
        if let webhook = try string(entries["alert_webhook"], "governance.alert_webhook", required: false) {
            guard let url = URL(string: webhook), ["http", "https"].contains(url.scheme ?? ""), url.host != nil else {
                throw error(entries["alert_webhook"], "governance.alert_webhook", "'\(webhook)' is not an http(s) URL")
            }
            governance.alertWebhook = webhook
        }
        if let tokens = try integer(entries["assumed_output_tokens"], "governance.assumed_output_tokens", range: 1...10_000_000) {
            governance.assumedOutputTokens = tokens
        }
        return governance
    }

    /// An amount in whole nano-units.
    func money(_ amount: Decimal, currency: String, _ node: Node?, _ path: String) throws -> Money {
        guard let nanos = (amount * Decimal(Money.nanosPerUnit)).roundedToInt64(),
            Decimal(nanos) == amount * Decimal(Money.nanosPerUnit)
        else {
            throw error(node, path, "expected an amount with at most 9 decimals")
        }
        return Money(nanos: nanos, currency: currency)
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
}
