import Governance
import SwitchyardCore
import Tracing
import WireFormats

/// What is known about one request as it passes the pipeline's stages: who sent it, where it
/// was routed, what was tried, what governance holds for it. The request's `Settlement` turns it
/// into the usage record, metrics and log line once the request ends.
struct RequestContext: Sendable {
    let id: String
    let endpoint: String
    /// The client's wire format: errors are written in it.
    let format: ClientFormat
    let startedAt: UnixMicros
    let startInstant = ContinuousClock.now
    var principal: Principal?
    var route: String?
    var deployment: Deployment?
    var provider: String?
    var streamed = false
    var tags: [String: String] = [:]
    var timeToFirstToken: Duration?
    var attempts: [Attempt] = []
    /// What governance holds for this request (rate-limit slots, budget reservations) until it ends.
    var admission: Admission?
    var rateLimitStatus: RateLimitStatus?
    /// Prompt content replaced by guardrails, reported in `x-switchyard-redactions`.
    var redactions = 0
    /// The combined policies of the principal's scopes, computed once by the guard stage and
    /// judged by the authorize stage.
    var policy: EffectivePolicy?
    /// The request's class in deployment queues (`x-switchyard-priority`).
    var priority = RequestPriority.interactive
    /// Set when tracing is on and the request is sampled: its span, ended at settlement.
    var trace: RequestTrace?
    /// Tracing's decision, taken at arrival and acted on once the key is known (nil: tracing is off).
    var traceDecision: TraceSampler.Decision?
    /// When the request arrived, on the tracer's clock (tracing on only).
    var arrival: DefaultTracerClock.Timestamp?
    /// A client's trace context the gateway does not sample, handed to the upstream unchanged.
    var untracedParent: TraceSampler.Parent?
    /// The headers that carry it to the upstream.
    var upstreamTraceHeaders: [(String, String)] { untracedParent?.headers ?? [] }
    /// The agent run the request belongs to (`x-switchyard-run`), its prompt's fingerprint for
    /// loop detection, and whether it made the run loop.
    var run: RunIdentity?
    var promptFingerprint: UInt64?
    var runLoop = false
    /// The kill-switch scope of the run, once the key named its tenant.
    var runScope: GovernanceScope? {
        guard let run, let tenant = principal?.tenant else { return nil }
        return run.scope(tenant: tenant)
    }
    /// The W3C trace id for the usage record: the request's trace, or the client's passed through.
    var traceID: String? { trace?.traceID ?? untracedParent?.traceID }

    init(endpoint: String, format: ClientFormat) {
        let now = UnixMicros.now()
        self.id = RandomIdentifier.requestID(now: now)
        self.endpoint = endpoint
        self.format = format
        self.startedAt = now
    }

    mutating func use(_ deployment: Deployment) {
        self.deployment = deployment
        self.provider = deployment.provider
    }

    /// The request's usage record, priced as of its start (a price change mid-request does not
    /// re-price it).
    func usageRecord(
        status: Int, errorClass: ErrorClass?, usage: TokenUsage, elapsed: Duration, replica: String
    ) -> UsageRecord {
        let prices = deployment?.priceSchedule.prices(at: startedAt) ?? .free()
        return UsageRecord(
            id: id, startedAt: startedAt, finishedAt: .now(), tenant: principal?.tenant, agent: principal?.agent,
            keyID: principal?.keyID, endpoint: endpoint, route: route, deployment: deployment?.name, provider: provider,
            upstreamModel: deployment?.model, streamed: streamed, usage: usage, cost: prices.cost(of: usage),
            latencyMicros: elapsed.microseconds, timeToFirstTokenMicros: timeToFirstToken?.microseconds, status: status,
            errorClass: errorClass, tags: tags, attempts: attempts, replica: replica, traceID: traceID,
            run: principal == nil ? nil : run?.id, runStep: principal == nil ? nil : run?.step, runLoop: runLoop)
    }
}

extension Duration {
    var seconds: Double {
        let (seconds, attoseconds) = components
        return Double(seconds) + Double(attoseconds) / 1e18
    }
}
