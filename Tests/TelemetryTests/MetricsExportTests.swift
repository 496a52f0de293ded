import Logging
import OTel
import Observability
import Synchronization
import Testing

@testable import Telemetry

/// The metrics push: which settings win, and what swift-otel is configured with.
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

    /// swift-otel reads OTEL_EXPORTER_OTLP_PROTOCOL itself and stops the process for gRPC, which
    /// is not built: such settings are not pushed, and say why; http/json is swift-otel's to send.
    @Test func theGRPCProtocolIsNotPushed() throws {
        let file = MetricsExportSettings.FileSettings(endpoint: "http://collector:4318", intervalMilliseconds: nil)
        for (proto, pushable, warned) in [("grpc", false, true), (" GRPC ", false, true), ("http/json", true, false)] {
            let settings = try #require(
                try MetricsExportSettings.resolve(
                    file: file, serviceName: nil, instanceID: "r1", environment: ["OTEL_EXPORTER_OTLP_PROTOCOL": proto]))
            #expect(settings.pushable == pushable, "\(proto)")
            #expect(settings.warnings.isEmpty != warned, "\(proto)")
            if !pushable {
                #expect(MetricsPush.make(settings: settings, catalog: MetricFamilyCatalog(), logger: Logger(label: "t")) == nil)
            }
        }
    }

    /// Our settings as swift-otel's configuration: the endpoint as resolved, the resource with
    /// its service name apart, and each catalogued histogram's bounds for both of swift-otel's
    /// histogram kinds (a timer's in durations).
    @Test func thePushIsConfiguredWithTheCataloguesBuckets() throws {
        let settings = try #require(
            try MetricsExportSettings.resolve(
                file: .init(endpoint: "http://collector:4318", intervalMilliseconds: 15_000), serviceName: "gw",
                instanceID: "r1", environment: [:]))
        let catalog = MetricFamilyCatalog([
            "gen_ai.client.operation.duration": .init(help: "Duration.", unit: "s", buckets: [0.01, 2.5]),
            "switchyard_requests_total": .init(help: "Requests."),
        ])
        let configuration = MetricsPush.configuration(settings, catalog: catalog, logger: Logger(label: "test"))
        #expect(configuration.serviceName == "gw")
        #expect(configuration.resourceAttributes["service.instance.id"] == "r1")
        #expect(configuration.resourceAttributes["service.name"] == nil)
        #expect(configuration.metrics.enabled && !configuration.traces.enabled)
        #expect(configuration.metrics.otlpExporter.endpoint == "http://collector:4318/v1/metrics")
        #expect(configuration.metrics.exportInterval == .seconds(15))
        #expect(configuration.metrics.valueHistogramBuckets["gen_ai.client.operation.duration"] == [0.01, 2.5])
        #expect(
            configuration.metrics.durationHistogramBuckets["gen_ai.client.operation.duration"] == [
                .milliseconds(10), .milliseconds(2500),
            ])
        #expect(configuration.metrics.valueHistogramBuckets["switchyard_requests_total"] == nil)
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

/// What swift-otel logs about itself reaches our log only as warnings, without the values it
/// read (credentials in OTEL_EXPORTER_OTLP_HEADERS), and once a minute per message.
@Suite struct OTelDiagnosticLogTests {
    final class Captured: @unchecked Sendable {
        let lines = Mutex<[(Logger.Level, String, Logger.Metadata)]>([])
    }

    struct Capturing: LogHandler {
        let captured: Captured
        var metadata: Logger.Metadata = [:]
        var logLevel: Logger.Level = .trace
        subscript(metadataKey key: String) -> Logger.Metadata.Value? {
            get { metadata[key] }
            set { metadata[key] = newValue }
        }
        func log(event: LogEvent) {
            captured.lines.withLock { $0.append((event.level, event.message.description, event.metadata ?? [:])) }
        }
    }

    @Test func onlyWarningsWithoutTheValuesOnceAMinute() {
        let captured = Captured()
        let destination = Logger(label: "gateway", factory: { _ in Capturing(captured: captured) })
        var otel = Logger(label: "swift-otel", factory: { _ in OTelDiagnosticLogHandler(destination: destination) })
        otel.logLevel = .info  // what swift-otel does to its logger
        otel.info(
            "Applied environment override", metadata: ["environment_value": "authorization=Bearer secret"])
        otel.warning(
            "Failed to parse override",
            metadata: ["environment_value": "authorization=Bearer secret", "error": "bad", "new_value": "x"])
        otel.warning("Failed to parse override", metadata: ["environment_value": "again"])
        let lines = captured.lines.withLock { $0 }
        #expect(lines.count == 1)
        #expect(lines.first?.0 == .warning)
        #expect(lines.first?.2.keys.sorted() == ["error"])
        #expect(!"\(lines)".contains("secret"))
    }
}
