/// Why a request did not succeed, in terms common to every provider.
public enum ErrorClass: String, Sendable, Hashable, Codable, CaseIterable {
    case invalidRequest = "invalid_request"
    case authentication
    case permissionDenied = "permission_denied"
    case notFound = "not_found"
    case payloadTooLarge = "payload_too_large"
    case rateLimited = "rate_limited"
    /// The upstream refused or dropped the connection before answering.
    case upstreamUnavailable = "upstream_unavailable"
    case upstreamTimeout = "upstream_timeout"
    /// The upstream answered with a 5xx or a body that could not be understood.
    case upstreamError = "upstream_error"
    /// The upstream rejected the request (4xx other than 429).
    case upstreamRejected = "upstream_rejected"
    /// The provider is temporarily overloaded (Anthropic 529, Gemini/OpenAI 503).
    case upstreamOverloaded = "upstream_overloaded"
    /// The provider rejected the gateway's own credentials: a deployment problem, not the client's.
    case upstreamAuthentication = "upstream_authentication"
    /// The provider refused the content (safety filters, refusals).
    case contentFiltered = "content_filtered"
    /// The upstream stream ended abnormally after the response had started.
    case streamInterrupted = "stream_interrupted"
    case clientCancelled = "client_cancelled"
    case noProvider = "no_provider"
    /// Every candidate deployment is unhealthy (breaker open, cooling down, failing health checks).
    case noHealthyDeployment = "no_healthy_deployment"
    /// Every candidate deployment is at its concurrency limit.
    case atCapacity = "at_capacity"
    /// A hedged attempt that lost the race and was cancelled.
    case hedgeLost = "hedge_lost"
    /// The route's retry budget was spent, so a retryable failure was not retried.
    case retryBudgetExhausted = "retry_budget_exhausted"
    /// Policy refused the request (residency, routing hints).
    case policyDenied = "policy_denied"
    /// A budget had no room for the request's worst-case cost.
    case budgetExceeded = "budget_exceeded"
    /// A kill switch on the agent, key, project or tenant stopped the request.
    case killSwitch = "kill_switch"
    /// The request needs more context than any deployment has.
    case contextTooLong = "context_too_long"
    case internalError = "internal_error"
    /// The gateway's drain timeout cut the request at shutdown (`server.drain_timeout_seconds`).
    case serverShutdown = "server_shutdown"
}

extension ErrorClass {
    /// Failures that say nothing about the request itself, so another attempt (the next
    /// deployment, or the same one after a backoff) may succeed.
    public var isRetryable: Bool {
        switch self {
        case .upstreamUnavailable, .upstreamTimeout, .upstreamError, .rateLimited, .upstreamOverloaded,
            .upstreamAuthentication:
            true
        default: false
        }
    }
}
