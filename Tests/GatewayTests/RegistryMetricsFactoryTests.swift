import CoreMetrics
import Observability
import Testing

/// swift-metrics' API over swift-prometheus: what each kind of handle records, how names that are
/// not Prometheus names are mended, and where the help text, names and buckets come from.
@Suite struct RegistryMetricsFactoryTests {
    let registry = MetricsRegistry()
    var factory: RegistryMetricsFactory {
        RegistryMetricsFactory(
            registry: registry,
            catalog: MetricFamilyCatalog([
                "queue_wait_seconds": .init(help: "Time queued.", buckets: [0.1, 1]),
                "gen_ai.client.operation.duration": .init(
                    help: "Duration.", unit: "s", prometheusName: "gen_ai_client_operation_duration_seconds",
                    buckets: [0.5]),
            ]))
    }

    func lines() -> Set<String> { Set(registry.render().split(separator: "\n").map(String.init)) }

    /// Counters add, a timer records seconds into the catalog's buckets with its help, a recorder
    /// that aggregates is a histogram, one that does not (and a meter) is a gauge.
    @Test func eachHandleKindRecordsAsItsKind() {
        let jobs = Counter(label: "jobs_total", dimensions: [("kind", "a")], factory: factory)
        jobs.increment()
        jobs.increment(by: 4)
        Counter(label: "jobs_total", dimensions: [("kind", "a")], factory: factory).increment(by: 2)
        let wait = Timer(label: "queue_wait_seconds", factory: factory)
        wait.recordNanoseconds(62_500_000)
        wait.recordMilliseconds(500)
        Recorder(label: "batch_size", factory: factory).record(12)
        Recorder(label: "temperature", aggregate: false, factory: factory).record(21.5)
        let inFlight = Meter(label: "in_flight", factory: factory)
        inFlight.increment(by: 3)
        inFlight.decrement(by: 1)
        let text = lines()
        for expected in [
            #"jobs_total{kind="a"} 7"#, "# TYPE jobs_total counter",
            "# HELP queue_wait_seconds Time queued.", "# TYPE queue_wait_seconds histogram",
            #"queue_wait_seconds_bucket{le="0.1"} 1"#, #"queue_wait_seconds_bucket{le="1.0"} 2"#,
            #"queue_wait_seconds_bucket{le="+Inf"} 2"#, "queue_wait_seconds_sum 0.5625", "queue_wait_seconds_count 2",
            "# TYPE batch_size histogram", "batch_size_sum 12.0", "batch_size_count 1",
            "# TYPE temperature gauge", "temperature 21.5",
            "# TYPE in_flight gauge", "in_flight 2.0",
        ] {
            #expect(text.contains(expected), "\(expected)")
        }
    }

    /// A catalogued OpenTelemetry name takes its exposition name; a library's dotted label
    /// (Hummingbird's `http.server.request.duration`, a dimension `http.request.method`) becomes a
    /// name Prometheus accepts; ours are left as they are.
    @Test func labelsBecomePrometheusNames() {
        Timer(label: "gen_ai.client.operation.duration", dimensions: [("gen_ai.operation.name", "chat")], factory: factory)
            .recordMilliseconds(200)
        #expect(lines().contains(#"gen_ai_client_operation_duration_seconds_bucket{gen_ai_operation_name="chat",le="0.5"} 1"#))
        Timer(label: "http.server.request.duration", dimensions: [("http.request.method", "GET")], factory: factory)
            .recordMilliseconds(3)
        #expect(lines().contains(#"http_server_request_duration_count{http_request_method="GET"} 1"#))
        #expect(MetricFamilyCatalog.prometheusName("switchyard_requests_total") == "switchyard_requests_total")
        #expect(MetricFamilyCatalog.prometheusName("9lives-µ") == "_9lives___")
        #expect(MetricFamilyCatalog.prometheusName("") == "_")
        // A colon is allowed in a metric name, not in a label name.
        Counter(label: "nio:accepts", dimensions: [("pool:id", "1")], factory: factory).increment()
        #expect(lines().contains(#"nio:accepts{pool_id="1"} 1"#))
    }

    /// A counter reset and a destroyed handle: the reset reads zero, the destroyed handle's series
    /// keeps what it counted.
    @Test func resetAndDestroy() {
        let reset = Counter(label: "resets_total", factory: factory)
        reset.increment(by: 5)
        reset.reset()
        let kept = Counter(label: "kept_total", factory: factory)
        kept.increment(by: 3)
        kept.destroy()
        #expect(lines().contains("resets_total 0"))
        #expect(lines().contains("kept_total 3"))
    }
}
