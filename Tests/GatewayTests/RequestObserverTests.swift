import Logging
import Observability
import SwitchyardConfig
import SwitchyardCore
import Testing

@testable import DataPlane

/// What the settle stage records through swift-metrics for one finished request.
@Suite struct RequestObserverTests {
    /// A streamed answer: its duration, its first token, and the rest of the stream per output
    /// token after the first ((1 s − 0.2 s) / 4 = 0.2 s); a failed attempt hidden by a failover
    /// still counts as an upstream error.
    @Test func aStreamsPaceAndAHiddenFailureAreRecorded() {
        let registry = MetricsRegistry()
        let factory = RegistryMetricsFactory(registry: registry, catalog: MetricFamilies.catalog)
        let observer = RequestObserver(
            metrics: factory, requestSeries: RequestSeriesCache(factory: factory), configuration: SwitchyardConfiguration(),
            logger: Logger(label: "test"), traffic: nil)
        var record = UsageRecord(
            id: "req_1", startedAt: UnixMicros(1), finishedAt: UnixMicros(2), tenant: "acme", agent: nil, keyID: nil,
            endpoint: "chat.completions", route: "chat", deployment: "mini", provider: "openai",
            upstreamModel: "gpt-4o-mini", streamed: true, usage: TokenUsage(inputTokens: 10, outputTokens: 5),
            cost: Money(nanos: 70, currency: "USD"), latencyMicros: 1_000_000, timeToFirstTokenMicros: 200_000,
            status: 200, errorClass: nil, tags: [:])
        record.attempts = [
            Attempt(deployment: "big", status: 503, errorClass: .upstreamOverloaded, latencyMicros: 10),
            Attempt(deployment: "mini", status: 200, errorClass: nil, latencyMicros: 10),
        ]
        observer.observe(record, latency: .seconds(1), timeToFirstToken: .milliseconds(200))
        let lines = Set(registry.render().split(separator: "\n").map(String.init))
        let labels =
            #"gen_ai_operation_name="chat",gen_ai_provider_name="openai",gen_ai_request_model="chat",gen_ai_response_model="gpt-4o-mini""#
        for expected in [
            "gen_ai_server_time_per_output_token_seconds_bucket{\(labels),le=\"0.15\"} 0",
            "gen_ai_server_time_per_output_token_seconds_bucket{\(labels),le=\"0.2\"} 1",
            "gen_ai_server_time_per_output_token_seconds_sum{\(labels)} 0.2",
            "gen_ai_server_time_to_first_token_seconds_sum{\(labels)} 0.2",
            "gen_ai_client_operation_duration_seconds_sum{\(labels)} 1.0",
            #"switchyard_upstream_errors_total{provider="",deployment="big",error_class="upstream_overloaded"} 1"#,
            #"switchyard_cost_nanos_total{tenant="acme",deployment="mini",currency="USD"} 70"#,
        ] {
            #expect(lines.contains(expected), "\(expected)")
        }
    }
}
