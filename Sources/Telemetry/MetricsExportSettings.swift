/// Where the metrics are pushed over OTLP/HTTP, and how often: the file's
/// `observability.otlp_metrics`, under the standard OpenTelemetry variables, which win.
public struct MetricsExportSettings: Sendable {
    /// The full OTLP/HTTP metrics URL (`…/v1/metrics`).
    public var endpoint: String
    public var headers: [(String, String)] = []
    public var timeoutMilliseconds = 10_000
    /// `OTEL_METRIC_EXPORT_INTERVAL`: 60 s by default, as the specification says.
    public var intervalMilliseconds = 60_000
    public var resource: [(String, String)]
    public var warnings: [String] = []
    /// False when the variables ask for what cannot be pushed (the gRPC protocol): no push, and a
    /// warning says why.
    public var pushable = true

    /// The file's `observability.otlp_metrics`: the collector's base URL (`/v1/metrics` is
    /// added unless present; nil: http://localhost:4318) and the interval.
    public struct FileSettings: Sendable {
        public var endpoint: String?
        public var intervalMilliseconds: Int?

        public init(endpoint: String?, intervalMilliseconds: Int?) {
            self.endpoint = endpoint
            self.intervalMilliseconds = intervalMilliseconds
        }
    }

    /// nil when nothing asks for a push: no `otlp_metrics` in the file, and no
    /// `OTEL_EXPORTER_OTLP_METRICS_ENDPOINT` or `OTEL_EXPORTER_OTLP_ENDPOINT`; or
    /// `OTEL_METRICS_EXPORTER` without `otlp` in it, `OTEL_SDK_DISABLED=true`. `/metrics` is
    /// served either way.
    public static func resolve(
        file: FileSettings?, serviceName: String?, instanceID: String, environment: [String: String]
    ) throws(TraceExportSettings.Problem) -> MetricsExportSettings? {
        func value(_ names: String...) -> String? {
            names.lazy.compactMap { environment[$0]?.trimmingWhitespace.nonEmpty }.first
        }
        func number(_ name: String) throws(TraceExportSettings.Problem) -> Int? {
            guard let text = value(name) else { return nil }
            guard let number = Int(text), number >= 0 else { throw .invalid(variable: name, value: text) }
            return number
        }
        // `otlp` (the specification's default) pushes; `prometheus` is /metrics, which is served
        // anyway; `none`, `console` or anything else: no push.
        let exporters = (value("OTEL_METRICS_EXPORTER")?.lowercased() ?? "otlp").split(separator: ",")
        guard value("OTEL_SDK_DISABLED")?.lowercased() != "true", exporters.contains(where: { $0.filter { $0 != " " } == "otlp" })
        else { return nil }
        let endpoint: String
        if let metrics = value("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT") {
            endpoint = metrics
        } else if let base = value("OTEL_EXPORTER_OTLP_ENDPOINT") {
            endpoint = Self.metricsURL(base, always: true)
        } else if let file {
            endpoint = Self.metricsURL(file.endpoint ?? "http://localhost:4318", always: false)
        } else {
            return nil
        }
        var settings = MetricsExportSettings(
            endpoint: endpoint,
            resource: TraceExportSettings.resource(environment, serviceName: serviceName, instanceID: instanceID))
        if let proto = value("OTEL_EXPORTER_OTLP_METRICS_PROTOCOL", "OTEL_EXPORTER_OTLP_PROTOCOL")?.lowercased() {
            // swift-otel reads the variable too, and stops the process for gRPC, which is not built.
            if proto.contains("grpc") {
                settings.warnings.append(
                    "OTEL_EXPORTER_OTLP_PROTOCOL '\(proto)' is not built in (only http/protobuf and http/json); metrics are not pushed"
                )
                settings.pushable = false
            } else if proto != "http/protobuf" && proto != "http/json" {
                settings.warnings.append(
                    "OTEL_EXPORTER_OTLP_PROTOCOL '\(proto)' is not supported; metrics are pushed as http/protobuf")
            }
        }
        // What swift-otel could do and the gateway does not offer: say so rather than ignore it.
        if let temporality = value("OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE")?.lowercased(),
            temporality != "cumulative"
        {
            settings.warnings.append(
                "OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE '\(temporality)' is not supported; metrics are pushed cumulative"
            )
        }
        if let aggregation = value("OTEL_EXPORTER_OTLP_METRICS_DEFAULT_HISTOGRAM_AGGREGATION")?.lowercased(),
            aggregation != "explicit_bucket_histogram"
        {
            settings.warnings.append(
                "OTEL_EXPORTER_OTLP_METRICS_DEFAULT_HISTOGRAM_AGGREGATION '\(aggregation)' is not supported; histograms are pushed with explicit buckets"
            )
        }
        settings.headers = TraceExportSettings.usableHeaders(
            TraceExportSettings.pairs(value("OTEL_EXPORTER_OTLP_METRICS_HEADERS", "OTEL_EXPORTER_OTLP_HEADERS") ?? ""),
            warnings: &settings.warnings)
        let signalTimeout = try number("OTEL_EXPORTER_OTLP_METRICS_TIMEOUT")
        let timeout = try number("OTEL_EXPORTER_OTLP_TIMEOUT")
        if let timeout = signalTimeout ?? timeout { settings.timeoutMilliseconds = max(1, timeout) }
        if let timeout = try number("OTEL_METRIC_EXPORT_TIMEOUT") { settings.timeoutMilliseconds = max(1, timeout) }
        let interval = try number("OTEL_METRIC_EXPORT_INTERVAL")
        if let interval = interval ?? file?.intervalMilliseconds { settings.intervalMilliseconds = max(100, interval) }
        return settings
    }

    static func metricsURL(_ base: String, always: Bool) -> String {
        let trimmed = base.hasSuffix("/") ? String(base.dropLast()) : base
        return !always && trimmed.hasSuffix("/v1/metrics") ? trimmed : trimmed + "/v1/metrics"
    }
}
