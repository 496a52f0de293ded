import Governance
import Logging
import Observability
import SwitchyardCore
import WireFormats

/// Collects what is known about one request as it passes the pipeline, then turns it into the
/// request's usage record, metrics and log line. Every request ends in exactly one `finish`.
struct RequestMeter: Sendable {
    let id: String
    let endpoint: String
    let startedAt: UnixMicros
    let startInstant = ContinuousClock.now
    var principal: Principal?
    var route: String?
    var deployment: Deployment?
    var provider: String?
    var streamed = false
    /// The client's wire format: errors are written in it.
    var format = ClientFormat.openAIChat
    var tags: [String: String] = [:]
    var timeToFirstToken: Duration?
    var attempts: [Attempt] = []
    /// What governance holds for this request (rate-limit slots, budget reservations) until it ends.
    var admission: Admission?
    var rateLimitStatus: RateLimitStatus?
    /// Prompt content replaced by guardrails, reported in `x-switchyard-redactions`.
    var redactions = 0
    /// The combined policies of the principal's scopes, computed once (by the guardrails) and
    /// reused by the policy check.
    var policy: EffectivePolicy?
    /// The request's class in deployment queues (`x-switchyard-priority`).
    var priority = RequestPriority.interactive

    init(endpoint: String) {
        let now = UnixMicros.now()
        self.id = RandomIdentifier.requestID(now: now)
        self.endpoint = endpoint
        self.startedAt = now
    }

    mutating func use(_ deployment: Deployment) {
        self.deployment = deployment
        self.provider = deployment.provider
    }

    func finish(status: Int, errorClass: ErrorClass?, usage: TokenUsage, gateway: Gateway) {
        let elapsed = ContinuousClock.now - startInstant
        // Priced as of the request's start: a price change mid-request does not re-price it.
        let prices = deployment?.priceSchedule.prices(at: startedAt) ?? .free()
        let cost = prices.cost(of: usage)
        let record = UsageRecord(
            id: id, startedAt: startedAt, finishedAt: .now(), tenant: principal?.tenant, agent: principal?.agent,
            keyID: principal?.keyID, endpoint: endpoint, route: route, deployment: deployment?.name, provider: provider,
            upstreamModel: deployment?.model, streamed: streamed, usage: usage, cost: cost,
            latencyMicros: elapsed.microseconds, timeToFirstTokenMicros: timeToFirstToken?.microseconds, status: status,
            errorClass: errorClass, tags: tags, attempts: attempts)
        if let admission, let principal { gateway.governor.release(admission, principal: principal, usage: usage, cost: cost) }
        gateway.usageSink.record(record)
        gateway.observe(record, latency: elapsed, timeToFirstToken: timeToFirstToken)
    }
}

extension Duration {
    var microseconds: Int64 {
        let (seconds, attoseconds) = components
        return seconds * 1_000_000 + attoseconds / 1_000_000_000_000
    }

    var seconds: Double {
        let (seconds, attoseconds) = components
        return Double(seconds) + Double(attoseconds) / 1e18
    }
}
