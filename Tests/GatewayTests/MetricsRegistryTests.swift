import CoreMetrics
import Observability
import Prometheus
import Testing

@Suite struct MetricsRegistryTests {
    func lines(_ registry: MetricsRegistry) -> Set<String> {
        Set(registry.render().split(separator: "\n").map(String.init))
    }

    /// A gauge copied in reads its last value; a counter kept elsewhere is brought up to its
    /// total (swift-prometheus' counters only add), and a total below the last one is ignored.
    @Test func valuesKeptElsewhereAreCopiedIn() {
        let metrics = MetricsRegistry()
        metrics.set("open", help: "Open.", to: 7)
        metrics.set("open", help: "Open.", to: 3)
        for total in [4, 9, 2] as [Int64] {
            metrics.set("lines_total", help: "Lines.", kind: .counter, labels: [("reason", "full")], to: total)
        }
        let text = lines(metrics)
        #expect(text.contains("open 3.0"))
        #expect(text.contains("# TYPE lines_total counter"))
        #expect(text.contains(#"lines_total{reason="full"} 9"#))
    }

    /// swift-prometheus stops the process on a name reused as another kind, or with labels where
    /// it had none: here such a use records nothing and is counted, and the first family goes on.
    @Test func aNameReusedAsAnotherShapeRecordsNothing() {
        // The push backend here is swift-prometheus too, which would stop the process on the
        // conflict if the refused uses reached it.
        let pushed = PrometheusCollectorRegistry()
        let metrics = MetricsRegistry(push: PrometheusMetricsFactory(registry: pushed))
        let factory = RegistryMetricsFactory(registry: metrics)
        Counter(label: "jobs_total", factory: factory).increment(by: 2)
        Recorder(label: "jobs_total", factory: factory).record(5)
        Counter(label: "jobs_total", dimensions: [("kind", "a")], factory: factory).increment()
        metrics.set("jobs_total", help: "Other help.", kind: .gauge, to: 1)
        Counter(label: "jobs_total", factory: factory).increment()
        #expect(lines(metrics).contains("jobs_total 3"))
        #expect(metrics.conflicts == 3)
        #expect(pushed.emitToString().contains("jobs_total 3"))
    }

    /// swift-otel traps exporting a negative duration: the push gets none (the exposition keeps
    /// what was recorded). A label repeated, or two that become one, appears once.
    @Test func aNegativeDurationIsNotPushedAndLabelsAppearOnce() {
        let pushed = PrometheusCollectorRegistry()
        let metrics = MetricsRegistry(push: PrometheusMetricsFactory(registry: pushed))
        let factory = RegistryMetricsFactory(registry: metrics)
        Timer(label: "wait_seconds", factory: factory).recordNanoseconds(-5_000_000_000)
        #expect(pushed.emitToString().contains("wait_seconds_sum 0"))
        Counter(label: "dupes_total", dimensions: [("a.b", "1"), ("a_b", "2"), ("a.b", "3")], factory: factory).increment()
        #expect(lines(metrics).contains(#"dupes_total{a_b="1"} 1"#))
    }

    /// Both backends stop the process on a negative increment (a provider reporting -5 tokens):
    /// such an amount counts nothing instead.
    @Test func aNegativeIncrementCountsNothing() {
        let pushed = PrometheusCollectorRegistry()
        let metrics = MetricsRegistry(push: PrometheusMetricsFactory(registry: pushed))
        let tokens = Counter(label: "tokens_total", factory: RegistryMetricsFactory(registry: metrics))
        tokens.increment(by: 7)
        tokens.increment(by: -5)
        tokens.increment(by: Int64.min)
        #expect(lines(metrics).contains("tokens_total 7"))
        #expect(pushed.emitToString().contains("tokens_total 7"))
    }

    /// With a push backend, every handle records into both: the exposition's series under the
    /// Prometheus name, and the push's under the OpenTelemetry label with its unit and help (here
    /// a second swift-prometheus registry stands in for swift-otel's, whose values only leave
    /// through a collector: the e2e test reads those).
    @Test func aPushBackendGetsEveryUpdateWithItsUnitAndHelp() {
        let pushed = PrometheusCollectorRegistry()
        let metrics = MetricsRegistry(push: PrometheusMetricsFactory(registry: pushed))
        let factory = RegistryMetricsFactory(
            registry: metrics,
            catalog: MetricFamilyCatalog([
                "gen_ai.client.token.usage": .init(
                    help: "Tokens.", unit: "{token}", prometheusName: "gen_ai_client_token_usage", buckets: [1, 4])
            ]))
        let usage = Recorder(label: "gen_ai.client.token.usage", dimensions: [("gen_ai.token.type", "input")], factory: factory)
        usage.record(3)
        Counter(label: "switchyard_requests_total", factory: factory).increment(by: 2)
        metrics.set("switchyard_store_up", help: "Store.", to: 1)
        let local = lines(metrics)
        #expect(local.contains(#"gen_ai_client_token_usage_bucket{gen_ai_token_type="input",le="4.0"} 1"#))
        #expect(local.contains("# HELP gen_ai_client_token_usage Tokens."))
        #expect(local.contains("switchyard_requests_total 2"))
        let remote = Set(pushed.emitToString().split(separator: "\n").map(String.init))
        #expect(
            remote.contains(
                #"gen_ai_client_token_usage_count{gen_ai_token_type="input",unit="{token}",description="Tokens."} 1"#))
        #expect(remote.contains(#"switchyard_store_up{description="Store."} 1.0"#))
        #expect(remote.contains(#"switchyard_requests_total 2"#))
    }
}
