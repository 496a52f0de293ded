import SwitchyardCore

/// What the policies judge about one request, gathered by the ingress.
public struct RequestFacts: Sendable {
    public var route: String
    public var toolNames: [String]
    public var estimatedInputTokens: Int
    public var maxOutputTokens: Int?
    public var tags: [String: String]
    /// Answers asked for (OpenAI's `n`): each may write `maxOutputTokens`, so budgets and token
    /// limits reserve that many times the output; policies judge one answer's maximum.
    public var answers: Int

    public init(
        route: String, toolNames: [String] = [], estimatedInputTokens: Int, maxOutputTokens: Int?,
        tags: [String: String], answers: Int = 1
    ) {
        self.route = route
        self.toolNames = toolNames
        self.estimatedInputTokens = estimatedInputTokens
        self.maxOutputTokens = maxOutputTokens
        self.tags = tags
        self.answers = max(1, answers)
    }

    /// The output every answer together may write, with `assumed` for a request that sets no maximum.
    public func outputTokens(assuming assumed: Int) -> Int {
        let (total, overflow) = (maxOutputTokens ?? assumed).multipliedReportingOverflow(by: answers)
        return overflow ? Int.max / 2 : total
    }
}

/// Why a policy refused a request: the rule, the policy that set it, and what the client is told.
public struct PolicyRefusal: Error, Hashable, Sendable {
    /// The rule's configuration key, e.g. `allowed_tools`, `max_output_tokens`.
    public var rule: String
    public var policy: String
    public var reason: String

    public var message: String { "Refused by policy '\(policy)' (rule \(rule)): \(reason)." }
}

extension EffectivePolicy {
    /// The first rule the request breaks, checked before routing; nil when it may proceed.
    /// Residency and cost are judged later, against the deployments the route can use.
    public func refusal(for facts: RequestFacts) -> PolicyRefusal? {
        if let policy = deniedRoutes[facts.route] {
            return PolicyRefusal(rule: "denied_routes", policy: policy, reason: "model '\(facts.route)' is denied")
        }
        if let allowed = allowedRoutes, !allowed.value.contains(facts.route) {
            return PolicyRefusal(
                rule: "allowed_routes", policy: allowed.policy,
                reason: "model '\(facts.route)' is not one of \(Self.list(allowed.value))")
        }
        for tool in facts.toolNames {
            let key = Self.toolKey(tool)
            if let policy = deniedTools[key] {
                return PolicyRefusal(rule: "denied_tools", policy: policy, reason: "tool '\(tool)' is denied")
            }
            if let allowed = allowedTools, !allowed.value.contains(key) {
                return PolicyRefusal(
                    rule: "allowed_tools", policy: allowed.policy,
                    reason: "tool '\(tool)' is not one of \(Self.list(allowed.value))")
            }
        }
        if let limit = maxInputTokens, facts.estimatedInputTokens > limit.value {
            return PolicyRefusal(
                rule: "max_input_tokens", policy: limit.policy,
                reason: "the input is about \(facts.estimatedInputTokens) tokens, more than the \(limit.value) allowed")
        }
        if let limit = maxOutputTokens {
            guard let requested = facts.maxOutputTokens else {
                return PolicyRefusal(
                    rule: "max_output_tokens", policy: limit.policy,
                    reason: "set max_tokens (at most \(limit.value)) so the answer's length is bounded")
            }
            if requested > limit.value {
                return PolicyRefusal(
                    rule: "max_output_tokens", policy: limit.policy,
                    reason: "max_tokens \(requested) is more than the \(limit.value) allowed")
            }
        }
        for (tag, policy) in requiredTags.sorted(by: { $0.key < $1.key }) where facts.tags[tag] == nil {
            return PolicyRefusal(
                rule: "required_tags", policy: policy,
                reason: "tag '\(tag)' is required (send it in x-switchyard-tags or the body's metadata)")
        }
        return nil
    }

    /// Judges the request's worst-case cost (`maximum`) against `max_cost_per_request`.
    public func costRefusal(maximum: Money) -> PolicyRefusal? {
        guard let limit = maxCostPerRequest, limit.value.currency == maximum.currency, maximum.nanos > limit.value.nanos
        else { return nil }
        return PolicyRefusal(
            rule: "max_cost_per_request", policy: limit.policy,
            reason:
                "the request may cost up to \(maximum.decimalString) \(maximum.currency), more than the \(limit.value.decimalString) allowed"
        )
    }

    static func list(_ names: Set<String>) -> String {
        names.isEmpty ? "(none)" : names.sorted().joined(separator: ", ")
    }
}
