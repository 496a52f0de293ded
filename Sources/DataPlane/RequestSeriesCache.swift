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
        var needs: Needs
    }

    struct Needs: OptionSet, Hashable {
        let rawValue: UInt8
        static let timeToFirstToken = Needs(rawValue: 1)
        static let inputTokens = Needs(rawValue: 2)
        static let outputTokens = Needs(rawValue: 4)
        static let cachedInputTokens = Needs(rawValue: 8)
        static let cost = Needs(rawValue: 16)
    }

    struct RequestSeries {
        var requests: MetricsRegistry.Series
        var duration: MetricsRegistry.Series
        var timeToFirstToken: MetricsRegistry.Series?
        var inputTokens: MetricsRegistry.Series?
        var outputTokens: MetricsRegistry.Series?
        var cachedInputTokens: MetricsRegistry.Series?
        var cost: MetricsRegistry.Series?
    }

    /// Beyond this many label sets the cache starts over (the registry keeps its series).
    static let limit = 10_000

    private let registry: MetricsRegistry
    private let cache = Mutex<[Key: RequestSeries]>([:])

    init(registry: MetricsRegistry) { self.registry = registry }

    func series(for record: UsageRecord, timedFirstToken: Bool) -> RequestSeries {
        var needs: Needs = []
        if timedFirstToken { needs.insert(.timeToFirstToken) }
        if record.tenant != nil, record.deployment != nil {
            needs.insert(.cost)
            if record.usage.inputTokens > 0 { needs.insert(.inputTokens) }
            if record.usage.outputTokens > 0 { needs.insert(.outputTokens) }
            if record.usage.cachedInputTokens > 0 { needs.insert(.cachedInputTokens) }
        }
        let key = Key(
            endpoint: record.endpoint, route: record.route ?? "", deployment: record.deployment ?? "",
            provider: record.provider ?? "", status: record.status, tenant: record.tenant,
            estimated: record.usage.isEstimated, currency: record.cost.currency, needs: needs)
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
}
