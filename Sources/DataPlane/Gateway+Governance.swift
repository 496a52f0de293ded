import Governance
import HTTPTypes
import Hummingbird
import Routing
import SwitchyardCore
import WireFormats

extension Gateway {
    /// The authorize stage: the policy rules judged before routing (route, tools, token maxima,
    /// required tags), with the policies the guard stage combined.
    func authorize(_ facts: RequestFacts, principal: Principal, context: RequestContext) throws(OpenAIError)
        -> EffectivePolicy
    {
        switch governor.check(facts, for: principal, policy: context.policy) {
        case .success(let policy): return policy
        case .failure(let refusal): throw Self.clientError(refusal)
        }
    }

    /// The admit stage, after planning: the worst-case cost against the policy, then rate limits
    /// and budgets. The admission is kept in the context, which gives it back when the request
    /// is settled.
    func admitGoverned(
        _ plan: RoutePlan, facts: RequestFacts, policy: EffectivePolicy, principal: Principal, context: inout RequestContext
    ) throws(OpenAIError) {
        let maximum = maximumCost(of: plan, facts: facts)
        switch governor.admit(facts, policy: policy, maximumCost: maximum, for: principal) {
        case .failure(let refusal):
            if case .rateLimited(let limit) = refusal { context.rateLimitStatus = limit.status }
            throw Self.clientError(refusal)
        case .success(let admission):
            context.admission = admission
            context.rateLimitStatus = admission.rateLimitStatus
        }
    }

    /// The most the request can cost on any of its candidates (a fallback may serve it), with
    /// the estimated input and the requested (or assumed) maximum output.
    func maximumCost(of plan: RoutePlan, facts: RequestFacts) -> Money {
        let usage = TokenUsage(
            inputTokens: facts.estimatedInputTokens, outputTokens: facts.maxOutputTokens ?? governor.assumedOutputTokens)
        var maximum: Money?
        for deployment in plan.candidates {
            let cost = deployment.priceSchedule.prices(at: .now()).cost(of: usage)
            if maximum == nil || cost.nanos > maximum!.nanos { maximum = cost }
        }
        return maximum ?? Money.zero("USD")
    }

    /// Every name a policy must judge for the tools an OpenAI chat request declares, whatever
    /// their type: `function.name`, `custom.name`, a top-level `name`, and the type itself for
    /// built-in tools (`web_search`, `code_interpreter`, …), legacy `functions[].name`, the tool
    /// a `tool_choice` or `function_call` forces, and `web_search` for `web_search_options`. A
    /// tool with none of these is judged as `(unnamed)`, so an allow-list cannot be slipped past.
    static func declaredToolNames(_ json: JSONValue) -> [String] {
        var names: [String] = []
        for tool in json["tools"]?.arrayValue ?? [] {
            let type = tool["type"]?.stringValue
            var found = [tool["function"]?["name"], tool["custom"]?["name"], tool["name"]].compactMap { $0?.stringValue }
            if let type, type != "function", type != "custom" { found.append(type) }
            names += found.isEmpty ? ["(unnamed)"] : found
        }
        for function in json["functions"]?.arrayValue ?? [] {
            names.append(function["name"]?.stringValue ?? "(unnamed)")
        }
        // Tools in another shape than an array are judged as unnamed; web search asked for by
        // option is the built-in tool `web_search`.
        if let tools = json["tools"], tools.arrayValue == nil, tools != .null { names.append("(unnamed)") }
        if let options = json["web_search_options"], options != .null { names.append("web_search") }
        // A forced choice names a tool too; one not declared above is still judged.
        for chosen in [json["tool_choice"]?["function"]?["name"], json["function_call"]?["name"]] {
            if let name = chosen?.stringValue { names.append(name) }
        }
        return names
    }

    static func clientError(_ refusal: GovernanceRefusal) -> OpenAIError {
        switch refusal {
        case .policy(let policy):
            OpenAIError(
                status: 403, message: policy.message, type: "permission_error", code: "policy_denied",
                param: policy.rule == "max_output_tokens" ? "max_tokens" : nil, errorClass: .policyDenied)
        case .rateLimited(let limit):
            OpenAIError(
                status: 429, message: limit.message, type: "rate_limit_error", code: "rate_limit_exceeded",
                errorClass: .rateLimited, retryAfterSeconds: limit.retryAfter)
        case .killed(let kill):
            OpenAIError(
                status: 403, message: KillSwitchBoard.message(kill), type: "permission_error", code: "kill_switch",
                errorClass: .killSwitch)
        case .budget(let budget):
            OpenAIError(
                status: 429, message: budget.message, type: "insufficient_quota", code: "budget_exceeded",
                errorClass: .budgetExceeded,
                retryAfterSeconds: budget.outsideWindow ? nil : secondsUntilPeriodEnds(budget.budget))
        }
    }

    /// When a refused budget has room again: the start of its next period.
    static func secondsUntilPeriodEnds(_ budget: Budget) -> Int? {
        let now = UnixMicros.now()
        guard let period = budget.period.containing(now) else { return nil }
        return max(1, Int((period.end.value - now.value + 999_999) / 1_000_000))
    }

    /// OpenAI's `x-ratelimit-*` headers. Names are built once and appended (a response gets
    /// them once, here): this runs for every limited request.
    func addRateLimitHeaders(_ response: inout Response, _ status: RateLimitStatus?) {
        guard let status else { return }
        func add(_ window: RateLimitStatus.Window?, _ names: RateLimitNames) {
            guard let window else { return }
            response.headers.append(HTTPField(name: names.limit, value: String(window.limit)))
            response.headers.append(HTTPField(name: names.remaining, value: String(window.remaining)))
            response.headers.append(HTTPField(name: names.reset, value: window.resetText))
        }
        add(status.requests, Self.rateLimitNames.requests)
        add(status.tokens, Self.rateLimitNames.tokens)
    }

    typealias RateLimitNames = (limit: HTTPField.Name, remaining: HTTPField.Name, reset: HTTPField.Name)
    static let rateLimitNames: (requests: RateLimitNames, tokens: RateLimitNames) = {
        func names(_ kind: String) -> RateLimitNames {
            let names = RateLimitStatus.headerNames(kind)
            return (HTTPField.Name(names.limit)!, HTTPField.Name(names.remaining)!, HTTPField.Name(names.reset)!)
        }
        return (names("requests"), names("tokens"))
    }()
}
