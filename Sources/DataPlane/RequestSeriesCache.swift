import Observability
import SwitchyardCore
import Synchronization

/// The metric series a finished request updates, resolved once per distinct set of label values.
///
/// Finding half a dozen series by name and labels hashed some forty strings per request; the
/// cache hashes the handful of values that tell requests apart, and the updates then go straight
/// to the series. Which optional series a request needs (time to first token, each token type,
/// cost) is part of the key, so a series is created only when first updated, as before.
final class RequestSeriesCache: Sendable {
    struct Key: Hashable {
        var endpoint: String
        var route: String
        var deployment: String
        var provider: String
        var status: Int
        var tenant: String?
        var estimated: Bool
        var currency: String
        /// For the GenAI families: the provider's kind, the upstream model, the error class.
        var providerKind: String
        var upstreamModel: String
        var errorType: String?
        var needs: Needs
    }

    struct Needs: OptionSet, Hashable {
        let rawValue: UInt8
        static let timeToFirstToken = Needs(rawValue: 1)
        static let inputTokens = Needs(rawValue: 2)
        static let outputTokens = Needs(rawValue: 4)
        static let cachedInputTokens = Needs(rawValue: 8)
        static let cost = Needs(rawValue: 16)
        /// The request reached a provider: the GenAI families count it.
        static let genAI = Needs(rawValue: 32)
        static let outputPace = Needs(rawValue: 64)
    }

    struct RequestSeries {
        var requests: MetricsRegistry.Series
        var duration: MetricsRegistry.Series
        var timeToFirstToken: MetricsRegistry.Series?
        var inputTokens: MetricsRegistry.Series?
        var outputTokens: MetricsRegistry.Series?
        var cachedInputTokens: MetricsRegistry.Series?
        var cost: MetricsRegistry.Series?
        var genAI: GenAISeries?
    }

    /// The OpenTelemetry GenAI metrics (semantic conventions v1.41), in Prometheus' translation
    /// of their names, with the conventions' bucket boundaries.
    struct GenAISeries {
        var operationDuration: MetricsRegistry.Series
        var inputTokens: MetricsRegistry.Series?
        var outputTokens: MetricsRegistry.Series?
        var timeToFirstToken: MetricsRegistry.Series?
        var timePerOutputToken: MetricsRegistry.Series?
    }

    static let tokenBuckets: [Double] = [
        1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262_144, 1_048_576, 4_194_304, 16_777_216, 67_108_864,
    ]
    static let durationBuckets: [Double] = [
        0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92,
    ]
    static let timeToFirstTokenBuckets: [Double] = [
        0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0,
    ]
    static let timePerOutputTokenBuckets: [Double] = [
        0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.75, 1.0, 2.5,
    ]

    /// Beyond this many label sets the cache starts over (the registry keeps its series).
    static let limit = 10_000

    private let registry: MetricsRegistry
    private let cache = Mutex<[Key: RequestSeries]>([:])
    /// Each provider's kind by name (`gen_ai_provider_name`).
    private let providerKinds: [String: String]

    init(registry: MetricsRegistry, providerKinds: [String: String] = [:]) {
        self.registry = registry
        self.providerKinds = providerKinds
    }

    /// `pacedOutput`: the request streamed more than one output token after its first, so its
    /// time per output token is known.
    func series(for record: UsageRecord, timedFirstToken: Bool, pacedOutput: Bool = false) -> RequestSeries {
        var needs: Needs = []
        if timedFirstToken { needs.insert(.timeToFirstToken) }
        if record.provider != nil {
            needs.insert(.genAI)
            if pacedOutput { needs.insert(.outputPace) }
        }
        if record.tenant != nil, record.deployment != nil {
            needs.insert(.cost)
            if record.usage.inputTokens > 0 { needs.insert(.inputTokens) }
            if record.usage.outputTokens > 0 { needs.insert(.outputTokens) }
            if record.usage.cachedInputTokens > 0 { needs.insert(.cachedInputTokens) }
        }
        let key = Key(
            endpoint: record.endpoint, route: record.route ?? "", deployment: record.deployment ?? "",
            provider: record.provider ?? "", status: record.status, tenant: record.tenant,
            estimated: record.usage.isEstimated, currency: record.cost.currency,
            providerKind: record.provider.map { providerKinds[$0] ?? $0 } ?? "", upstreamModel: record.upstreamModel ?? "",
            errorType: record.errorClass?.rawValue, needs: needs)
        if let found = cache.withLock({ $0[key] }) { return found }
        let resolved = resolve(key)
        cache.withLock { cache in
            if cache.count >= Self.limit { cache.removeAll() }
            cache[key] = resolved
        }
        return resolved
    }

