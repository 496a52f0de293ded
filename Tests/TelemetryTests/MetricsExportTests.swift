import Observability
import Testing

@testable import Telemetry

/// The metrics push: which settings win, and the registry's histograms as OTLP counts them.
@Suite struct MetricsExportTests {
    @Test func theStandardVariablesWinAndNoneTurnsThePushOff() throws {
        let file = MetricsExportSettings.FileSettings(endpoint: "http://collector:4318", intervalMilliseconds: 15_000)
        let fromFile = try #require(
            try MetricsExportSettings.resolve(file: file, serviceName: "gw", instanceID: "r1", environment: [:]))
        #expect(fromFile.endpoint == "http://collector:4318/v1/metrics")
        #expect(fromFile.intervalMilliseconds == 15_000)
        #expect(fromFile.resource.first { $0.0 == "service.name" }?.1 == "gw")
        let environment = [
            "OTEL_EXPORTER_OTLP_ENDPOINT": "http://other:4318/", "OTEL_METRIC_EXPORT_INTERVAL": "5000",
            "OTEL_EXPORTER_OTLP_METRICS_HEADERS": "x-token=a%20b", "OTEL_SERVICE_NAME": "svc",
        ]
        let fromEnvironment = try #require(
            try MetricsExportSettings.resolve(file: file, serviceName: "gw", instanceID: "r1", environment: environment))
        #expect(fromEnvironment.endpoint == "http://other:4318/v1/metrics")
        #expect(fromEnvironment.intervalMilliseconds == 5_000)
        #expect(fromEnvironment.headers.map { "\($0.0)=\($0.1)" } == ["x-token=a b"])
        #expect(fromEnvironment.resource.first { $0.0 == "service.name" }?.1 == "svc")
        #expect(
            try MetricsExportSettings.resolve(
                file: file, serviceName: nil, instanceID: "r1", environment: ["OTEL_METRICS_EXPORTER": "none"]) == nil)
        #expect(try MetricsExportSettings.resolve(file: nil, serviceName: nil, instanceID: "r1", environment: [:]) == nil)
        // Prometheus is /metrics (served anyway): no push; a list with otlp in it pushes.
        #expect(
            try MetricsExportSettings.resolve(
                file: file, serviceName: nil, instanceID: "r1", environment: ["OTEL_METRICS_EXPORTER": "prometheus"]) == nil)
        #expect(
            try MetricsExportSettings.resolve(
                file: file, serviceName: nil, instanceID: "r1", environment: ["OTEL_METRICS_EXPORTER": "prometheus, otlp"])
                != nil)
        // A header value with a line break is never sent (the client's error would quote it into the log).
        let broken = try #require(
            try MetricsExportSettings.resolve(
                file: file, serviceName: nil, instanceID: "r1",
                environment: ["OTEL_EXPORTER_OTLP_HEADERS": "authorization=Bearer%20secret%0A,x-ok=1"]))
        #expect(broken.headers.map(\.0) == ["x-ok"])
        #expect(broken.warnings.contains { $0.contains("authorization") && !$0.contains("secret") })
        #expect(throws: TraceExportSettings.Problem.self) {
            try MetricsExportSettings.resolve(
                file: file, serviceName: nil, instanceID: "r1", environment: ["OTEL_METRIC_EXPORT_INTERVAL": "soon"])
        }
    }

    @Test func aSnapshotHoldsEveryFamilyWithItsCumulativeBuckets() {
        let registry = MetricsRegistry()
        registry.series("requests_total", help: "Requests.", kind: .counter, labels: [("outcome", "ok")]).add(3)
        let histogram = registry.series("latency", help: "Latency.", kind: .histogram, buckets: [1, 2])
        for value in [0.5, 1.5, 9] { histogram.record(value) }
        let families = registry.snapshot()
        #expect(families.map(\.name) == ["requests_total", "latency"])
        guard case .count(3) = families[0].series.first?.value else {
            Issue.record("requests_total: \(String(describing: families[0].series.first?.value))")
            return
        }
        guard case .histogram(let values) = families[1].series.first?.value else {
            Issue.record("latency is not a histogram")
            return
        }
        #expect(values.cumulativeCounts == [1, 2])
        #expect(values.count == 3)
        // Encoded, the request names the family and is not empty; the e2e receiver decodes it with
        // the official classes (bucket counts per bucket, the last past every bound).
        let bytes = OTLPMetricsEncoder(resource: [("service.name", "s")], startNanos: 1).encode(families, atNanos: 2)
        #expect(bytes.count > 40)
        #expect(String(decoding: bytes, as: UTF8.self).contains("requests_total"))
    }

    @Test func idsComeFromTheKernelAndDoNotRepeat() {
        // Several refills of the pool (512 ids each): none zero, none twice.
        let ids = (0..<2_000).map { _ in SpanIdentity.newSpanID() }
        #expect(Set(ids).count == ids.count)
        #expect(!ids.contains(0))
        // Not a counter: consecutive ids are far apart.
        #expect(zip(ids, ids.dropFirst()).filter { $0 &+ 1 == $1 }.isEmpty)
    }
}
