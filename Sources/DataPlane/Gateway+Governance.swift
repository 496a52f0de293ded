import Governance
import HTTPTypes
import Hummingbird
import Routing
import SwitchyardCore
import Tracing
import WireFormats

extension Gateway {
    /// The authorize stage: the policy rules judged before routing (route, tools, token maxima,
    /// required tags), with the policies the guard stage combined; then, for a request of an
    /// agent run, the run rules (`max_run_*`, `on_loop`).
    func authorize(_ facts: RequestFacts, principal: Principal, context: inout RequestContext) throws(OpenAIError)
        -> EffectivePolicy
    {
        let run = context.runScope
        switch governor.check(facts, for: principal, run: run, policy: context.policy) {
        case .success(let policy):
            guard let run else { return policy }
            let (loop, refusal) = governor.admitRun(
                run, fingerprint: context.promptFingerprint, policy: policy, principal: principal, route: facts.route)
            context.runLoop = loop
            if loop { context.trace?.record("switchyard.run.loop", [:]) }
            if let refusal { throw OpenAIError(refusal) }
            return policy
        case .failure(let refusal):
            if case .policy(let denied) = refusal {
                context.trace?.record(
                    "switchyard.policy.denied",
                    [GenAIAttributes.policy: .string(denied.policy), GenAIAttributes.policyRule: .string(denied.rule)])
            }
            throw OpenAIError(refusal)
        }
    }

    /// The admit stage, after planning: the worst-case cost against the policy, then rate limits
    /// and budgets. The admission is kept in the context, which gives it back when the request
    /// is settled.
    func admitGoverned(
        _ plan: RoutePlan, facts: RequestFacts, policy: EffectivePolicy, principal: Principal, context: inout RequestContext
    ) async throws(OpenAIError) {
        let maximum = maximumCost(of: plan, facts: facts)
        switch await governor.admit(facts, policy: policy, maximumCost: maximum, for: principal) {
        case .failure(let refusal):
            if case .rateLimited(let limit) = refusal { context.rateLimitStatus = limit.status }
            throw OpenAIError(refusal)
        case .success(let admission):
            context.admission = admission
            context.rateLimitStatus = admission.rateLimitStatus
        }
    }

    /// The most the request can cost on any of its candidates (a fallback may serve it), with
    /// the estimated input and the requested (or assumed) maximum output.
    func maximumCost(of plan: RoutePlan, facts: RequestFacts) -> Money {
        let usage = TokenUsage(
            inputTokens: facts.estimatedInputTokens, outputTokens: facts.outputTokens(assuming: governor.assumedOutputTokens))
        var maximum: Money?
        for deployment in plan.candidates {
            let cost = deployment.priceSchedule.prices(at: .now()).cost(of: usage)
            if maximum == nil || cost.nanos > maximum!.nanos { maximum = cost }
        }
        return maximum ?? Money.zero("USD")
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
