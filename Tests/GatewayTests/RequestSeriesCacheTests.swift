import Observability
import SwitchyardCore
import Testing

@testable import DataPlane

@Suite struct RequestSeriesCacheTests {
    func record(
        tenant: String? = "acme", status: Int = 200, input: Int = 10, output: Int = 5, cached: Int = 0, nanos: Int64 = 70
    ) -> UsageRecord {
        UsageRecord(
            id: RandomIdentifier.requestID(), startedAt: UnixMicros(1), finishedAt: UnixMicros(2), tenant: tenant, agent: nil,
            keyID: nil, endpoint: "chat.completions", route: "chat", deployment: "mini", provider: "openai",
            upstreamModel: "gpt-4o-mini", streamed: false,
            usage: TokenUsage(inputTokens: input, outputTokens: output, cachedInputTokens: cached),
            cost: Money(nanos: nanos, currency: "USD"), latencyMicros: 1, timeToFirstTokenMicros: nil, status: status,
            errorClass: nil, tags: [:])
    }

    /// Requests with the same label values share handles; a request needing a series the earlier
    /// ones did not (cached tokens, a first-token time) gets it, on the same series for the labels
    /// they share (the counts add up); series nobody needed stay absent.
    @Test func requestsShareSeriesAndOptionalOnesAppearWhenNeeded() {
        let metrics = MetricsRegistry()
        let cache = RequestSeriesCache(factory: RegistryMetricsFactory(registry: metrics, catalog: MetricFamilies.catalog))
        let first = cache.series(for: record(), timedFirstToken: false)
        let second = cache.series(for: record(nanos: 5), timedFirstToken: false)
        #expect(first.requests === second.requests && first.cost === second.cost)
        #expect(first.cachedInputTokens == nil && first.timeToFirstToken == nil)
        let cached = cache.series(for: record(cached: 4), timedFirstToken: true)
        #expect(cached.cachedInputTokens != nil && cached.timeToFirstToken != nil)
        let failed = cache.series(for: record(tenant: nil, status: 502, input: 0, output: 0), timedFirstToken: false)
        #expect(failed.cost == nil && failed.inputTokens == nil)
        for series in [first, second, cached, failed] {
            series.requests.increment()
            series.inputTokens?.increment(by: 10)
        }
        let text = metrics.render()
        #expect(
            text.contains(
                #"switchyard_requests_total{endpoint="chat.completions",route="chat",deployment="mini",provider="openai",status="200"} 3"#
            ))
        #expect(text.contains(#"status="502"} 1"#))
        #expect(text.contains(#"switchyard_tokens_total{tenant="acme",deployment="mini",type="input",estimated="false"} 30"#))
        #expect(text.contains(#"type="cached_input""#))
        #expect(!text.contains(#"tenant="""#))
    }
}
