import Logging
import OTel
import ServiceLifecycle
import SwitchyardConfig
import Tracing

/// Where the gateway's traces go: swift-otel's tracer with its OTLP/HTTP exporter (batched,
/// bounded queue, in the background), set up from `observability.tracing` and, as every
/// OpenTelemetry SDK does, the standard `OTEL_*` environment variables, which win.
enum TraceExport {
    /// The tracer and the service that exports its spans; nil when tracing is off: no
    /// `observability.tracing`, no OTLP endpoint in the environment, or `OTEL_SDK_DISABLED=true`.
    static func backend(
        _ tracing: SwitchyardConfiguration.Tracing?, environment: [String: String], logger: Logger
    ) throws -> (tracer: any Tracer, service: any Service)? {
        guard environment["OTEL_SDK_DISABLED"]?.lowercased() != "true" else { return nil }
        let fromEnvironment =
            environment["OTEL_EXPORTER_OTLP_ENDPOINT"] != nil || environment["OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"] != nil
        guard tracing != nil || fromEnvironment else { return nil }
        var configuration = OTel.Configuration.default
        configuration.serviceName = tracing?.serviceName ?? "switchyard"
        configuration.logs.enabled = false
        configuration.metrics.enabled = false
        configuration.traces.enabled = true
        configuration.traces.exporter = .otlp
        configuration.traces.otlpExporter.protocol = .httpProtobuf
        configuration.propagators = [.traceContext]
        // Its own diagnostics go to our log; a collector that is down delays the last flush at
        // shutdown by at most the export timeout.
        configuration.diagnosticLogger = .custom(logger)
        configuration.traces.otlpExporter.timeout = .seconds(5)
        configuration.traces.batchSpanProcessor.exportTimeout = .seconds(5)
        if let endpoint = tracing?.endpoint {
            let base = endpoint.hasSuffix("/") ? String(endpoint.dropLast()) : endpoint
            configuration.traces.otlpExporter.endpoint = base.hasSuffix("/v1/traces") ? base : base + "/v1/traces"
        }
        // The gateway samples before any span exists (`TraceSampler`, at `sample_ratio`): what
        // reaches the tracer is kept, unless OTEL_TRACES_SAMPLER says otherwise.
        configuration.traces.sampler = .parentBasedAlwaysOn
        let backend = try OTel.makeTracingBackend(configuration: configuration)
        return (backend.factory, backend.service)
    }
}
