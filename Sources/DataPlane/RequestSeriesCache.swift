import CoreMetrics
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

    /// swift-metrics handles, resolved by the factory once per label set.
    struct RequestSeries {
        var requests: Counter
        var duration: Timer
        var timeToFirstToken: Timer?
        var inputTokens: Counter?
        var outputTokens: Counter?
        var cachedInputTokens: Counter?
        var cost: Counter?
        var genAI: GenAISeries?
    }

    /// The OpenTelemetry GenAI metrics (semantic conventions v1.41).
    struct GenAISeries {
        var operationDuration: Timer
        var inputTokens: Recorder?
        var outputTokens: Recorder?
        var timeToFirstToken: Timer?
        var timePerOutputToken: Timer?
    }

    /// Beyond this many label sets the cache starts over (the registry keeps its series).
    static let limit = 10_000

    private let factory: any MetricsFactory
    private let cache = Mutex<[Key: RequestSeries]>([:])
    /// Each provider's kind by name (`gen_ai.provider.name`).
    private let providerKinds: [String: String]

    init(factory: any MetricsFactory, providerKinds: [String: String] = [:]) {
        self.factory = factory
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
            requests: Counter(
                label: MetricFamilies.requests,
                dimensions: [
                    ("endpoint", key.endpoint), ("route", key.route), ("deployment", key.deployment),
                    ("provider", key.provider), ("status", String(key.status)),
                ], factory: factory),
            duration: Timer(
                label: MetricFamilies.requestDuration, dimensions: [("endpoint", key.endpoint), ("route", key.route)],
                factory: factory))
        if key.needs.contains(.timeToFirstToken) {
            series.timeToFirstToken = Timer(
                label: MetricFamilies.timeToFirstToken, dimensions: [("route", key.route), ("deployment", key.deployment)],
                factory: factory)
        }
        if key.needs.contains(.genAI) { series.genAI = resolveGenAI(key) }
        guard let tenant = key.tenant else { return series }
        func tokens(_ type: String, _ need: Needs) -> Counter? {
            guard key.needs.contains(need) else { return nil }
            return Counter(
                label: MetricFamilies.tokens,
                dimensions: [
                    ("tenant", tenant), ("deployment", key.deployment), ("type", type),
                    ("estimated", key.estimated ? "true" : "false"),
                ], factory: factory)
        }
        series.inputTokens = tokens("input", .inputTokens)
        series.outputTokens = tokens("output", .outputTokens)
        series.cachedInputTokens = tokens("cached_input", .cachedInputTokens)
        if key.needs.contains(.cost) {
            series.cost = Counter(
                label: MetricFamilies.cost,
                dimensions: [("tenant", tenant), ("deployment", key.deployment), ("currency", key.currency)],
                factory: factory)
        }
        return series
    }

    private func resolveGenAI(_ key: Key) -> GenAISeries {
        // The conventions' attribute keys; the exposition spells them with underscores.
        let labels = [
            (GenAIAttributes.operationName, GenAIAttributes.operation(endpoint: key.endpoint)),
            (GenAIAttributes.providerName, key.providerKind), (GenAIAttributes.requestModel, key.route),
            (GenAIAttributes.responseModel, key.upstreamModel),
        ]
        var durationLabels = labels
        if let errorType = key.errorType { durationLabels.append((GenAIAttributes.errorType, errorType)) }
        var genAI = GenAISeries(
            operationDuration: Timer(
                label: MetricFamilies.genAIOperationDuration, dimensions: durationLabels, factory: factory))
        guard key.errorType == nil else { return genAI }
        func tokens(_ type: String, _ need: Needs) -> Recorder? {
            guard key.needs.contains(need) else { return nil }
            return Recorder(
                label: MetricFamilies.genAITokenUsage, dimensions: labels + [(GenAIAttributes.tokenType, type)], aggregate: true,
                factory: factory)
        }
        genAI.inputTokens = tokens("input", .inputTokens)
        genAI.outputTokens = tokens("output", .outputTokens)
        if key.needs.contains(.timeToFirstToken) {
            genAI.timeToFirstToken = Timer(label: MetricFamilies.genAITimeToFirstToken, dimensions: labels, factory: factory)
        }
        if key.needs.contains(.outputPace) {
            genAI.timePerOutputToken = Timer(
                label: MetricFamilies.genAITimePerOutputToken, dimensions: labels, factory: factory)
        }
        return genAI
    }
}
