import Foundation
import Governance
import Providers
import Routing
import SwitchyardCore
import WireFormats

/// The client-facing errors of the data plane's refusals and upstream failures, in one place:
/// what a client sees for each is part of the API.
extension OpenAIError {
    /// A refusal of governance: a policy, a rate limit, a kill switch or a budget.
    init(_ refusal: GovernanceRefusal) {
        self =
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
                    retryAfterSeconds: budget.outsideWindow ? nil : Self.secondsUntilPeriodEnds(budget.budget))
            }
    }

    /// When a refused budget has room again: the start of its next period.
    private static func secondsUntilPeriodEnds(_ budget: Budget) -> Int? {
        let now = UnixMicros.now()
        guard let period = budget.period.containing(now) else { return nil }
        return max(1, Int((period.end.value - now.value + 999_999) / 1_000_000))
    }

    /// A request that cannot be read in its format, or asks for what the format cannot carry.
    init(_ error: TranslationError) {
        self = .invalidRequest(
            error.message, param: error.param, code: error.kind == .unsupported ? "unsupported_parameter" : nil)
    }

    /// A deployment whose provider's API key variable is not set.
    static func missingKey(_ deployment: Deployment, variable: String?) -> OpenAIError {
        .upstream(
            .upstreamRejected, status: 502,
            message:
                "Provider '\(deployment.provider)' has no API key: set the environment variable \(variable ?? "") for the gateway."
        )
    }

    /// The answer when no candidate could even be tried.
    static func unavailable(_ route: Route, _ reasons: [String: DeploymentMonitor.Unavailability]) -> OpenAIError {
        if reasons.isEmpty {
            return .upstream(.noProvider, status: 502, message: "Route '\(route.name)' has no deployment that can be called.")
        }
        for (name, reason) in reasons.sorted(by: { $0.key < $1.key }) {
            if case .queueTimeout(let waited) = reason {
                return OpenAIError(
                    status: 429,
                    message:
                        "Deployment '\(name)' of route '\(route.name)' is saturated: waited \(Int(waited.seconds.rounded())) s in its queue without a slot; retry shortly.",
                    type: "rate_limit_error", code: "queue_timeout", errorClass: .atCapacity, retryAfterSeconds: 1)
            }
        }
        if reasons.values.allSatisfy({ $0 == .atCapacity }) {
            return OpenAIError(
                status: 429, message: "Every deployment of route '\(route.name)' is at its concurrency limit; retry shortly.",
                type: "rate_limit_error", code: ErrorClass.atCapacity.rawValue, errorClass: .atCapacity, retryAfterSeconds: 1)
        }
        var soonest: Duration?
        let details = reasons.sorted { $0.key < $1.key }.map { name, reason -> String in
            switch reason {
            case .circuitOpen(let retryAfter):
                soonest = min(soonest ?? retryAfter, retryAfter)
                return "\(name): circuit open"
            case .coolingDown(let retryAfter):
                soonest = min(soonest ?? retryAfter, retryAfter)
                return "\(name): rate limited by the provider"
            case .healthCheckFailing: return "\(name): failing health checks"
            case .ejected: return "\(name): ejected by an incident's mitigation"
            case .atCapacity, .queueTimeout: return "\(name): at its concurrency limit"
            }
        }
        let seconds = soonest.map { Int(($0.seconds).rounded(.up)) } ?? 5
        return OpenAIError(
            status: 503, message: "No healthy deployment for route '\(route.name)' (\(details.joined(separator: "; "))).",
            type: "api_error", code: ErrorClass.noHealthyDeployment.rawValue, errorClass: .noHealthyDeployment,
            retryAfterSeconds: max(1, seconds))
    }

    /// The client-facing error for an upstream's non-2xx answer. OpenAI-shaped 4xx bodies are
    /// passed on as they are (the provider's wording is the most useful); anything else is wrapped.
    static func upstreamStatus(
        _ status: Int, body: [UInt8], deployment: Deployment, retryAfter: Duration? = nil
    ) -> OpenAIError {
        let errorClass = ProviderAdapter.errorClass(forStatus: status, body: body)
        var upstreamMessage = String(decoding: body.prefix(300), as: UTF8.self)
        if let editor = JSONObjectEditor(body, generated: true), let errorObject = editor.value(of: "error"),
            let inner = JSONObjectEditor(Array(errorObject), generated: true), let message = inner.value(of: "message"),
            let text = try? JSONDecoder().decode(String.self, from: Data(message))
        {
            upstreamMessage = text
        }
        let origin = "deployment '\(deployment.name)' (provider '\(deployment.provider)')"
        switch errorClass {
        case .rateLimited:
            var error = OpenAIError.upstream(.rateLimited, status: 429, message: "Rate limited by \(origin): \(upstreamMessage)")
            error.type = "rate_limit_error"
            error.retryAfterSeconds = retryAfter.map { max(1, Int($0.seconds.rounded(.up))) }
            return error
        case .upstreamRejected:
            return OpenAIError(
                status: status, message: "Rejected by \(origin) with status \(status): \(upstreamMessage)",
                type: "invalid_request_error", code: "upstream_rejected", errorClass: .upstreamRejected)
        case .contextTooLong:
            return OpenAIError(
                status: 400, message: "Too long for \(origin): \(upstreamMessage)", type: "invalid_request_error",
                code: "context_length_exceeded", param: "messages", errorClass: .contextTooLong)
        case .contentFiltered:
            return OpenAIError(
                status: 400, message: "Refused by the content filter of \(origin): \(upstreamMessage)",
                type: "invalid_request_error", code: "content_filter", errorClass: .contentFiltered)
        case .upstreamOverloaded:
            var error = OpenAIError.upstream(
                .upstreamOverloaded, status: 503, message: "Overloaded: \(origin) answered \(status): \(upstreamMessage)")
            error.retryAfterSeconds = retryAfter.map { max(1, Int($0.seconds.rounded(.up))) }
            return error
        case .upstreamAuthentication:
            // The provider refused the gateway's credentials: the client can do nothing about it.
            return .upstream(
                .upstreamAuthentication, status: 502,
                message: "The gateway's credentials were refused by \(origin) (status \(status)); tell your Switchyard admin.")
        case .upstreamTimeout:
            return .upstream(.upstreamTimeout, status: 504, message: "Timed out at \(origin) (status \(status)).")
        default:
            return .upstream(
                .upstreamError, status: 502, message: "Upstream error from \(origin), status \(status): \(upstreamMessage)")
        }
    }
}