    private func resolve(_ key: Key) -> RequestSeries {
        var series = RequestSeries(
            requests: registry.series(
                "switchyard_requests_total", help: "Requests handled, by outcome.", kind: .counter,
                labels: [
                    ("endpoint", key.endpoint), ("route", key.route), ("deployment", key.deployment),
                    ("provider", key.provider), ("status", String(key.status)),
                ]),
            duration: registry.series(
                "switchyard_request_duration_seconds", help: "Time from request received to response complete.",
                kind: .histogram, labels: [("endpoint", key.endpoint), ("route", key.route)]))
        if key.needs.contains(.timeToFirstToken) {
            series.timeToFirstToken = registry.series(
                "switchyard_time_to_first_token_seconds", help: "Time from request received to first streamed token.",
                kind: .histogram, labels: [("route", key.route), ("deployment", key.deployment)])
        }
        if key.needs.contains(.genAI) { series.genAI = resolveGenAI(key) }
        guard let tenant = key.tenant else { return series }
        func tokens(_ type: String, _ need: Needs) -> MetricsRegistry.Series? {
            guard key.needs.contains(need) else { return nil }
            return registry.series(
                "switchyard_tokens_total", help: "Tokens consumed, by tenant and deployment.", kind: .counter,
                labels: [
                    ("tenant", tenant), ("deployment", key.deployment), ("type", type),
                    ("estimated", key.estimated ? "true" : "false"),
                ])
        }
        series.inputTokens = tokens("input", .inputTokens)
        series.outputTokens = tokens("output", .outputTokens)
        series.cachedInputTokens = tokens("cached_input", .cachedInputTokens)
        if key.needs.contains(.cost) {
            series.cost = registry.series(
                "switchyard_cost_nanos_total", help: "Cost in nano-units (1e-9) of the currency, by tenant and deployment.",
                kind: .counter,
                labels: [("tenant", tenant), ("deployment", key.deployment), ("currency", key.currency)])
        }
        return series
    }

    private func resolveGenAI(_ key: Key) -> GenAISeries {
        let labels = [
            ("gen_ai_operation_name", GenAIAttributes.operation(endpoint: key.endpoint)),
            ("gen_ai_provider_name", key.providerKind), ("gen_ai_request_model", key.route),
            ("gen_ai_response_model", key.upstreamModel),
        ]
        var durationLabels = labels
        if let errorType = key.errorType { durationLabels.append(("error_type", errorType)) }
        var genAI = GenAISeries(
            operationDuration: registry.series(
                "gen_ai_client_operation_duration_seconds", help: "GenAI operation duration (gen_ai.client.operation.duration).",
                kind: .histogram, labels: durationLabels, buckets: Self.durationBuckets))
        guard key.errorType == nil else { return genAI }
        func tokens(_ type: String, _ need: Needs) -> MetricsRegistry.Series? {
            guard key.needs.contains(need) else { return nil }
            return registry.series(
                "gen_ai_client_token_usage", help: "Tokens used per GenAI operation (gen_ai.client.token.usage).",
                kind: .histogram, labels: labels + [("gen_ai_token_type", type)], buckets: Self.tokenBuckets)
        }
        genAI.inputTokens = tokens("input", .inputTokens)
        genAI.outputTokens = tokens("output", .outputTokens)
        if key.needs.contains(.timeToFirstToken) {
            genAI.timeToFirstToken = registry.series(
                "gen_ai_server_time_to_first_token_seconds",
                help: "Time to the first token of a streamed answer (gen_ai.server.time_to_first_token).", kind: .histogram,
                labels: labels, buckets: Self.timeToFirstTokenBuckets)
        }
        if key.needs.contains(.outputPace) {
            genAI.timePerOutputToken = registry.series(
                "gen_ai_server_time_per_output_token_seconds",
                help: "Time per output token after the first (gen_ai.server.time_per_output_token).", kind: .histogram,
                labels: labels, buckets: Self.timePerOutputTokenBuckets)
        }
        return genAI
    }
}
